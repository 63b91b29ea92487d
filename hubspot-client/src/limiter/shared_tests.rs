//! The shared budget's tests, on a paused clock: several limiters (standing for processes)
//! sharing one store keep every rolling window within the promise together, where limiters
//! of their own each spend the whole limit; a slow store still lets the budget be used; a
//! failing store falls back to the local share; a hold seen by one limiter holds the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::*;
use crate::budget::{BudgetError, BudgetStore, MemoryBudgetStore};

/// The most instants in any closed window `[t, t + w]` (the in-process tests' count, on
/// nanoseconds from the first).
fn max_in_window(sent: &mut [Instant], window: Duration) -> usize {
    sent.sort();
    let Some(&first) = sent.first() else {
        return 0;
    };
    let nanos: Vec<u64> = sent
        .iter()
        .map(|t| (*t - first).as_nanos() as u64)
        .collect();
    super::tests::max_in_window(&nanos, window)
}

/// `processes` limiters, `callers` tasks each, every task acquiring as fast as it can until
/// `run` has passed: the instants every slot was handed out.
async fn hammer(limiters: Vec<Arc<Limiter>>, callers: usize, run: Duration) -> Vec<Instant> {
    let end = Instant::now() + run;
    let mut tasks = Vec::new();
    for limiter in limiters {
        for _ in 0..callers {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                loop {
                    limiter.acquire().await;
                    let now = Instant::now();
                    if now >= end {
                        return sent;
                    }
                    sent.push(now);
                    // The request itself.
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

fn shared(limit: &RateLimit, store: Arc<dyn BudgetStore>, block: u32) -> Arc<Limiter> {
    let budget = SharedBudget::new(store).block(block);
    Arc::new(Limiter::with_budget(Some(limit), Some(budget)).unwrap())
}

#[tokio::test(start_paused = true)]
async fn four_processes_sharing_a_store_keep_every_window_within_the_promise() {
    let limit = RateLimit::new(50, Duration::from_secs(1));
    let store = Arc::new(MemoryBudgetStore::new());
    let limiters: Vec<_> = (0..4).map(|_| shared(&limit, store.clone(), 8)).collect();
    let mut sent = hammer(limiters.clone(), 8, Duration::from_secs(5)).await;
    let worst = max_in_window(&mut sent, limit.window);
    assert!(
        worst as u32 <= limit.worst_window(),
        "{worst} in one window, promise {}",
        limit.worst_window()
    );
    // The budget is used: at least 90% of the limit over the run.
    let per_window = sent.len() as f64 / 5.0;
    assert!(
        per_window >= 0.9 * f64::from(limit.max_requests),
        "{per_window} per window"
    );
    // Blocks: the store saw far fewer writes than there were requests.
    let reservations: u64 = limiters.iter().map(|l| l.stats().reservations).sum();
    assert!(
        reservations * 3 < sent.len() as u64,
        "{reservations} reservations for {} requests",
        sent.len()
    );
    let stats: Vec<_> = limiters.iter().map(|l| l.stats()).collect();
    assert!(store.calls() >= reservations, "{stats:?}");
    println!(
        "{} requests, {reservations} reservations, {} store calls: {stats:?}",
        sent.len(),
        store.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn limiters_of_their_own_each_spend_the_whole_limit() {
    // The control: the same four "processes" with a limiter each.
    let limit = RateLimit::new(50, Duration::from_secs(1));
    let limiters: Vec<_> = (0..4)
        .map(|_| Arc::new(Limiter::new(Some(&limit)).unwrap()))
        .collect();
    let mut sent = hammer(limiters, 8, Duration::from_secs(3)).await;
    let worst = max_in_window(&mut sent, limit.window);
    assert!(worst as u32 > 3 * limit.max_requests, "{worst}");
}

#[tokio::test(start_paused = true)]
async fn a_store_with_remote_latency_still_fills_the_budget() {
    // 8 ms a call, as DynamoDB in the same region: reservations ask for slots from when the
    // answer is expected, so few are wasted and the budget is still used.
    let limit = RateLimit::new(50, Duration::from_secs(1));
    let store = Arc::new(MemoryBudgetStore::with_latency(Duration::from_millis(8)));
    let limiters: Vec<_> = (0..4).map(|_| shared(&limit, store.clone(), 8)).collect();
    let mut sent = hammer(limiters.clone(), 8, Duration::from_secs(5)).await;
    let worst = max_in_window(&mut sent, limit.window);
    assert!(worst as u32 <= limit.worst_window(), "{worst}");
    let per_window = sent.len() as f64 / 5.0;
    assert!(
        per_window >= 0.9 * f64::from(limit.max_requests),
        "{per_window} per window"
    );
}

/// A store that can be switched to failing.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryBudgetStore,
    down: AtomicBool,
    hang: AtomicBool,
}

#[async_trait]
impl BudgetStore for Flaky {
    async fn reserve(
        &self,
        now_us: u64,
        advance_us: u64,
        max_ahead_us: u64,
    ) -> std::result::Result<Reservation, BudgetError> {
        if self.hang.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(BudgetError::new("ProvisionedThroughputExceededException"));
        }
        self.inner.reserve(now_us, advance_us, max_ahead_us).await
    }

    async fn hold_until(&self, until_us: u64) -> std::result::Result<(), BudgetError> {
        self.inner.hold_until(until_us).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_silent_store_falls_back_to_the_local_share() {
    let limit = RateLimit::new(50, Duration::from_secs(1));
    for hang in [false, true] {
        let store = Arc::new(Flaky::default());
        store.down.store(!hang, Ordering::SeqCst);
        store.hang.store(hang, Ordering::SeqCst);
        let budget = SharedBudget::new(store.clone())
            .fallback_share(4)
            .store_timeout(Duration::from_millis(200))
            .retry_store_after(Duration::from_secs(60));
        let limiter = Arc::new(Limiter::with_budget(Some(&limit), Some(budget)).unwrap());
        let mut sent = hammer(vec![limiter.clone()], 8, Duration::from_secs(4)).await;
        let worst = max_in_window(&mut sent, limit.window);
        // 1/4 of 50: 12 per window.
        assert!(worst <= 12, "hang={hang}: {worst} in a window");
        assert!(sent.len() >= 3 * 10, "hang={hang}: {} sent", sent.len());
        let stats = limiter.stats();
        assert_eq!(stats.fallbacks, 1, "hang={hang}: {stats:?}");
        assert_eq!(stats.store_errors, 1, "hang={hang}: {stats:?}");
        assert_eq!(stats.fallback_acquired, stats.acquired, "hang={hang}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_store_is_asked_again_after_the_fallback_period() {
    let limit = RateLimit::new(50, Duration::from_secs(1));
    let store = Arc::new(Flaky::default());
    store.down.store(true, Ordering::SeqCst);
    let budget = SharedBudget::new(store.clone()).retry_store_after(Duration::from_secs(2));
    let limiter = Limiter::with_budget(Some(&limit), Some(budget)).unwrap();
    limiter.acquire().await;
    assert_eq!(limiter.stats().fallbacks, 1);
    store.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    limiter.acquire().await;
    let stats = limiter.stats();
    assert_eq!(stats.reservations, 1, "{stats:?}");
    assert_eq!(stats.fallbacks, 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hold_seen_by_one_process_holds_the_others() {
    let limit = RateLimit::new(50, Duration::from_secs(1));
    let store = Arc::new(MemoryBudgetStore::new());
    let a = shared(&limit, store.clone(), 1);
    let b = shared(&limit, store.clone(), 1);
    a.acquire().await;
    b.acquire().await;
    a.hold_for(Duration::from_secs(2));
    // The hold is shared in the background.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let start = Instant::now();
    b.acquire().await;
    let waited = Instant::now() - start;
    assert!(waited >= Duration::from_millis(1990), "{waited:?}");
    assert!(waited <= Duration::from_millis(2100), "{waited:?}");
    assert_eq!(a.stats().holds, 1);
}

#[test]
fn a_shared_budget_needs_a_rate_limit() {
    let budget = SharedBudget::new(Arc::new(MemoryBudgetStore::new()));
    let err = Limiter::with_budget(None, Some(budget)).unwrap_err();
    assert!(err.to_string().contains("shared budget"), "{err}");
}

#[test]
fn the_fallback_share_is_a_valid_limit() {
    for (max, share) in [(100, 4), (50, 4), (10, 4), (3, 8), (2, 1)] {
        let limit = fallback_limit(&RateLimit::new(max, Duration::from_secs(1)), share);
        assert!(limit.validate().is_ok(), "{limit:?}");
        assert!(limit.worst_window() <= (max / share).max(2), "{limit:?}");
    }
}

//! The outbox's claims: a crashed claim recovered after its lease, no double processing by
//! concurrent processors (two, four, or behind a stale index), a sweep's pages (at most two
//! held, oldest first) and their yields, and a DynamoDB outage in the middle of a sweep.
//! What becomes of each claimed item is in `outcomes.rs`.

use std::time::Duration;

use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use thiscovery_crm::notification::{Notification, ProcessingStatus};
use thiscovery_crm::store::{
    Claim, Completion, NotificationStore, PendingKey, PutOutcome, StoreError,
};
use thiscovery_crm::{Crm, CrmConfig, timestamp};

use crate::common::{Backend, ENV, email_event, record, stack, stack_on, stores};
use crate::on_both_backends;

async fn crashed_claim_is_recovered_after_its_lease(backend: Backend) {
    let s = stack(backend).await;
    let id = record(&s.crm, &email_event(1)).await;
    // A processor claims the item, then dies before sending or marking it.
    let now = s.clock.now_ms();
    let claimed = s
        .stores
        .notifications
        .claim(
            &id,
            &Claim {
                owner: "crashed-processor".into(),
                now_ms: now,
                lease_until_ms: now + 60_000,
                modified: timestamp::format(s.clock.now_time()),
            },
        )
        .await
        .unwrap();
    assert!(claimed.is_some());
    // While the lease holds, nobody else takes it.
    let summary = s.crm.process_pending().await.unwrap();
    assert!(summary.items.is_empty());
    assert!(s.hubspot.sent_emails().is_empty());
    // After the lease, a sweep picks it up and the effect happens once.
    s.clock.advance(Duration::from_secs(61));
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 1, "{summary:?}");
    assert_eq!(s.hubspot.sent_emails().len(), 1);
    // The crashed processor cannot overwrite the result when it wakes up.
    let late = s
        .stores
        .notifications
        .complete(
            &id,
            "crashed-processor",
            &thiscovery_crm::store::Completion {
                status: ProcessingStatus::Retrying,
                fail_count: 1,
                error_message: Some("late".into()),
                modified: "x".into(),
            },
        )
        .await
        .unwrap();
    assert!(!late);
    let item = s.stores.notifications.get(&id).await.unwrap().unwrap();
    assert_eq!(item.status, ProcessingStatus::Processed);
}
on_both_backends!(crashed_claim_is_recovered_after_its_lease);

async fn two_processors_never_double_process(backend: Backend) {
    let s = stack(backend).await;
    let n = 30;
    for i in 0..n {
        record(&s.crm, &email_event(i)).await;
    }
    let other = s.crm.clone();
    let (a, b) = tokio::join!(s.crm.process_pending(), other.process_pending());
    let (a, b) = (a.unwrap(), b.unwrap());
    let processed = a.count(ProcessingStatus::Processed) + b.count(ProcessingStatus::Processed);
    assert_eq!(processed, n, "a: {a:?}\nb: {b:?}");
    assert_eq!(s.hubspot.sent_emails().len(), n);
    assert_eq!(s.hubspot.requests_to(Endpoint::SingleSend), n);
    assert!(s.nothing_pending().await);
}
on_both_backends!(two_processors_never_double_process);

/// Forwards to a store and tracks how many items are claimed and not yet completed, and by
/// which owners.
#[derive(Debug)]
struct Tracking {
    inner: std::sync::Arc<dyn NotificationStore>,
    state: std::sync::Mutex<(usize, usize, std::collections::BTreeSet<String>)>,
    whole_listings: std::sync::atomic::AtomicUsize,
    /// Every claim and completion so far, successful or not.
    calls: std::sync::atomic::AtomicUsize,
}

impl Tracking {
    fn new(inner: std::sync::Arc<dyn NotificationStore>) -> Self {
        Tracking {
            inner,
            state: Default::default(),
            whole_listings: Default::default(),
            calls: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl NotificationStore for Tracking {
    async fn put_if_absent(&self, n: &Notification) -> Result<PutOutcome, StoreError> {
        self.inner.put_if_absent(n).await
    }
    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.inner.get(id).await
    }
    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        self.whole_listings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.list_pending().await
    }
    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        self.inner.list_pending_keys().await
    }
    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let claimed = self.inner.claim(id, claim).await?;
        if claimed.is_some() {
            let mut state = self.state.lock().unwrap();
            state.0 += 1;
            state.1 = state.1.max(state.0);
            state.2.insert(claim.owner.clone());
        }
        Ok(claimed)
    }
    async fn complete(&self, id: &str, owner: &str, c: &Completion) -> Result<bool, StoreError> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let held = self.inner.complete(id, owner, c).await?;
        self.state.lock().unwrap().0 -= 1;
        Ok(held)
    }
    async fn list_processed_before(&self, t: &str) -> Result<Vec<Notification>, StoreError> {
        self.inner.list_processed_before(t).await
    }
    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_processed(id).await
    }
}

async fn a_sweep_holds_at_most_two_pages_oldest_first(backend: Backend) {
    let mut st = stores(backend).await;
    let tracking = std::sync::Arc::new(Tracking::new(st.notifications.clone()));
    st.notifications = tracking.clone();
    let s = stack_on(st, FakeHubSpot::start().await).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(record(&s.crm, &email_event(i)).await);
        s.clock.advance(Duration::from_secs(1));
    }
    let mut config = CrmConfig::for_env(ENV);
    config.page_size = 4;
    config.batch_limit = 22;
    let crm = s.crm.clone().with_config(config);
    let summary = crm.process_pending().await.unwrap();
    // The 22 oldest, in pages of 4 (the last of 2), each page its own claim owner, and
    // never more than two pages' items claimed and unfinished at once.
    // (Within a page the report follows claim order, which is concurrent.)
    fn pages<'a>(ids: impl Iterator<Item = &'a String>) -> Vec<Vec<&'a String>> {
        let ids: Vec<&String> = ids.collect();
        ids.chunks(4)
            .map(|page| {
                let mut page = page.to_vec();
                page.sort_unstable();
                page
            })
            .collect()
    }
    let done = pages(summary.items.iter().map(|i| &i.id));
    assert_eq!(done, pages(ids[..22].iter()));
    assert_eq!(
        summary.count(ProcessingStatus::Processed),
        22,
        "{summary:?}"
    );
    let (in_flight, most, owners) = tracking.state.lock().unwrap().clone();
    assert_eq!(in_flight, 0);
    assert!((5..=8).contains(&most), "{most} items held at once");
    assert_eq!(owners.len(), 6);
    assert_eq!(s.hubspot.sent_emails().len(), 22);
    // The next sweep takes the rest.
    let rest = crm.process_pending().await.unwrap();
    assert_eq!(rest.count(ProcessingStatus::Processed), 3);
    // Sweeps list keys only, never whole items.
    assert_eq!(
        tracking
            .whole_listings
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(s.nothing_pending().await);
}
on_both_backends!(a_sweep_holds_at_most_two_pages_oldest_first);

/// A page's claims and write-backs against a store that answers at once (the in-memory one)
/// still give the rest of the task its turn: the sweep's other page shares the task, and a
/// page that claimed or wrote back 1,000 items in one poll starved it of its rate-limit
/// slots (B1 measured 15-30 ms stalls per page).
#[tokio::test]
async fn claims_and_write_backs_let_the_rest_of_the_task_run() {
    let mut st = stores(Backend::Memory).await;
    let tracking = std::sync::Arc::new(Tracking::new(st.notifications.clone()));
    st.notifications = tracking.clone();
    let mut s = stack_on(st, FakeHubSpot::start().await).await;
    // More items than claims in flight, so the claims take several rounds.
    let mut config = s.crm.config().clone();
    config.store_concurrency = 16;
    s.crm = s.crm.clone().with_config(config);
    let n = 60;
    for i in 0..n {
        record(&s.crm, &email_event(i)).await;
    }
    // One page; the emails' sends happen between the claims and the write-backs.
    let done = std::sync::atomic::AtomicBool::new(false);
    let sweep = async {
        let summary = s.crm.process_pending().await.unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        summary
    };
    // Polled in the same task as the sweep: it sees the store calls counted so far each
    // time the sweep lets it run.
    let observer = async {
        let mut seen = std::collections::BTreeSet::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            seen.insert(tracking.calls.load(std::sync::atomic::Ordering::Relaxed));
            tokio::task::yield_now().await;
        }
        seen
    };
    let (summary, seen) = tokio::join!(sweep, observer);
    assert_eq!(summary.count(ProcessingStatus::Processed), n);
    let claims_between = seen.iter().filter(|c| (1..n).contains(*c)).count();
    let write_backs_between = seen.iter().filter(|c| (n + 1..2 * n).contains(*c)).count();
    assert!(
        claims_between > 0 && write_backs_between > 0,
        "the observer ran only at these store call counts: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_processors_on_dynamodb_never_double_process() {
    let s = stack(Backend::Dynamo).await;
    let n = 40;
    for i in 0..n {
        record(&s.crm, &email_event(100 + i)).await;
    }
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let crm = s.crm.clone();
            tokio::spawn(async move { crm.process_pending().await.unwrap() })
        })
        .collect();
    let mut processed = 0;
    let mut not_claimed = 0;
    for worker in workers {
        let summary = worker.await.unwrap();
        processed += summary.count(ProcessingStatus::Processed);
        not_claimed += summary.not_claimed;
    }
    assert_eq!(processed, n, "each item processed by exactly one worker");
    assert!(not_claimed > 0, "the workers really competed");
    assert_eq!(s.hubspot.sent_emails().len(), n);
    assert_eq!(s.hubspot.requests_to(Endpoint::SingleSend), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_index_never_causes_a_second_send() {
    use std::sync::Arc;
    use thiscovery_crm::store::memory::MemoryNotificationStore;

    let lag = Duration::from_millis(300);
    let s = stack(Backend::Memory).await;
    let store = Arc::new(MemoryNotificationStore::with_index_lag(lag));
    let crm = Crm::builder()
        .hubspot(crate::common::hubspot_client(&s.hubspot))
        .stores(s.stores.stores.clone().with_notifications(store.clone()))
        .directory(Arc::new(thiscovery_crm::directory::MemoryDirectory::new()))
        .config(thiscovery_crm::CrmConfig::for_env(crate::common::ENV))
        .build()
        .unwrap();
    let id = record(&crm, &email_event(500)).await;
    // Not visible through the index yet.
    assert!(crm.process_pending().await.unwrap().items.is_empty());
    tokio::time::sleep(lag + Duration::from_millis(50)).await;
    // Processed by id; the index keeps showing it as `new` for another `lag`.
    let done = crm
        .process_ids(std::slice::from_ref(&id), None)
        .await
        .unwrap();
    assert_eq!(done.count(ProcessingStatus::Processed), 1);
    let stale = crm.process_pending().await.unwrap();
    assert_eq!(
        stale.not_claimed, 1,
        "the stale index offered the item again: {stale:?}"
    );
    assert!(stale.items.is_empty());
    assert_eq!(s.hubspot.sent_emails().len(), 1);
}

/// The full chain of an error's messages, as a log line would show it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// DynamoDB Local stopped in the middle of a sweep and started again (its tables on disk):
/// while it is down, recording and processing fail with errors naming the operation, the
/// table and the cause; after the restart the next sweeps (once the claims' lease has passed)
/// finish every item, and HubSpot saw each email once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_outage_mid_sweep_loses_nothing() {
    use crm_testkit::dynamodb::{self, DynamoDbLocal, StartOptions};

    if dynamodb::skip_requested() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("thiscovery-crm-{}", dynamodb::new_stack()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut local = DynamoDbLocal::start_with(StartOptions::from_env().data_dir(&dir))
        .await
        .unwrap();
    if local.backend() != dynamodb::Backend::Jar {
        eprintln!(
            "skipped: stopping DynamoDB needs the jar backend, not {:?}",
            local.backend()
        );
        return;
    }
    let s = crate::common::stack_on(
        crate::common::dynamo_stores(&local).await,
        FakeHubSpot::start().await,
    )
    .await;
    let n = 40;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(record(&s.crm, &email_event(i)).await);
    }
    // Slow sends keep the sweep busy long enough to pull DynamoDB out from under it.
    s.hubspot.inject(
        Endpoint::SingleSend,
        Fault::latency(Duration::from_millis(150)).times(1_000),
    );
    let sweep = tokio::spawn({
        let crm = s.crm.clone();
        async move { crm.process_pending().await }
    });
    while s.hubspot.requests_to(Endpoint::SingleSend) < 8 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::block_in_place(|| local.stop()).unwrap();

    // The interrupted sweep ends (it does not hang or panic); what it could not write back
    // stays claimed until the lease passes.
    let interrupted = tokio::time::timeout(Duration::from_secs(120), sweep)
        .await
        .expect("the sweep ends while DynamoDB is down")
        .expect("no panic");
    eprintln!("interrupted sweep: {interrupted:?}");
    // While DynamoDB is down, errors say what failed, where and why.
    let down = s.crm.record(&email_event(n)).await.unwrap_err();
    let message = error_chain(&down);
    assert!(message.contains("put notification into"), "{message}");
    assert!(message.contains("-notifications"), "{message}");
    assert!(
        message.contains("onnection refused") || message.contains("dispatch failure"),
        "{message}"
    );
    let message = error_chain(&s.crm.process_pending().await.unwrap_err());
    assert!(message.contains("-notifications"), "{message}");

    local.restart().await.unwrap();
    // Claims taken before the outage are leased; after the lease, they are taken over.
    s.clock.advance(Duration::from_secs(301));
    for _ in 0..5 {
        let summary = s.crm.process_pending().await.unwrap();
        if summary.items.is_empty() {
            break;
        }
    }
    for id in &ids {
        let item = s.stores.notifications.get(id).await.unwrap().unwrap();
        assert_eq!(item.status, ProcessingStatus::Processed, "{id}: {item:?}");
    }
    assert!(s.nothing_pending().await);
    // Exactly one email per notification, whatever was resent after the outage.
    let sent = s.hubspot.sent_emails();
    assert_eq!(sent.len(), n, "{sent:?}");
    let mut send_ids: Vec<_> = sent.iter().filter_map(|e| e.send_id.clone()).collect();
    send_ids.sort();
    send_ids.dedup();
    assert_eq!(send_ids.len(), n);
    drop(local);
    let _ = std::fs::remove_dir_all(&dir);
}

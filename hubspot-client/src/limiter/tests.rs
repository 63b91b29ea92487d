//! The limiter's tests: the quota maths on a simulated schedule (no rolling window over the
//! limit, with and without late wake-ups; why the naive quota fails), slots handed out in
//! arrival order on a paused clock, holds from HubSpot's headers, and the config checks.
//! Kept apart from `limiter.rs` so the module reads as the limiter alone.

use super::*;

/// Drives a schedule as hard as possible (every request asks at the instant the previous
/// one was sent) and returns the send instants in nanoseconds, up to `horizon`.
fn hammer(limit: &RateLimit, horizon: Duration) -> Vec<u64> {
    let mut schedule = Schedule::new(limit).unwrap();
    let horizon = horizon.as_nanos() as u64;
    let mut sent = Vec::new();
    let mut now = 0;
    loop {
        now = schedule.reserve(now);
        if now > horizon {
            break;
        }
        sent.push(now);
    }
    sent
}

/// The most sends in any closed window `[t, t + w]`.
pub(super) fn max_in_window(sent: &[u64], window: Duration) -> usize {
    let w = window.as_nanos() as u64;
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..sent.len() {
        while sent[hi] - sent[lo] > w {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[test]
fn no_rolling_window_exceeds_the_limit() {
    let cases = [
        RateLimit::default(),
        RateLimit::per_ten_seconds(110),
        RateLimit::per_ten_seconds(190),
        RateLimit::per_ten_seconds(250),
        RateLimit::new(10, Duration::from_millis(100)),
        RateLimit::new(50, Duration::from_millis(500)),
        RateLimit::new(5, Duration::from_millis(300)),
        RateLimit {
            burst: 40,
            reserve: 0,
            ..RateLimit::default()
        },
    ];
    for limit in cases {
        let sent = hammer(&limit, limit.window * 6);
        let worst = max_in_window(&sent, limit.window);
        assert!(
            worst as u32 <= limit.max_requests,
            "{limit:?}: {worst} requests in one window"
        );
        assert_eq!(
            worst as u32,
            limit.worst_window(),
            "{limit:?}: the analysis should be exact"
        );
        // And the limiter is not needlessly slow: over six windows it lets through at
        // least the steady rate.
        assert!(sent.len() as u32 >= limit.steady() * 6, "{limit:?}");
    }
}

#[test]
fn naive_quota_would_let_almost_twice_the_limit_through() {
    // Why the maths matters: burst = N and period = W/N.
    let naive = RateLimit {
        max_requests: 100,
        window: Duration::from_secs(10),
        burst: 100,
        reserve: 0,
    };
    let mut schedule = Schedule {
        period: 100_000_000,
        tolerance: 99 * 100_000_000,
        tat: 0,
        max_late: 0,
    };
    let mut sent = Vec::new();
    let mut now = 0;
    while now <= naive.window.as_nanos() as u64 {
        now = schedule.reserve(now);
        sent.push(now);
    }
    assert!(max_in_window(&sent, naive.window) >= 199);
}

#[test]
fn late_wake_ups_do_not_push_later_slots_back() {
    // Every caller asks 5 ms after its predecessor's slot (a late timer): the slots keep
    // the period, so 98 requests after the burst of 2 still end at 96 periods.
    let limit = RateLimit::default();
    let period = limit.period().as_nanos() as u64;
    let mut schedule = Schedule::new(&limit).unwrap();
    let mut now = 0;
    let mut last = 0;
    for _ in 0..98 {
        last = schedule.reserve(now);
        now = last + 5_000_000;
    }
    assert_eq!(last, 96 * period);
}

/// Sends `count` requests through a schedule, each caller asking as early as it may (at
/// its predecessor's slot) and sending at its slot plus `late(slot)`; returns the most
/// sends any rolling window saw.
fn worst_with_lateness(limit: &RateLimit, count: u32, mut late: impl FnMut(u64) -> u64) -> usize {
    let mut schedule = Schedule::new(limit).unwrap();
    let mut now = 0;
    let mut sent = Vec::new();
    for _ in 0..count {
        let slot = schedule.reserve(now);
        sent.push(slot + late(slot));
        now = slot;
    }
    sent.sort_unstable();
    max_in_window(&sent, limit.window)
}

#[test]
fn lateness_within_the_reserve_never_exceeds_the_limit() {
    for limit in [
        RateLimit::default(),
        RateLimit::new(50, Duration::from_millis(500)),
        RateLimit::per_ten_seconds(190),
    ] {
        let period = limit.period().as_nanos() as u64;
        let count = limit.max_requests * 8;
        let max_late = period * u64::from(limit.reserve);
        // Pseudo-random lateness up to `reserve` periods.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let random = worst_with_lateness(&limit, count, |_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % (max_late + 1)
        });
        assert!(random as u32 <= limit.max_requests, "{limit:?}: {random}");
        // The worst pattern: every send due before `late` goes out at `late`, the rest on
        // time, so one window holds a whole window's slots plus `late`'s worth.
        let late_head = |late: u64| move |slot: u64| late.saturating_sub(slot);
        let worst = worst_with_lateness(&limit, count, late_head(max_late));
        assert_eq!(worst as u32, limit.max_requests, "{limit:?}");
        // The lateness the limiter lets a woken caller keep leaves HubSpot's
        // `X-HubSpot-RateLimit-Remaining` above 0 (0 would hold every send a window).
        let tolerated = Schedule::new(&limit).unwrap().max_late;
        let kept = worst_with_lateness(&limit, count, late_head(tolerated));
        assert!((kept as u32) < limit.max_requests, "{limit:?}: {kept}");
        // One more period of lateness than the reserve covers would break the limit.
        let over = worst_with_lateness(&limit, count, late_head(max_late + period));
        assert!(over as u32 > limit.max_requests, "{limit:?}: {over}");
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_get_consecutive_slots() {
    let limit = RateLimit::new(50, Duration::from_millis(500));
    let limiter = std::sync::Arc::new(Limiter::new(Some(&limit)).unwrap());
    let start = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now() - start
            })
        })
        .collect();
    let mut waits = Vec::new();
    for task in tasks {
        waits.push(task.await.unwrap());
    }
    waits.sort();
    // A burst of 2, then one per period: the 20th at 18 periods.
    let period = limit.period();
    assert_eq!(waits[1], Duration::ZERO);
    for (i, wait) in waits.iter().enumerate().skip(2) {
        let expected = period * (i as u32 - 1);
        assert!(
            wait.abs_diff(expected) < Duration::from_millis(2),
            "caller {i}: {wait:?}, expected {expected:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn callers_that_wake_too_late_take_new_slots() {
    // 10 per second: period 142.9 ms, a burst of 2, a reserve of 1 (71 ms of lateness).
    let limiter = std::sync::Arc::new(
        Limiter::new(Some(&RateLimit::new(10, Duration::from_secs(1)))).unwrap(),
    );
    for _ in 0..2 {
        limiter.acquire().await;
    }
    let start = Instant::now();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now() - start
            })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // Both slots (143 and 286 ms) pass while the runtime is stalled until 400 ms.
    tokio::time::advance(Duration::from_millis(400)).await;
    let mut sent = Vec::new();
    for waiter in waiters {
        sent.push(waiter.await.unwrap());
    }
    sent.sort();
    // Had they kept their slots, both would go at 400 ms, back to back.
    assert!(sent[0] >= Duration::from_millis(400), "{sent:?}");
    assert!(sent[1] - sent[0] >= Duration::from_millis(142), "{sent:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hold_that_arrives_while_waiting_moves_the_waiter() {
    let limiter = std::sync::Arc::new(
        Limiter::new(Some(&RateLimit::new(10, Duration::from_secs(1)))).unwrap(),
    );
    for _ in 0..2 {
        limiter.acquire().await; // the burst
    }
    let start = Instant::now();
    let waiter = {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            limiter.acquire().await;
            Instant::now() - start
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    limiter.hold_for(Duration::from_secs(3));
    let waited = waiter.await.unwrap();
    assert!(waited >= Duration::from_millis(3_010), "{waited:?}");
}

#[test]
fn default_quota_figures() {
    let limit = RateLimit::default();
    assert_eq!(limit.burst, 2);
    assert_eq!(limit.reserve, 2);
    assert_eq!(limit.steady(), 96);
    assert_eq!(limit.worst_window(), 98);
    assert_eq!(limit.period(), Duration::from_nanos(104_166_666));
}

#[test]
fn invalid_limits_are_config_errors() {
    let zero_window = RateLimit::new(100, Duration::ZERO);
    assert!(matches!(zero_window.validate(), Err(Error::Config(_))));
    let no_steady = RateLimit {
        max_requests: 4,
        burst: 3,
        reserve: 1,
        window: Duration::from_secs(1),
    };
    assert!(matches!(no_steady.validate(), Err(Error::Config(_))));
    let zero_burst = RateLimit {
        burst: 0,
        ..RateLimit::default()
    };
    assert!(matches!(zero_burst.validate(), Err(Error::Config(_))));
    assert!(RateLimit::new(2, Duration::from_secs(1)).validate().is_ok());
    assert!(
        RateLimit::new(1, Duration::from_secs(1))
            .validate()
            .is_err()
    );
}

#[tokio::test]
async fn remaining_zero_holds_sends_for_the_interval() {
    let limiter = Limiter::new(None).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-hubspot-ratelimit-remaining", "0".parse().unwrap());
    headers.insert(
        "x-hubspot-ratelimit-interval-milliseconds",
        "150".parse().unwrap(),
    );
    limiter.observe(&headers);
    let start = Instant::now();
    limiter.acquire().await;
    assert!(start.elapsed() >= Duration::from_millis(140));

    headers.insert("x-hubspot-ratelimit-remaining", "5".parse().unwrap());
    limiter.observe(&headers);
    let start = Instant::now();
    limiter.acquire().await;
    assert!(start.elapsed() < Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_hostile_hold_never_panics_and_is_capped() {
    let limiter = Limiter::new(Some(&RateLimit::new(10, Duration::from_secs(1)))).unwrap();
    // A wait no `Instant` can hold, from a 429's Retry-After or the interval header.
    limiter.hold_for(Duration::MAX);
    let mut headers = HeaderMap::new();
    headers.insert("x-hubspot-ratelimit-remaining", "0".parse().unwrap());
    headers.insert(
        "x-hubspot-ratelimit-interval-milliseconds",
        u64::MAX.to_string().parse().unwrap(),
    );
    limiter.observe(&headers);
    let start = Instant::now();
    limiter.acquire().await;
    let waited = Instant::now() - start;
    assert!(waited >= Duration::from_secs(59), "{waited:?}");
    assert!(waited <= MAX_HOLD + Duration::from_secs(1), "{waited:?}");
}

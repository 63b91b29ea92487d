//! The client-side rate limiter: HubSpot's "N requests per rolling W" as a GCRA that hands out
//! slots in arrival order, plus a hold driven by HubSpot's `X-HubSpot-RateLimit-*` response
//! headers and 429s.
//!
//! # Quota maths
//!
//! GCRA with burst `b` and emission period `T` lets through at most `b + d/T` requests in any
//! interval of length `d`. A naive "burst = N, period = W/N" therefore allows almost `2N` in
//! one rolling window (a full burst, then a full window's worth of steady requests). This
//! limiter instead chooses `T = W / (N - b - reserve)`, so any window of length `W` sees at
//! most `b + W/T = N - reserve` requests. The defaults for HubSpot's 100 per 10 s are
//! `b = 2`, `reserve = 2`: at most 98 requests in any rolling 10 s, 9.6 per second sustained.
//!
//! # Slots, not checks
//!
//! Each caller reserves the next conforming instant (its slot) and sleeps until it, so
//! callers are served in arrival order and a timer that fires late costs only that request's
//! lateness, not every later slot's. A send can then follow its predecessor by less than `T`;
//! the `reserve` covers that: lateness of up to `reserve x T` (208 ms for the default) keeps
//! every rolling window within `max_requests`, a bound the tests check exactly. A caller keeps
//! its slot only if it wakes within half of that (at least 2 ms), so HubSpot's
//! `X-HubSpot-RateLimit-Remaining` stays above 0 (at 0 the limiter holds every send for the
//! window); one that wakes later (a stalled runtime) takes a new slot.
//!
//! # Why its own GCRA, not `governor`
//!
//! The project was first specified with the `governor` crate, and the first limiter was a
//! `governor` GCRA with the quota maths above. `governor` decides at the moment of a check: a
//! refused `check` says when the next request could conform but reserves nothing, so a caller
//! sleeps until then and checks again (`until_ready` does the same), and its request counts
//! from the instant it actually wakes. Every timer overshoot (tokio's 1 ms granularity plus
//! scheduling) was therefore lost for good, and all waiters raced for the same instant. The B1
//! pipeline benchmark measured it: 12.0 ms per request against a 10.42 ms period at a scaled 50
//! per 500 ms window (−14%), and 105.3 ms against 104.2 ms at HubSpot's real 104 ms period
//! (−1%). Reserving the slot at the first call and sleeping until it is what this limiter does
//! instead (commit e22140c; the late-caller rule is e62fde4, without which the bench saw 100 of
//! 100 requests in one rolling window, against 98–99 with it). B1's in-memory ratio at the 50
//! per 500 ms window went from 0.808 just before the change (0.835 at best) to 0.906 on the
//! tree that also paged the sweep (ab38c1c), and at HubSpot's pacing the stack now reaches
//! 0.954 of the limiter's own 0.955 ceiling. `BENCHMARKS.md` has the current figures,
//! `benches/HISTORY.md` these runs.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// "At most `max_requests` per rolling `window`", and how the limiter spends it.
///
/// ```
/// use std::time::Duration;
/// use hubspot_client::RateLimit;
///
/// // A Professional-tier private app: 190 requests per 10 s.
/// let limit = RateLimit::new(190, Duration::from_secs(10));
/// assert!(limit.worst_window() <= 190);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// HubSpot's limit: requests allowed in one rolling window.
    pub max_requests: u32,
    /// The window's length (10 s for HubSpot's burst limits).
    pub window: Duration,
    /// Requests that may go out back to back before pacing starts (at least 1).
    pub burst: u32,
    /// Requests of the window left unused as a safety margin (clock skew, other processes).
    pub reserve: u32,
}

impl Default for RateLimit {
    /// HubSpot's smallest documented limit: 100 requests per rolling 10 seconds.
    fn default() -> Self {
        RateLimit::new(100, Duration::from_secs(10))
    }
}

impl RateLimit {
    /// `max_requests` per rolling `window`, with a burst and a reserve of 2% of the limit each
    /// (the reserve at least 1; the burst at least 2 from 10 requests up, so a send that wakes
    /// a little late does not lose its slot for good).
    pub fn new(max_requests: u32, window: Duration) -> Self {
        let share = (max_requests / 50).max(1);
        let burst = if max_requests >= 10 {
            share.max(2)
        } else {
            share
        };
        let reserve = if max_requests > 2 { share } else { 0 };
        RateLimit {
            max_requests,
            window,
            burst,
            reserve,
        }
    }

    /// `n` requests per rolling 10 seconds (HubSpot: 100, 110, 190 or 250 depending on app
    /// type and tier).
    pub fn per_ten_seconds(n: u32) -> Self {
        RateLimit::new(n, Duration::from_secs(10))
    }

    /// Requests paced steadily in one window: `max_requests - burst - reserve`.
    pub fn steady(&self) -> u32 {
        self.max_requests
            .saturating_sub(self.burst)
            .saturating_sub(self.reserve)
    }

    /// The emission period `T = window / steady`.
    pub fn period(&self) -> Duration {
        self.window / self.steady().max(1)
    }

    /// The most requests any rolling window can see: `burst + window / period`.
    pub fn worst_window(&self) -> u32 {
        self.burst + self.steady()
    }

    /// Checks the settings; [`ClientBuilder::build`](crate::ClientBuilder::build) calls this.
    pub fn validate(&self) -> Result<()> {
        if self.window.is_zero() {
            return Err(Error::Config(
                "rate limit window must be longer than zero".into(),
            ));
        }
        if self.burst == 0 {
            return Err(Error::Config("rate limit burst must be at least 1".into()));
        }
        if self.steady() == 0 {
            return Err(Error::Config(format!(
                "rate limit of {} per {:?} leaves no steady rate after burst {} and reserve {}",
                self.max_requests, self.window, self.burst, self.reserve
            )));
        }
        if self.period().is_zero() {
            return Err(Error::Config("rate limit period rounds to zero".into()));
        }
        Ok(())
    }
}

/// GCRA's virtual scheduling, with reservations: every caller is given its own slot, the
/// earliest instant at which a request conforms, and the schedule moves on at once. Times are
/// nanoseconds from the limiter's origin.
///
/// A caller that wakes late for its slot does not push later slots back: the slots keep the
/// GCRA's spacing, so late wake-ups cost no throughput (a check-then-sleep limiter loses
/// every overshoot for good). Sends can then be closer together than the period by at most
/// the lateness; the limit's `reserve` absorbs that (`reserve x period` of lateness, 208 ms
/// for the default limit, before a rolling window could exceed `max_requests`).
#[derive(Debug, Clone)]
struct Schedule {
    /// The emission period `T`.
    period: u64,
    /// How far ahead of the theoretical arrival time a request may go: `(burst - 1) x T`.
    tolerance: u64,
    /// The theoretical arrival time of the next request.
    tat: u64,
    /// How late after its slot a caller may still send: half the reserve (at least 2 ms, a
    /// timer's granularity). A caller that wakes later than this takes a new slot.
    max_late: u64,
}

impl Schedule {
    fn new(limit: &RateLimit) -> Result<Schedule> {
        limit.validate()?;
        let period = u64::try_from(limit.period().as_nanos()).unwrap_or(u64::MAX);
        Ok(Schedule {
            period,
            tolerance: period.saturating_mul(u64::from(limit.burst - 1)),
            tat: 0,
            max_late: (period.saturating_mul(u64::from(limit.reserve)) / 2).max(2_000_000),
        })
    }

    /// Reserves the next slot for a request arriving at `now`, and returns it.
    fn reserve(&mut self, now: u64) -> u64 {
        let slot = now.max(self.tat.saturating_sub(self.tolerance));
        self.tat = self.tat.max(now).saturating_add(self.period);
        slot
    }
}

#[derive(Debug)]
struct State {
    schedule: Option<Schedule>,
    /// Set when HubSpot said `X-HubSpot-RateLimit-Remaining: 0` or answered 429: no sends
    /// before this.
    hold_until: Option<Instant>,
}

/// The limiter a client consults before every attempt, retries included.
#[derive(Debug)]
pub(crate) struct Limiter {
    origin: Instant,
    state: Mutex<State>,
}

impl Limiter {
    pub(crate) fn new(limit: Option<&RateLimit>) -> Result<Self> {
        Ok(Limiter {
            origin: Instant::now(),
            state: Mutex::new(State {
                schedule: limit.map(Schedule::new).transpose()?,
                hold_until: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may be sent: reserves a slot in arrival order, then sleeps
    /// until it. A future dropped while it sleeps leaves its slot unused.
    pub(crate) async fn acquire(&self) {
        loop {
            let (slot, reserved_at, max_late) = {
                let mut state = self.state();
                let now = Instant::now();
                let earliest = state.hold_until.map_or(now, |hold| hold.max(now));
                match &mut state.schedule {
                    None => (earliest, now, None),
                    Some(schedule) => {
                        let at =
                            u64::try_from((earliest - self.origin).as_nanos()).unwrap_or(u64::MAX);
                        let slot = self.origin + Duration::from_nanos(schedule.reserve(at));
                        (slot, now, Some(Duration::from_nanos(schedule.max_late)))
                    }
                }
            };
            let now = Instant::now();
            if slot > now {
                tracing::trace!(wait_us = (slot - now).as_micros() as u64, "rate limit wait");
                tokio::time::sleep_until(slot).await;
                // A caller that woke too late (a stalled runtime) would crowd the callers
                // after it into one window: it takes a new slot instead.
                let late = Instant::now().saturating_duration_since(slot);
                if max_late.is_some_and(|max| late > max) {
                    tracing::debug!(
                        late_ms = late.as_millis() as u64,
                        "woke late for its rate-limit slot"
                    );
                    continue;
                }
            }
            // A hold that arrived while this caller waited (a 429 elsewhere) moves it too.
            match self.state().hold_until {
                Some(hold) if hold > reserved_at && hold > Instant::now() => {
                    tracing::debug!(
                        wait_ms = (hold - Instant::now()).as_millis() as u64,
                        "rate limit hold"
                    );
                    continue;
                }
                _ => return,
            }
        }
    }

    /// Reads HubSpot's rate-limit headers from a response: when the window has no requests
    /// left, holds further sends until the window can have room again.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let Some(remaining) = header_u64(headers, "x-hubspot-ratelimit-remaining") else {
            return;
        };
        if remaining > 0 {
            return;
        }
        let interval = header_u64(headers, "x-hubspot-ratelimit-interval-milliseconds")
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(10));
        self.hold_for(interval);
    }

    /// Holds every send for at least `wait` from now.
    pub(crate) fn hold_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state();
        if state.hold_until.is_none_or(|h| h < until) {
            state.hold_until = Some(until);
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
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
    fn max_in_window(sent: &[u64], window: Duration) -> usize {
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
    fn worst_with_lateness(
        limit: &RateLimit,
        count: u32,
        mut late: impl FnMut(u64) -> u64,
    ) -> usize {
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
}

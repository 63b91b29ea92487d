//! The client-side rate limiter: HubSpot's "N requests per rolling W" as a GCRA (governor),
//! plus a hold driven by HubSpot's `X-HubSpot-RateLimit-*` response headers.
//!
//! # Quota maths
//!
//! GCRA with burst `b` and emission period `T` lets through at most `b + d/T` requests in any
//! interval of length `d`. A naive "burst = N, period = W/N" therefore allows almost `2N` in
//! one rolling window (a full burst, then a full window's worth of steady requests). This
//! limiter instead chooses `T = W / (N - b - reserve)`, so any window of length `W` sees at
//! most `b + W/T = N - reserve` requests. The defaults for HubSpot's 100 per 10 s are
//! `b = 2`, `reserve = 2`: at most 98 requests in any rolling 10 s, 9.6 per second sustained.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use reqwest::header::HeaderMap;

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

    /// The governor quota implementing this limit.
    pub(crate) fn quota(&self) -> Result<Quota> {
        self.validate()?;
        let burst = NonZeroU32::new(self.burst)
            .ok_or_else(|| Error::Config("rate limit burst must be at least 1".into()))?;
        Quota::with_period(self.period())
            .map(|q| q.allow_burst(burst))
            .ok_or_else(|| Error::Config("rate limit period rounds to zero".into()))
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Instant>>;

/// The limiter a client consults before every attempt, retries included.
pub(crate) struct Limiter {
    gcra: Option<Gcra>,
    clock: MonotonicClock,
    /// Set when HubSpot said `X-HubSpot-RateLimit-Remaining: 0`: no sends before this.
    hold_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("enabled", &self.gcra.is_some())
            .finish_non_exhaustive()
    }
}

impl Limiter {
    pub(crate) fn new(limit: Option<&RateLimit>) -> Result<Self> {
        let clock = MonotonicClock;
        let gcra = match limit {
            Some(limit) => Some(RateLimiter::direct_with_clock(
                limit.quota()?,
                clock.clone(),
            )),
            None => None,
        };
        Ok(Limiter {
            gcra,
            clock,
            hold_until: Mutex::new(None),
        })
    }

    /// Waits until a request may be sent.
    pub(crate) async fn acquire(&self) {
        loop {
            let hold = *self.hold_until.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(until) = hold {
                let now = Instant::now();
                if until > now {
                    tracing::debug!(
                        wait_ms = (until - now).as_millis() as u64,
                        "rate limit hold"
                    );
                    tokio::time::sleep(until - now).await;
                    continue;
                }
            }
            let Some(gcra) = &self.gcra else { return };
            match gcra.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::time::sleep(wait).await;
                }
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
        let mut hold = self.hold_until.lock().unwrap_or_else(|e| e.into_inner());
        if hold.is_none_or(|h| h < until) {
            *hold = Some(until);
        }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::{FakeRelativeClock, Reference};

    /// Drives a limiter as hard as possible on a fake clock (a request every time it allows
    /// one, time moving only as far as the limiter asks) and returns the send instants in
    /// nanoseconds.
    fn hammer(limit: &RateLimit, horizon: Duration) -> Vec<u64> {
        let clock = FakeRelativeClock::default();
        let gcra = RateLimiter::direct_with_clock(limit.quota().unwrap(), clock.clone());
        let start = clock.now();
        let mut sent = Vec::new();
        loop {
            let now = clock.now();
            let elapsed = now.duration_since(start);
            if Duration::from(elapsed) > horizon {
                break;
            }
            match gcra.check() {
                Ok(()) => sent.push(Duration::from(elapsed).as_nanos() as u64),
                Err(not_until) => clock.advance(not_until.wait_time_from(now)),
            }
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
        let clock = FakeRelativeClock::default();
        let naive = Quota::with_period(Duration::from_millis(100))
            .unwrap()
            .allow_burst(NonZeroU32::new(100).unwrap());
        let gcra = RateLimiter::direct_with_clock(naive, clock.clone());
        let start = clock.now();
        let mut sent = Vec::new();
        while Duration::from(clock.now().duration_since(start)) <= Duration::from_secs(10) {
            match gcra.check() {
                Ok(()) => {
                    sent.push(Duration::from(clock.now().duration_since(start)).as_nanos() as u64)
                }
                Err(nu) => clock.advance(nu.wait_time_from(clock.now())),
            }
        }
        assert!(max_in_window(&sent, Duration::from_secs(10)) >= 199);
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

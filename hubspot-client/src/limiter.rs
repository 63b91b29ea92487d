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

    /// Holds every send for at least `wait` from now, at most [`MAX_HOLD`].
    pub(crate) fn hold_for(&self, wait: Duration) {
        let now = Instant::now();
        let Some(until) = now.checked_add(wait.min(MAX_HOLD)) else {
            return;
        };
        let mut state = self.state();
        if state.hold_until.is_none_or(|h| h < until) {
            state.hold_until = Some(until);
        }
    }
}

/// The longest hold any answer can put on a client: HubSpot's burst windows are 1 s and
/// 10 s, so a longer one is a bad header, not a limit to honour.
pub(crate) const MAX_HOLD: Duration = Duration::from_secs(60);

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests;

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

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::budget::{LimiterStats, Reservation, SharedBudget};
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
    /// The local share used while the shared store is unavailable (shared mode only).
    fallback: Option<Schedule>,
    /// Until when the local share is used instead of the store.
    fallback_until: Option<Instant>,
}

/// The shared-budget side of a limiter: the store, and the slots this process reserved from
/// it and has not handed out yet.
#[derive(Debug)]
struct Shared {
    budget: SharedBudget,
    /// The most slots one reservation takes.
    block: u32,
    period_us: u64,
    tolerance_us: u64,
    window_us: u64,
    max_late: Duration,
    /// Reserved slots not yet handed out, earliest first.
    slots: Mutex<VecDeque<Instant>>,
    /// One reservation at a time per process.
    refill: tokio::sync::Mutex<()>,
    /// Callers waiting for the refill: the least the next reservation takes.
    waiting: AtomicU32,
    /// The size of the last reservation: doubled while blocks are used up, halved when a
    /// slot went unused.
    last_block: AtomicU32,
    /// Whether a slot went unused since the last reservation.
    wasted_since_refill: AtomicBool,
    /// The store's recent latency (microseconds, smoothed): reservations start this far ahead.
    latency_us: AtomicU64,
}

#[derive(Debug, Default)]
struct Stats {
    acquired: AtomicU64,
    waited: AtomicU64,
    wait_ns: AtomicU64,
    holds: AtomicU64,
    reservations: AtomicU64,
    slots_reserved: AtomicU64,
    slots_wasted: AtomicU64,
    store_errors: AtomicU64,
    fallbacks: AtomicU64,
    fallback_acquired: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// The limiter a client consults before every attempt, retries included.
#[derive(Debug)]
pub(crate) struct Limiter {
    origin: Instant,
    /// Wall-clock microseconds at `origin`: the shared schedule is kept in wall-clock time
    /// (the one clock processes share), read through the monotonic clock so a clock step
    /// inside the process cannot move it.
    origin_wall_us: u64,
    state: Mutex<State>,
    shared: Option<Shared>,
    /// Shared with the background tasks that write holds to the store.
    stats: std::sync::Arc<Stats>,
}

impl Limiter {
    #[cfg(test)]
    pub(crate) fn new(limit: Option<&RateLimit>) -> Result<Self> {
        Limiter::with_budget(limit, None)
    }

    /// A limiter for `limit`, sharing its schedule through `budget` when one is given.
    pub(crate) fn with_budget(
        limit: Option<&RateLimit>,
        budget: Option<SharedBudget>,
    ) -> Result<Self> {
        let schedule = limit.map(Schedule::new).transpose()?;
        let (shared, fallback) = match (budget, limit, &schedule) {
            (None, _, _) => (None, None),
            (Some(budget), Some(limit), Some(schedule)) => {
                let fallback = Schedule::new(&fallback_limit(limit, budget.fallback_share))?;
                let block = budget.block.unwrap_or_else(|| (limit.steady() / 10).max(1));
                let shared = Shared {
                    block,
                    period_us: schedule.period / 1_000,
                    tolerance_us: schedule.tolerance / 1_000,
                    window_us: u64::try_from(limit.window.as_micros()).unwrap_or(u64::MAX),
                    max_late: Duration::from_nanos(schedule.max_late),
                    slots: Mutex::new(VecDeque::new()),
                    refill: tokio::sync::Mutex::new(()),
                    waiting: AtomicU32::new(0),
                    last_block: AtomicU32::new(0),
                    wasted_since_refill: AtomicBool::new(false),
                    latency_us: AtomicU64::new(0),
                    budget,
                };
                (Some(shared), Some(fallback))
            }
            (Some(_), _, _) => {
                return Err(Error::Config(
                    "a shared budget needs a rate limit (no_rate_limit was set)".into(),
                ));
            }
        };
        let origin_wall_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Ok(Limiter {
            origin: Instant::now(),
            origin_wall_us,
            state: Mutex::new(State {
                schedule,
                hold_until: None,
                fallback,
                fallback_until: None,
            }),
            shared,
            stats: std::sync::Arc::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the limiter has done so far.
    pub(crate) fn stats(&self) -> LimiterStats {
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LimiterStats {
            acquired: get(&s.acquired),
            waited: get(&s.waited),
            wait_time: Duration::from_nanos(get(&s.wait_ns)),
            holds: get(&s.holds),
            reservations: get(&s.reservations),
            slots_reserved: get(&s.slots_reserved),
            slots_wasted: get(&s.slots_wasted),
            store_errors: get(&s.store_errors),
            fallbacks: get(&s.fallbacks),
            fallback_acquired: get(&s.fallback_acquired),
        }
    }

    /// Wall-clock microseconds at `at`, by this process's clock.
    fn wall_us(&self, at: Instant) -> u64 {
        let since = u64::try_from(at.saturating_duration_since(self.origin).as_micros())
            .unwrap_or(u64::MAX);
        self.origin_wall_us.saturating_add(since)
    }

    /// The instant of wall-clock time `us`, by this process's clock.
    fn instant_at(&self, us: u64) -> Instant {
        let since = Duration::from_micros(us.saturating_sub(self.origin_wall_us));
        self.origin
            .checked_add(since)
            .unwrap_or_else(|| self.origin + MAX_HOLD)
    }

    /// Waits until a request may be sent. A future dropped while it waits leaves its slot
    /// unused.
    pub(crate) async fn acquire(&self) {
        let asked = Instant::now();
        match &self.shared {
            None => self.acquire_scheduled(false).await,
            Some(shared) => self.acquire_shared(shared).await,
        }
        bump(&self.stats.acquired, 1);
        let waited = asked.elapsed();
        if waited >= Duration::from_millis(1) {
            bump(&self.stats.waited, 1);
            bump(
                &self.stats.wait_ns,
                u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
            );
        }
        metrics::histogram!("hubspot.limiter.wait_seconds").record(waited.as_secs_f64());
    }

    /// The in-process schedule (or, with `fallback`, the local share): reserves a slot in
    /// arrival order, then sleeps until it.
    async fn acquire_scheduled(&self, fallback: bool) {
        loop {
            let (slot, reserved_at, max_late) = {
                let mut state = self.state();
                let now = Instant::now();
                let earliest = state.hold_until.map_or(now, |hold| hold.max(now));
                let schedule = if fallback {
                    state.fallback.as_mut()
                } else {
                    state.schedule.as_mut()
                };
                match schedule {
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
            if self.hold_after(reserved_at).is_some() {
                continue;
            }
            if fallback {
                bump(&self.stats.fallback_acquired, 1);
            }
            return;
        }
    }

    /// The hold still in force that was set after `since`, if any.
    fn hold_after(&self, since: Instant) -> Option<Instant> {
        match self.state().hold_until {
            Some(hold) if hold > since && hold > Instant::now() => {
                tracing::debug!(
                    wait_ms = (hold - Instant::now()).as_millis() as u64,
                    "rate limit hold"
                );
                Some(hold)
            }
            _ => None,
        }
    }

    /// Whether the store is being bypassed for the local share now.
    fn in_fallback(&self, now: Instant) -> bool {
        self.state().fallback_until.is_some_and(|until| until > now)
    }

    /// The shared schedule: a slot this process reserved earlier, or a new block of them.
    async fn acquire_shared(&self, shared: &Shared) {
        loop {
            let now = Instant::now();
            if self.in_fallback(now) {
                return self.acquire_scheduled(true).await;
            }
            let hold = self.state().hold_until.filter(|h| *h > now);
            if let Some(slot) = self.take_slot(shared, now, hold) {
                self.prefetch(shared, slot).await;
                if slot > now {
                    tokio::time::sleep_until(slot).await;
                }
                let late = Instant::now().saturating_duration_since(slot);
                if late > shared.max_late {
                    tracing::debug!(
                        late_ms = late.as_millis() as u64,
                        "woke late for its shared rate-limit slot"
                    );
                    shared.wasted_since_refill.store(true, Ordering::Relaxed);
                    self.wasted(1);
                    continue;
                }
                if self.hold_after(now).is_some() {
                    continue;
                }
                return;
            }
            self.refill(shared).await;
        }
    }

    /// The earliest reserved slot still usable at `now` and not before `hold`; the ones
    /// past their time are dropped as wasted.
    fn take_slot(&self, shared: &Shared, now: Instant, hold: Option<Instant>) -> Option<Instant> {
        let mut slots = shared.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut wasted = 0;
        let mut found = None;
        while let Some(slot) = slots.pop_front() {
            let expired = now.saturating_duration_since(slot) > shared.max_late;
            let held = hold.is_some_and(|h| slot < h);
            if expired || held {
                wasted += 1;
                continue;
            }
            found = Some(slot);
            break;
        }
        drop(slots);
        if wasted > 0 {
            shared.wasted_since_refill.store(true, Ordering::Relaxed);
        }
        self.wasted(wasted);
        found
    }

    fn wasted(&self, n: u64) {
        if n > 0 {
            bump(&self.stats.slots_wasted, n);
            metrics::counter!("hubspot.budget.slots_wasted").increment(n);
        }
    }

    /// Reserves a block of slots from the store (one caller at a time; the others wait for
    /// its slots). On a store failure or timeout, switches to the local share.
    async fn refill(&self, shared: &Shared) {
        shared.waiting.fetch_add(1, Ordering::AcqRel);
        let guard = shared.refill.lock().await;
        // Everyone still waiting for the lock, plus this caller.
        let demand = shared.waiting.fetch_sub(1, Ordering::AcqRel).max(1);
        if self.queued(shared) > 0 || self.in_fallback(Instant::now()) {
            return;
        }
        self.reserve_block(shared, demand, guard, false).await;
    }

    /// How many reserved slots are waiting to be handed out.
    fn queued(&self, shared: &Shared) -> usize {
        shared.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Reserves the next block while the caller that took the last queued slot waits for
    /// it, when that wait is longer than a store call: a busy process then never waits on
    /// the store between blocks. Skipped if a reservation is already under way.
    async fn prefetch(&self, shared: &Shared, slot: Instant) {
        let latency = Duration::from_micros(shared.latency_us.load(Ordering::Relaxed));
        let lead = slot.saturating_duration_since(Instant::now());
        if lead <= latency || self.queued(shared) > 0 {
            return;
        }
        let Ok(guard) = shared.refill.try_lock() else {
            return;
        };
        if self.queued(shared) > 0 || self.in_fallback(Instant::now()) {
            return;
        }
        self.reserve_block(shared, 1, guard, true).await;
    }

    /// One reservation of a block of at least `demand` slots, under the refill lock.
    /// `prefetch`: the caller already holds a slot, so it does not wait out an `Ahead`.
    async fn reserve_block(
        &self,
        shared: &Shared,
        demand: u32,
        guard: tokio::sync::MutexGuard<'_, ()>,
        prefetch: bool,
    ) {
        // Blocks follow demand: double while they are used up, halve when a slot went
        // unused, never less than the callers waiting now.
        let last = shared.last_block.load(Ordering::Relaxed);
        let adapted = if last == 0 {
            1
        } else if shared.wasted_since_refill.swap(false, Ordering::Relaxed) {
            (last / 2).max(1)
        } else {
            last.saturating_mul(2)
        };
        let k = adapted.max(demand).min(shared.block);
        shared.last_block.store(k, Ordering::Relaxed);
        let asked = Instant::now();
        // Ask for slots from when the answer is expected, so the first is not already past.
        let now_us = self
            .wall_us(asked)
            .saturating_add(shared.latency_us.load(Ordering::Relaxed));
        let advance_us = shared.period_us.saturating_mul(u64::from(k));
        let answer = tokio::time::timeout(
            shared.budget.store_timeout,
            shared
                .budget
                .store
                .reserve(now_us, advance_us, shared.window_us),
        )
        .await;
        let took = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
        let smoothed = shared.latency_us.load(Ordering::Relaxed);
        shared.latency_us.store(
            if smoothed == 0 {
                took
            } else {
                (smoothed * 7 + took) / 8
            },
            Ordering::Relaxed,
        );
        match answer {
            Ok(Ok(Reservation::Granted { previous_us })) => {
                let base = previous_us.max(now_us);
                let mut slots = shared.slots.lock().unwrap_or_else(|e| e.into_inner());
                for j in 0..u64::from(k) {
                    let at = base
                        .saturating_add(j.saturating_mul(shared.period_us))
                        .saturating_sub(shared.tolerance_us)
                        .max(now_us);
                    slots.push_back(self.instant_at(at));
                }
                drop(slots);
                bump(&self.stats.reservations, 1);
                bump(&self.stats.slots_reserved, u64::from(k));
                metrics::counter!("hubspot.budget.reservations").increment(1);
                drop(guard);
            }
            Ok(Ok(Reservation::Ahead { .. })) if prefetch => drop(guard),
            Ok(Ok(Reservation::Ahead { tat_us })) => {
                // Promised further ahead than a window: wait until it is within one.
                drop(guard);
                let ready = self.instant_at(tat_us.saturating_sub(shared.window_us));
                let wait = ready
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), MAX_HOLD);
                tokio::time::sleep(wait).await;
            }
            Ok(Err(error)) => {
                drop(guard);
                self.fall_back(shared, &error.to_string());
            }
            Err(_) => {
                drop(guard);
                self.fall_back(
                    shared,
                    &format!(
                        "no answer within {} ms",
                        shared.budget.store_timeout.as_millis()
                    ),
                );
            }
        }
    }

    fn fall_back(&self, shared: &Shared, reason: &str) {
        store_error(&self.stats);
        bump(&self.stats.fallbacks, 1);
        metrics::counter!("hubspot.budget.fallbacks").increment(1);
        let until = Instant::now() + shared.budget.retry_store_after;
        self.state().fallback_until = Some(until);
        tracing::warn!(
            reason,
            share = shared.budget.fallback_share,
            for_s = shared.budget.retry_store_after.as_secs_f64(),
            "shared rate budget unavailable: using this process's local share of the limit"
        );
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

    /// Holds every send for at least `wait` from now, at most [`MAX_HOLD`]; with a shared
    /// budget, every other process's sends too (the shared schedule is pushed past it, in the
    /// background).
    pub(crate) fn hold_for(&self, wait: Duration) {
        let now = Instant::now();
        let Some(until) = now.checked_add(wait.min(MAX_HOLD)) else {
            return;
        };
        {
            let mut state = self.state();
            if state.hold_until.is_some_and(|h| h >= until) {
                return;
            }
            state.hold_until = Some(until);
        }
        bump(&self.stats.holds, 1);
        metrics::counter!("hubspot.limiter.holds").increment(1);
        if let (Some(shared), Ok(runtime)) = (&self.shared, tokio::runtime::Handle::try_current()) {
            // The first slot after the hold is at `tat - tolerance`: push `tat` that much
            // further so no process sends before `until`.
            let until_us = self.wall_us(until).saturating_add(shared.tolerance_us);
            let store = shared.budget.store.clone();
            let timeout = shared.budget.store_timeout;
            let stats = self.stats.clone();
            runtime.spawn(async move {
                match tokio::time::timeout(timeout, store.hold_until(until_us)).await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not share a rate-limit hold"),
                    Err(_) => tracing::warn!("could not share a rate-limit hold: no answer"),
                }
                store_error(&stats);
            });
        }
    }
}

/// Counts a store call that failed or timed out (a reservation, or a hold's write).
fn store_error(stats: &Stats) {
    bump(&stats.store_errors, 1);
    metrics::counter!("hubspot.budget.store_errors").increment(1);
}

/// The local share of `limit` a process uses while the store is unavailable.
fn fallback_limit(limit: &RateLimit, share: u32) -> RateLimit {
    // Two per window is the least a GCRA can promise (one burst slot and one paced).
    let max = (limit.max_requests / share.max(1)).max(2);
    let candidate = RateLimit::new(max, limit.window);
    if candidate.validate().is_ok() {
        candidate
    } else {
        RateLimit {
            max_requests: max,
            window: limit.window,
            burst: 1,
            reserve: 0,
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

#[cfg(test)]
mod shared_tests;

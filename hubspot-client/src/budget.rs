//! One HubSpot rate budget for many processes.
//!
//! HubSpot's burst limit ("100 requests per rolling 10 s" and its tiers) is counted per app
//! and account, not per process: every Lambda invocation, worker and service that calls
//! HubSpot with one app's tokens spends the same budget. A [`RateLimit`](crate::RateLimit)
//! alone keeps one process within it; N processes with one each send up to N times the
//! limit and HubSpot answers 429s.
//!
//! A [`SharedBudget`] moves the limiter's schedule into a [`BudgetStore`] that every process
//! of the app reaches (the DynamoDB one is `thiscovery_crm::store::dynamodb::
//! DynamoBudgetStore`; [`MemoryBudgetStore`] shares one between clients of one process).
//!
//! # How it stays exact
//!
//! The limiter is a GCRA (see [`RateLimit`](crate::RateLimit)): a schedule of slots `T`
//! apart, with the theoretical arrival time `tat` of the next one as its only state. The
//! store holds that `tat`, in microseconds since the Unix epoch. A process reserves `k`
//! consecutive slots at once with one atomic update, `tat = max(tat, now) + k x T`
//! ([`BudgetStore::reserve`]), and hands them to its own callers in order. Every slot of the
//! shared schedule belongs to exactly one process, and the sequence of reservations is the
//! same schedule one process reserving `k` slots at a time would follow, so GCRA's bound
//! holds across processes: at most `max_requests - reserve` requests in any rolling window,
//! whatever the number of processes (plus the lateness the `reserve` absorbs, as for one
//! process, and the processes' clock skew: Lambda hosts keep theirs within a millisecond or
//! so). A slot a process does not use in time is wasted, never lent on.
//!
//! `k` follows demand: the number of callers of the process waiting for a slot, at most
//! [`SharedBudget::block`]. A busy process thus writes to the store once per block of slots,
//! and a quiet one reserves one slot at a time and wastes none. A reservation asks for slots
//! starting the store's recent latency from now, so they are not already in the past when the
//! answer arrives.
//!
//! A HubSpot hold (a 429, or `X-HubSpot-RateLimit-Remaining: 0`) is shared too: the process
//! that saw it pushes the shared `tat` past the hold ([`BudgetStore::hold_until`]).
//!
//! # When the store is slow or down
//!
//! Each store call is bounded by [`SharedBudget::store_timeout`]. A call that fails or takes
//! longer switches the process to a conservative local share of the limit, `1 /`
//! [`SharedBudget::fallback_share`] of `max_requests` per window, for
//! [`SharedBudget::retry_store_after`], then it tries the store again. The switch is logged
//! (a `warn` line naming the cause), counted in [`LimiterStats::fallbacks`] and emitted as the
//! `hubspot.budget.fallbacks` metric. While any process is on its local share the promise is
//! that share plus what the store grants the others, so choose the share for the number of
//! processes that can run at once.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

/// What a [`BudgetStore`] answers to [`BudgetStore::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The schedule was moved on: `tat` was `previous_us` (0 for a store that had none), and
    /// is now `max(previous_us, now_us) + advance_us`. The caller owns the slots between.
    Granted {
        /// The shared `tat` before this reservation, in microseconds since the Unix epoch.
        previous_us: u64,
    },
    /// The schedule already runs more than `max_ahead_us` ahead of `now_us` (the budget is
    /// promised that far ahead): nothing was written. Ask again later.
    Ahead {
        /// The shared `tat`, in microseconds since the Unix epoch.
        tat_us: u64,
    },
}

/// A store call that failed: the limiter falls back to its local share.
#[derive(Debug, thiserror::Error)]
#[error("shared rate budget store: {message}")]
pub struct BudgetError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BudgetError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        BudgetError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with this message, caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BudgetError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Where the shared schedule of one HubSpot app lives: one number, the schedule's `tat` in
/// microseconds since the Unix epoch, updated atomically.
///
/// Implementations must make each call one atomic step (a conditional update, a
/// compare-and-swap): two processes that reserve at once must never be granted the same
/// slots.
#[async_trait]
pub trait BudgetStore: Send + Sync + fmt::Debug {
    /// Atomically: with `tat` the stored value (0 if none), if `tat > now_us + max_ahead_us`
    /// answer [`Reservation::Ahead`] and change nothing; otherwise store
    /// `max(tat, now_us) + advance_us` and answer [`Reservation::Granted`] with the old `tat`.
    async fn reserve(
        &self,
        now_us: u64,
        advance_us: u64,
        max_ahead_us: u64,
    ) -> Result<Reservation, BudgetError>;

    /// Atomically: `tat = max(tat, until_us)`. No slot is granted before `until_us` after this.
    async fn hold_until(&self, until_us: u64) -> Result<(), BudgetError>;
}

/// A [`BudgetStore`] in memory: one budget shared by several clients of one process (two
/// services in one binary using the same app, tests), optionally answering after a fixed
/// latency to model a remote store.
#[derive(Debug, Default)]
pub struct MemoryBudgetStore {
    tat: Mutex<u64>,
    latency: Duration,
    calls: AtomicU64,
}

impl MemoryBudgetStore {
    /// An empty store that answers at once.
    pub fn new() -> Self {
        MemoryBudgetStore::default()
    }

    /// An empty store that answers every call after `latency` (its update is applied when it
    /// answers, as a remote store's would be).
    pub fn with_latency(latency: Duration) -> Self {
        MemoryBudgetStore {
            latency,
            ..MemoryBudgetStore::default()
        }
    }

    /// How many calls it has answered.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The stored `tat` (0 before the first reservation).
    pub fn tat_us(&self) -> u64 {
        *self.tat.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn delay(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl BudgetStore for MemoryBudgetStore {
    async fn reserve(
        &self,
        now_us: u64,
        advance_us: u64,
        max_ahead_us: u64,
    ) -> Result<Reservation, BudgetError> {
        self.delay().await;
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if *tat > now_us.saturating_add(max_ahead_us) {
            return Ok(Reservation::Ahead { tat_us: *tat });
        }
        let previous_us = *tat;
        *tat = previous_us.max(now_us).saturating_add(advance_us);
        Ok(Reservation::Granted { previous_us })
    }

    async fn hold_until(&self, until_us: u64) -> Result<(), BudgetError> {
        self.delay().await;
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        *tat = (*tat).max(until_us);
        Ok(())
    }
}

/// How a client shares its rate budget through a [`BudgetStore`]; given to
/// [`ClientBuilder::shared_budget`](crate::ClientBuilder::shared_budget). Every process of
/// one app must use the same store and the same [`RateLimit`](crate::RateLimit).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hubspot_client::{Client, RateLimit};
/// use hubspot_client::budget::{MemoryBudgetStore, SharedBudget};
///
/// let store = Arc::new(MemoryBudgetStore::new());
/// let budget = SharedBudget::new(store)
///     .block(8)
///     .store_timeout(Duration::from_millis(250))
///     .fallback_share(4);
/// let client = Client::builder()
///     .static_token("pat-...")
///     .rate_limit(RateLimit::per_ten_seconds(100))
///     .shared_budget(budget)
///     .build()
///     .unwrap();
/// # let _ = client;
/// ```
#[derive(Debug, Clone)]
pub struct SharedBudget {
    pub(crate) store: Arc<dyn BudgetStore>,
    pub(crate) block: Option<u32>,
    pub(crate) store_timeout: Duration,
    pub(crate) fallback_share: u32,
    pub(crate) retry_store_after: Duration,
}

impl SharedBudget {
    /// Shares the budget through `store`, with the defaults: blocks of at most a tenth of the
    /// window's steady requests (9 for 100 per 10 s), a 500 ms bound on each store call, a
    /// fallback share of 1/4 of the limit, and the store tried again 10 s after it failed.
    pub fn new(store: Arc<dyn BudgetStore>) -> Self {
        SharedBudget {
            store,
            block: None,
            store_timeout: Duration::from_millis(500),
            fallback_share: 4,
            retry_store_after: Duration::from_secs(10),
        }
    }

    /// The most slots one reservation takes (at least 1). Larger blocks mean fewer store
    /// writes and more slots wasted when a process's demand stops.
    pub fn block(mut self, slots: u32) -> Self {
        self.block = Some(slots.max(1));
        self
    }

    /// How long a store call may take before the process falls back to its local share.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The local share while the store is unavailable: `max_requests / n` per window (`n` at
    /// least 1). Set it to the number of processes that can call HubSpot with this app at
    /// once.
    pub fn fallback_share(mut self, n: u32) -> Self {
        self.fallback_share = n.max(1);
        self
    }

    /// How long a process stays on its local share before it asks the store again.
    pub fn retry_store_after(mut self, wait: Duration) -> Self {
        self.retry_store_after = wait;
        self
    }
}

/// What a client's limiter has done since the client was built
/// ([`Client::limiter_stats`](crate::Client::limiter_stats)). The same figures are emitted
/// as metrics through the [`metrics`] facade (see the crate's README).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterStats {
    /// Slots handed to requests (every attempt takes one).
    pub acquired: u64,
    /// Of those, how many had to wait.
    pub waited: u64,
    /// The total time requests waited for their slots.
    pub wait_time: Duration,
    /// Holds installed after a 429 or `Remaining: 0`.
    pub holds: u64,
    /// Reservations granted by the shared store.
    pub reservations: u64,
    /// Slots those reservations granted.
    pub slots_reserved: u64,
    /// Granted slots that went unused (no caller in time, or a hold came first).
    pub slots_wasted: u64,
    /// Store calls that failed or took longer than the timeout: reservations (each also a
    /// fallback) and the writes that share a hold.
    pub store_errors: u64,
    /// Times the limiter switched to its local share.
    pub fallbacks: u64,
    /// Slots taken from the local share while the store was unavailable.
    pub fallback_acquired: u64,
}

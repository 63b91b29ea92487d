//! A notification store wrapper that counts the calls that read and write, for a bench's
//! "store writes per notification". Included with
//! `#[path = "common/counting_store.rs"] mod counting_store;`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use thiscovery_crm::notification::Notification;
use thiscovery_crm::store::{
    Claim, Completion, NotificationStore, PendingKey, PutOutcome, StoreError,
};

/// Forwards to a notification store, counting the calls that write (only while `on`).
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn NotificationStore>,
    /// Whether calls are counted now.
    pub on: AtomicBool,
    /// `put_if_absent`, `claim`, `complete` and `delete_processed` calls.
    pub writes: AtomicU64,
    /// `get` and listing calls.
    pub reads: AtomicU64,
    /// `complete` calls, counted whether `on` or not (a progress figure).
    pub completes: AtomicU64,
    /// Nanoseconds spent inside `claim` calls, summed over calls (counted while `on`).
    pub claim_ns: AtomicU64,
    /// Nanoseconds spent inside `complete` calls, summed over calls (counted while `on`).
    pub complete_ns: AtomicU64,
    /// Added before every call: a remote store's round trip (zero: none).
    latency: std::time::Duration,
}

impl CountingStore {
    /// Counting off until `on` is set.
    pub fn new(inner: Arc<dyn NotificationStore>) -> Self {
        CountingStore {
            inner,
            on: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            completes: AtomicU64::new(0),
            claim_ns: AtomicU64::new(0),
            complete_ns: AtomicU64::new(0),
            latency: std::time::Duration::ZERO,
        }
    }

    /// Every call answers `latency` later, as a remote store's would (B1's modelled
    /// DynamoDB row).
    pub fn with_latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    fn timed(&self, total: &AtomicU64, started: std::time::Instant) {
        if self.on.load(Ordering::Relaxed) {
            total.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }

    async fn round_trip(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn write(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl NotificationStore for CountingStore {
    async fn put_if_absent(&self, notification: &Notification) -> Result<PutOutcome, StoreError> {
        self.write();
        self.round_trip().await;
        self.inner.put_if_absent(notification).await
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.read();
        self.round_trip().await;
        self.inner.get(id).await
    }

    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        self.read();
        self.round_trip().await;
        self.inner.list_pending().await
    }

    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        self.read();
        self.round_trip().await;
        self.inner.list_pending_keys().await
    }

    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        self.write();
        let started = std::time::Instant::now();
        self.round_trip().await;
        let result = self.inner.claim(id, claim).await;
        self.timed(&self.claim_ns, started);
        result
    }

    async fn complete(
        &self,
        id: &str,
        owner: &str,
        completion: &Completion,
    ) -> Result<bool, StoreError> {
        self.write();
        self.completes.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        self.round_trip().await;
        let result = self.inner.complete(id, owner, completion).await;
        self.timed(&self.complete_ns, started);
        result
    }

    async fn list_processed_before(
        &self,
        threshold: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        self.read();
        self.round_trip().await;
        self.inner.list_processed_before(threshold).await
    }

    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        self.write();
        self.round_trip().await;
        self.inner.delete_processed(id).await
    }
}

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
        self.inner.put_if_absent(notification).await
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.read();
        self.inner.get(id).await
    }

    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        self.read();
        self.inner.list_pending().await
    }

    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        self.read();
        self.inner.list_pending_keys().await
    }

    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        self.write();
        self.inner.claim(id, claim).await
    }

    async fn complete(
        &self,
        id: &str,
        owner: &str,
        completion: &Completion,
    ) -> Result<bool, StoreError> {
        self.write();
        self.completes.fetch_add(1, Ordering::Relaxed);
        self.inner.complete(id, owner, completion).await
    }

    async fn list_processed_before(
        &self,
        threshold: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        self.read();
        self.inner.list_processed_before(threshold).await
    }

    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        self.write();
        self.inner.delete_processed(id).await
    }
}

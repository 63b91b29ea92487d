//! In-memory stores, for tests, the demo and embedding.
//!
//! [`MemoryNotificationStore`] can simulate the eventual consistency of DynamoDB's status
//! index: with a lag set, [`list_pending`](NotificationStore::list_pending) sees each item as
//! it was `lag` ago, while reads and conditional writes see the truth, as in DynamoDB.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;

use super::{
    Claim, Completion, EmailTemplate, LookupStore, NotificationStore, PendingKey, ProcessedCursor,
    ProcessedPage, PutOutcome, Replay, StoreError, TemplateStore, stored_json,
};
use crate::notification::{Notification, ProcessingStatus};

/// Locks `mutex`, also after a thread panicked while holding it (a test that fails must not
/// make the store unusable for the rest of the process).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A notifications table in memory.
#[derive(Debug, Default)]
pub struct MemoryNotificationStore {
    state: Mutex<State>,
    index_lag: Duration,
}

#[derive(Debug, Default)]
struct State {
    items: BTreeMap<String, Notification>,
    /// Every version of every item with when it was written (only kept with an index lag).
    history: HashMap<String, Vec<(Instant, Option<Notification>)>>,
    /// Replays noted on items (`replay_count`, `replay_note`), by id.
    replays: HashMap<String, (u32, String)>,
}

impl MemoryNotificationStore {
    /// An empty store whose index is always up to date.
    pub fn new() -> Self {
        MemoryNotificationStore::default()
    }

    /// An empty store whose status index lags `lag` behind the items.
    pub fn with_index_lag(lag: Duration) -> Self {
        MemoryNotificationStore {
            state: Mutex::default(),
            index_lag: lag,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every item, ordered by id.
    pub fn all(&self) -> Vec<Notification> {
        self.lock().items.values().cloned().collect()
    }

    /// Writes an item as is (to seed tests, e.g. with an item the Python stack wrote).
    pub fn insert(&self, notification: Notification) {
        let mut state = self.lock();
        self.write(&mut state, notification);
    }

    fn write(&self, state: &mut State, notification: Notification) {
        if !self.index_lag.is_zero() {
            state
                .history
                .entry(notification.id.clone())
                .or_default()
                .push((Instant::now(), Some(notification.clone())));
        }
        state.items.insert(notification.id.clone(), notification);
    }

    fn remove(&self, state: &mut State, id: &str) {
        if !self.index_lag.is_zero() {
            state
                .history
                .entry(id.to_owned())
                .or_default()
                .push((Instant::now(), None));
        }
        state.items.remove(id);
        state.replays.remove(id);
    }

    /// What the index shows: each item as it was `index_lag` ago.
    fn indexed(&self, state: &State) -> Vec<Notification> {
        if self.index_lag.is_zero() {
            return state.items.values().cloned().collect();
        }
        let Some(horizon) = Instant::now().checked_sub(self.index_lag) else {
            return Vec::new();
        };
        state
            .history
            .values()
            .filter_map(|versions| {
                versions
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= horizon)
                    .and_then(|(_, n)| n.clone())
            })
            .collect()
    }
}

#[async_trait]
impl NotificationStore for MemoryNotificationStore {
    async fn put_if_absent(&self, notification: &Notification) -> Result<PutOutcome, StoreError> {
        let mut state = self.lock();
        if state.items.contains_key(&notification.id) {
            return Ok(PutOutcome::Duplicate);
        }
        self.write(&mut state, notification.clone());
        Ok(PutOutcome::Created)
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        Ok(self.lock().items.get(id).cloned())
    }

    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        let state = self.lock();
        Ok(self
            .indexed(&state)
            .into_iter()
            .filter(|n| ProcessingStatus::PENDING.contains(&n.status))
            .collect())
    }

    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        let state = self.lock();
        let pending = |n: &&Notification| ProcessingStatus::PENDING.contains(&n.status);
        if self.index_lag.is_zero() {
            return Ok(state
                .items
                .values()
                .filter(pending)
                .map(PendingKey::from)
                .collect());
        }
        Ok(self
            .indexed(&state)
            .iter()
            .filter(pending)
            .map(PendingKey::from)
            .collect())
    }

    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        let mut state = self.lock();
        let Some(item) = state.items.get(id) else {
            return Ok(None);
        };
        if !item.is_claimable(claim.now_ms) {
            return Ok(None);
        }
        let mut item = item.clone();
        item.status = ProcessingStatus::Processing;
        item.lease_owner = Some(claim.owner.clone());
        item.lease_expires_ms = Some(claim.lease_until_ms);
        item.modified = claim.modified.clone();
        item.unfinished_attempts = item.unfinished_attempts.saturating_add(1);
        self.write(&mut state, item.clone());
        Ok(Some(item))
    }

    async fn complete(
        &self,
        id: &str,
        owner: &str,
        completion: &Completion,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(item) = state.items.get(id) else {
            return Ok(false);
        };
        if item.status != ProcessingStatus::Processing || item.lease_owner.as_deref() != Some(owner)
        {
            return Ok(false);
        }
        let mut item = item.clone();
        item.status = completion.status;
        item.fail_count = completion.fail_count;
        item.error_message = completion.error_message.clone();
        item.modified = completion.modified.clone();
        item.lease_owner = None;
        item.lease_expires_ms = None;
        item.unfinished_attempts = 0;
        self.write(&mut state, item);
        Ok(true)
    }

    async fn list_processed_before(
        &self,
        threshold: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        let state = self.lock();
        Ok(self
            .indexed(&state)
            .into_iter()
            .filter(|n| n.status == ProcessingStatus::Processed && n.created.as_str() < threshold)
            .collect())
    }

    async fn processed_page(
        &self,
        threshold: &str,
        after: Option<&ProcessedCursor>,
        limit: usize,
    ) -> Result<ProcessedPage, StoreError> {
        let state = self.lock();
        let mut processed: Vec<&Notification> = state
            .items
            .values()
            .filter(|n| n.status == ProcessingStatus::Processed && n.created.as_str() < threshold)
            .collect();
        processed.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        // Only the page is cloned.
        let start = after.map_or(0, |c| {
            processed.partition_point(|n| {
                (n.created.as_str(), n.id.as_str()) <= (c.created.as_str(), c.id.as_str())
            })
        });
        let end = processed.len().min(start + limit.max(1) + 1);
        Ok(ProcessedPage::from_sorted(
            processed[start..end].iter().map(|n| (*n).clone()),
            None,
            limit,
        ))
    }

    async fn list_status(&self, status: ProcessingStatus) -> Result<Vec<Notification>, StoreError> {
        let state = self.lock();
        Ok(self
            .indexed(&state)
            .into_iter()
            .filter(|n| n.status == status)
            .collect())
    }

    async fn replay(&self, id: &str, replay: &Replay) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(item) = state.items.get(id) else {
            return Ok(false);
        };
        if item.status != ProcessingStatus::Dlq {
            return Ok(false);
        }
        let mut item = item.clone();
        item.status = ProcessingStatus::Retrying;
        item.fail_count = 0;
        item.modified = replay.modified.clone();
        item.lease_owner = None;
        item.lease_expires_ms = None;
        item.unfinished_attempts = 0;
        self.write(&mut state, item);
        let noted = state.replays.entry(id.to_owned()).or_default();
        noted.0 += 1;
        noted.1 = replay.note.clone();
        Ok(true)
    }

    async fn get_stored(
        &self,
        id: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, StoreError> {
        let state = self.lock();
        Ok(state.items.get(id).map(|n| {
            let mut stored = stored_json(n);
            if let Some((count, note)) = state.replays.get(id) {
                stored.insert("replay_count".into(), Value::from(*count));
                stored.insert("replay_note".into(), Value::from(note.clone()));
            }
            stored
        }))
    }

    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.items.get(id) {
            Some(item) if item.status == ProcessingStatus::Processed => {
                self.remove(&mut state, id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// An email templates table in memory.
#[derive(Debug, Default)]
pub struct MemoryTemplateStore {
    templates: Mutex<HashMap<String, EmailTemplate>>,
}

impl MemoryTemplateStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTemplateStore::default()
    }
}

#[async_trait]
impl TemplateStore for MemoryTemplateStore {
    async fn get_template(&self, name: &str) -> Result<Option<EmailTemplate>, StoreError> {
        Ok(lock(&self.templates).get(name).cloned())
    }

    async fn put_template(&self, template: &EmailTemplate) -> Result<(), StoreError> {
        lock(&self.templates).insert(template.id.clone(), template.clone());
        Ok(())
    }
}

/// A lookups table in memory.
#[derive(Debug, Default)]
pub struct MemoryLookupStore {
    items: Mutex<HashMap<String, Value>>,
}

impl MemoryLookupStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryLookupStore::default()
    }
}

#[async_trait]
impl LookupStore for MemoryLookupStore {
    async fn get_lookup(&self, key: &str) -> Result<Option<Value>, StoreError> {
        Ok(lock(&self.items).get(key).cloned())
    }

    async fn put_lookup(&self, key: &str, details: &Value) -> Result<(), StoreError> {
        lock(&self.items).insert(key.to_owned(), details.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::NotificationType;
    use crate::store::StatusKey;

    fn item(id: &str, status: ProcessingStatus) -> Notification {
        let mut n = Notification::new(
            id,
            NotificationType::TransactionalEmail,
            "label",
            serde_json::json!({"template_name": "t"}),
            time::OffsetDateTime::now_utc(),
        );
        n.status = status;
        n.fail_count = 3;
        n.error_message = Some("template \"t\" not found".into());
        n
    }

    #[tokio::test]
    async fn a_dead_letter_is_listed_replayed_once_and_noted() {
        let store = MemoryNotificationStore::new();
        store.insert(item("d", ProcessingStatus::Dlq));
        let processed = item("p", ProcessingStatus::Processed);
        store.insert(processed.clone());
        let dlq = store.list_status(ProcessingStatus::Dlq).await.unwrap();
        assert_eq!(dlq.len(), 1);
        assert_eq!(dlq[0].id, "d");
        let keys = store
            .list_status_keys(ProcessingStatus::Processed)
            .await
            .unwrap();
        assert_eq!(keys, vec![StatusKey::from(&processed)]);

        let replay = Replay::new("2026-01-01 00:00:00+00:00", "replayed by a test");
        assert!(!store.replay("p", &replay).await.unwrap(), "not dlq");
        assert!(!store.replay("nope", &replay).await.unwrap());
        assert!(store.replay("d", &replay).await.unwrap());
        assert!(!store.replay("d", &replay).await.unwrap(), "no longer dlq");
        let n = store.get("d").await.unwrap().unwrap();
        assert_eq!(n.status, ProcessingStatus::Retrying);
        assert_eq!(n.fail_count, 0);
        assert_eq!(n.error_message.as_deref(), Some("template \"t\" not found"));
        let stored = store.get_stored("d").await.unwrap().unwrap();
        assert_eq!(stored["replay_count"], 1);
        assert_eq!(stored["replay_note"], "replayed by a test");
        assert_eq!(stored["processing_status"], "retrying");
        assert_eq!(stored["processing_fail_count"], 0);
        assert!(store.get_stored("nope").await.unwrap().is_none());
    }
}

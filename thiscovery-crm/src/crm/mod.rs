//! [`Crm`]: the stack wired together ([`Crm::builder`]). Its entry points are all here:
//! [`handle`](Crm::handle) records an event and processes it, [`record`](Crm::record) only
//! records it, [`process_pending`](Crm::process_pending) sweeps the outbox, and
//! [`cleanup`](Crm::cleanup) deletes old processed items. What each notification type does
//! lives in [`crate::processor`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::directory::UserDirectory;
use crate::events::{AUTH0_LOG, Envelope, EventError, auth0_log_type};
use crate::notification::{Notification, NotificationType, ProcessingStatus};
use crate::processor::{self, ProcessSummary};
use crate::store::limits;
use crate::store::{
    Claim, Completion, LookupStore, NotificationStore, PendingKey, PutOutcome, StoreError,
    TemplateStore,
};
use crate::timestamp;

mod builder;
mod types;

pub use builder::{BuildError, CrmBuilder, EMAILS_TOKEN_ITEM, MAIN_TOKEN_ITEM, Stores};
pub use types::{
    CleanupSummary, CrmConfig, HandleError, HandleReport, Outcome, RETENTION, Recorded,
};

/// How many processed items cleanup reads at once.
const CLEANUP_PAGE: usize = 1_000;
/// How many deletes cleanup has in flight.
const CLEANUP_CONCURRENCY: usize = 16;

/// How many pages a sweep works on at once (see [`CrmConfig::page_size`]).
const PAGES_IN_FLIGHT: usize = 2;

/// Decides whether a sweep starts another page: not once the store has failed, and not when
/// the time left cannot cover the slowest page so far (with a margin of a quarter).
#[derive(Debug, Default)]
struct Pacer {
    slowest: std::sync::Mutex<Option<Duration>>,
    outage: std::sync::atomic::AtomicBool,
}

impl Pacer {
    fn may_start(&self, remaining: Option<Duration>) -> bool {
        if self.outage.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let Some(remaining) = remaining else {
            return true;
        };
        let slowest = *self.slowest.lock().unwrap_or_else(|e| e.into_inner());
        match slowest {
            Some(page) => remaining > page + page / 4,
            None => remaining > Duration::ZERO,
        }
    }

    fn finished(&self, took: Duration, outage: bool) {
        let mut slowest = self.slowest.lock().unwrap_or_else(|e| e.into_inner());
        *slowest = Some(slowest.map_or(took, |s| s.max(took)));
        if outage {
            self.outage
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The stack: a HubSpot client, the stores, a directory and a clock. Built with
/// [`Crm::builder`].
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Crm {
    /// The main app's client: contacts, timeline events.
    pub(crate) hubspot: hubspot_client::Client,
    /// The emails app's client: transactional single-send (the main client with one app).
    pub(crate) hubspot_emails: hubspot_client::Client,
    pub(crate) notifications: Arc<dyn NotificationStore>,
    pub(crate) templates: Arc<dyn TemplateStore>,
    pub(crate) lookups: Arc<dyn LookupStore>,
    pub(crate) directory: Arc<dyn UserDirectory>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: CrmConfig,
}

impl Crm {
    /// A builder: see [`CrmBuilder`].
    pub fn builder() -> CrmBuilder {
        CrmBuilder::default()
    }

    /// The same stack with other settings.
    pub fn with_config(mut self, config: CrmConfig) -> Self {
        self.config = config;
        self
    }

    /// The same stack with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The settings.
    pub fn config(&self) -> &CrmConfig {
        &self.config
    }

    /// The notifications store.
    pub fn notifications(&self) -> &Arc<dyn NotificationStore> {
        &self.notifications
    }

    /// Records an event and processes what it recorded.
    pub async fn handle(&self, envelope: &Envelope) -> Result<HandleReport, HandleError> {
        self.handle_until(envelope, None).await
    }

    /// Like [`handle`](Self::handle), with claims leased until `deadline` (a Lambda
    /// invocation's deadline) instead of the configured lease.
    pub async fn handle_until(
        &self,
        envelope: &Envelope,
        deadline: Option<OffsetDateTime>,
    ) -> Result<HandleReport, HandleError> {
        let report = |outcome, id, kind, reason| HandleReport {
            detail_type: envelope.detail_type.clone(),
            outcome,
            notification_id: id,
            kind,
            reason,
            hubspot_ref: None,
        };
        match self.record(envelope).await? {
            Recorded::Ignored { reason } => Ok(report(Outcome::Ignored, None, None, Some(reason))),
            Recorded::Duplicate { id, kind } => {
                let status = self.notifications.get(&id).await?.map(|n| n.status);
                Ok(report(
                    Outcome::Duplicate,
                    Some(id),
                    Some(kind),
                    status.map(|s| format!("already recorded (status {s})")),
                ))
            }
            Recorded::Invalid { id, kind, reason } => {
                Ok(report(Outcome::Dlq, Some(id), Some(kind), Some(reason)))
            }
            Recorded::Created { id, kind } => {
                let summary = self
                    .process_ids(std::slice::from_ref(&id), deadline)
                    .await?;
                Ok(match summary.items.into_iter().find(|i| i.id == id) {
                    Some(item) => HandleReport {
                        detail_type: envelope.detail_type.clone(),
                        outcome: if item.lost_claim || item.write_error.is_some() {
                            Outcome::Pending
                        } else {
                            Outcome::of(item.status)
                        },
                        notification_id: Some(id),
                        kind: Some(kind),
                        reason: item.write_error.or(item.message),
                        hubspot_ref: item.hubspot_ref,
                    },
                    None => report(
                        Outcome::Pending,
                        Some(id),
                        Some(kind),
                        Some("held by another processor".into()),
                    ),
                })
            }
        }
    }

    /// Records an event as a notification (idempotently) without processing it. Events
    /// whose payload is invalid but identifiable are recorded and dead-lettered at once;
    /// events with nothing to record are rejected.
    pub async fn record(&self, envelope: &Envelope) -> Result<Recorded, HandleError> {
        let now = self.clock.now();
        let Some((kind, draft)) = self.draft(envelope, now).await? else {
            let log_type = auth0_log_type(&envelope.detail)?;
            tracing::debug!(log_type = %log_type, "Auth0 log type ignored");
            return Ok(Recorded::Ignored {
                reason: format!("Auth0 log type {log_type:?} is not acted on"),
            });
        };
        let processor::Draft {
            id,
            id_field,
            label,
            details,
            validation,
        } = draft;
        let details = rollback_safe(details);
        let notification = Notification::new(id.clone(), kind, label, details, now);
        limits::check_notification(&notification, id_field, "detail")?;
        if self.notifications.put_if_absent(&notification).await? == PutOutcome::Duplicate {
            return Ok(Recorded::Duplicate { id, kind });
        }
        if let Err(error) = validation {
            let reason = limits::bound_message(&format!("invalid event: {error}"));
            self.dead_letter_new(&notification, &reason).await?;
            return Ok(Recorded::Invalid { id, kind, reason });
        }
        Ok(Recorded::Created { id, kind })
    }

    /// Moves a just-recorded notification straight to `dlq`.
    async fn dead_letter_new(&self, n: &Notification, reason: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        let now_ms = timestamp::epoch_millis(now);
        let owner = format!("recorder-{}", uuid::Uuid::new_v4());
        let claim = Claim {
            owner: owner.clone(),
            now_ms,
            lease_until_ms: now_ms + 60_000,
            modified: timestamp::format(now),
        };
        if self.notifications.claim(&n.id, &claim).await?.is_some() {
            self.notifications
                .complete(
                    &n.id,
                    &owner,
                    &Completion {
                        status: ProcessingStatus::Dlq,
                        fail_count: n.fail_count + 1,
                        error_message: Some(reason.to_owned()),
                        modified: timestamp::format(now),
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Processes every pending notification: `new`, `retrying`, and `processing` whose lease
    /// has expired (a crashed processor's), registrations first.
    pub async fn process_pending(&self) -> Result<ProcessSummary, StoreError> {
        self.process_pending_until(None).await
    }

    /// Like [`process_pending`](Self::process_pending), with claims leased until `deadline`.
    pub async fn process_pending_until(
        &self,
        deadline: Option<OffsetDateTime>,
    ) -> Result<ProcessSummary, StoreError> {
        let now_ms = timestamp::epoch_millis(self.clock.now());
        let (unknown, mut candidates): (Vec<PendingKey>, Vec<PendingKey>) = self
            .notifications
            .list_pending_keys()
            .await?
            .into_iter()
            .filter(|k| k.is_claimable(now_ms))
            .partition(|k| k.unknown_type.is_some());
        if !unknown.is_empty() {
            // Another writer's items (the Python stack's `processing-test`): left exactly as
            // they are, not claimed, and not an error of the sweep.
            let ids: Vec<&str> = unknown.iter().take(20).map(|k| k.id.as_str()).collect();
            tracing::info!(
                count = unknown.len(),
                ids = ?ids,
                types = ?unknown.iter().filter_map(|k| k.unknown_type.as_deref()).collect::<std::collections::BTreeSet<_>>(),
                "items of a type this stack does not handle are left as they are"
            );
        }
        // Oldest first, so a run bounded by `batch_limit` takes the longest-waiting work, and
        // a user's registration is in the same page as their later events or an earlier one.
        candidates.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        candidates.truncate(self.config.batch_limit);
        let pages: Vec<Vec<String>> = candidates
            .chunks(self.config.page_size.max(1))
            .map(|page| page.iter().map(|k| k.id.clone()).collect())
            .collect();
        drop(candidates);
        // Two pages at a time. A page starts only while the deadline can still cover it
        // (judged by the slowest page so far) and the store is not failing; pages already
        // started run to the end: stopping one mid-way could leave an email sent and not
        // recorded, to be sent again after the lease.
        let pacer = Pacer::default();
        let pacer = &pacer;
        let results: Vec<Option<ProcessSummary>> = futures_util::stream::iter(pages)
            .map(|ids| async move {
                if !pacer.may_start(self.remaining(deadline)) {
                    return (None, ids.len());
                }
                let started = std::time::Instant::now();
                let summary = processor::process_batch(self, ids, deadline).await;
                pacer.finished(started.elapsed(), summary.outage);
                (Some(summary), 0)
            })
            .buffered(PAGES_IN_FLIGHT)
            .map(|(summary, skipped)| {
                summary.or_else(|| {
                    Some(ProcessSummary {
                        left_for_next: skipped,
                        ..ProcessSummary::default()
                    })
                })
            })
            .collect()
            .await;
        let mut summary = ProcessSummary::default();
        for page in results.into_iter().flatten() {
            summary.items.extend(page.items);
            summary.not_claimed += page.not_claimed;
            summary.store_errors += page.store_errors;
            summary.left_for_next += page.left_for_next;
            summary.outage |= page.outage;
        }
        if summary.left_for_next > 0 {
            tracing::info!(
                left_for_next = summary.left_for_next,
                store_errors = summary.store_errors,
                "sweep stopped early: the rest is left for the next sweep"
            );
        }
        Ok(summary)
    }

    /// How long until `deadline` by the stack's clock (`None`: no deadline).
    fn remaining(&self, deadline: Option<OffsetDateTime>) -> Option<Duration> {
        deadline.map(|d| {
            let left = d - self.clock.now();
            Duration::try_from(left).unwrap_or(Duration::ZERO)
        })
    }

    /// Processes the named notifications (those that are claimable).
    pub async fn process_ids(
        &self,
        ids: &[String],
        deadline: Option<OffsetDateTime>,
    ) -> Result<ProcessSummary, StoreError> {
        // Only ids with an item (a stream record can outlive its item); read a few at a time.
        // Owned ids keep the future `Send` (as in `process_batch`).
        let found: Vec<Result<Option<String>, StoreError>> =
            futures_util::stream::iter(ids.to_vec())
                .map(|id: String| async move { Ok(self.notifications.get(&id).await?.map(|_| id)) })
                .buffered(self.config.store_concurrency.max(1))
                .collect()
                .await;
        let mut candidates = Vec::with_capacity(ids.len());
        for id in found {
            candidates.extend(id?);
        }
        Ok(processor::process_batch(self, candidates, deadline).await)
    }

    /// Deletes `processed` notifications older than [`RETENTION`] before `now`, except
    /// transactional emails (kept as a record of what was sent). Never touches `new`,
    /// `processing`, `retrying` or `dlq` items.
    pub async fn cleanup(&self, now: OffsetDateTime) -> Result<CleanupSummary, StoreError> {
        let threshold = timestamp::format(now - RETENTION);
        let mut summary = CleanupSummary::default();
        // Page by page (keys only, emails filtered out by the store), deleting each page
        // before reading the next: memory stays at one page whatever the table holds.
        let mut cursor = None;
        loop {
            let page = self
                .notifications
                .processed_page(&threshold, cursor.as_ref(), CLEANUP_PAGE)
                .await?;
            summary.kept_emails += page.skipped_emails;
            let (recent, old): (Vec<_>, Vec<_>) = page
                .items
                .into_iter()
                .partition(|k| k.modified.as_str() >= threshold.as_str());
            summary.kept_recent += recent.len();
            let deleted: Vec<Result<bool, StoreError>> = futures_util::stream::iter(old)
                .map(|key| async move { self.notifications.delete_processed(&key.id).await })
                .buffer_unordered(CLEANUP_CONCURRENCY)
                .collect()
                .await;
            for result in deleted {
                summary.deleted += usize::from(result?);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(
            deleted = summary.deleted,
            kept_emails = summary.kept_emails,
            kept_recent = summary.kept_recent,
            "cleanup done"
        );
        Ok(summary)
    }

    pub(crate) fn lease_until_ms(&self, now_ms: i64, deadline: Option<OffsetDateTime>) -> i64 {
        lease_until_ms(
            now_ms,
            deadline.map(timestamp::epoch_millis),
            self.config.lease,
        )
    }
}

impl Crm {
    /// The notification type whose event `envelope` is, and the notification it becomes;
    /// `None` for an `Auth0 log` this stack does not act on; an error for an event no type
    /// takes.
    async fn draft(
        &self,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> Result<Option<(NotificationType, processor::Draft)>, EventError> {
        for kind in processor::kinds() {
            if let Some(draft) = kind.draft(self, envelope, now).await? {
                return Ok(Some((kind.kind(), draft)));
            }
        }
        if envelope.detail_type == AUTH0_LOG {
            return Ok(None);
        }
        Err(EventError::UnsupportedDetailType(
            envelope.detail_type.clone(),
        ))
    }
}

/// `details` with every number written as a string: the Python stack forwards stored values
/// to HubSpot with a JSON encoder that cannot encode the `Decimal` a DynamoDB number reads
/// back as, so an item holding one would fail in it after a rollback. HubSpot takes property
/// values as strings anyway.
fn rollback_safe(details: Value) -> Value {
    match details {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(rollback_safe).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, rollback_safe(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The lease of a claim made at `now_ms`: the invocation's deadline (epoch milliseconds)
/// plus a minute of grace when it is in the future, else `now + lease`. A deadline of 0 (a
/// default Lambda context) or in the past is ignored, so a lease is never already expired.
pub fn lease_until_ms(now_ms: i64, deadline_ms: Option<i64>, lease: Duration) -> i64 {
    const GRACE_MS: i64 = 60_000;
    match deadline_ms {
        Some(deadline) if deadline > now_ms => deadline.saturating_add(GRACE_MS),
        _ => now_ms.saturating_add(lease.as_millis().min(i64::MAX as u128) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time check: every entry point's future can be spawned on a multi-threaded
    /// runtime.
    #[allow(dead_code)]
    fn entry_points_are_send(crm: &Crm, envelope: &Envelope) {
        fn send<T: Send>(_: T) {}
        send(crm.handle(envelope));
        send(crm.record(envelope));
        send(crm.process_pending());
        send(crm.process_ids(&[], None));
        send(crm.cleanup(OffsetDateTime::now_utc()));
    }

    #[test]
    fn lease_arithmetic() {
        let five_min = Duration::from_secs(300);
        // No deadline: the configured lease.
        assert_eq!(lease_until_ms(1_000, None, five_min), 301_000);
        // A default Lambda context has deadline 0: ignored.
        assert_eq!(lease_until_ms(1_000, Some(0), five_min), 301_000);
        // A deadline in the past: ignored.
        assert_eq!(lease_until_ms(10_000, Some(9_999), five_min), 310_000);
        // A future deadline in epoch milliseconds: deadline plus grace.
        let now = 1_700_000_000_000;
        assert_eq!(
            lease_until_ms(now, Some(now + 900_000), five_min),
            now + 960_000
        );
        // Never overflows.
        assert_eq!(lease_until_ms(i64::MAX - 1, None, five_min), i64::MAX);
    }
}

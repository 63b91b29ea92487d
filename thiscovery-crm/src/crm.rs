//! [`Crm`]: the stack wired together. `handle` records an event and processes it,
//! `process_pending` sweeps the outbox, `cleanup` deletes old processed items.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock};
use crate::directory::UserDirectory;
use crate::events::{
    self, AUTH0_LOG, CUSTOM_EMAIL, Envelope, EventError, Login, Registration, TASK_SIGNUP,
    TRANSACTIONAL_EMAIL, TaskSignup, TransactionalEmail,
};
use crate::notification::{Notification, NotificationType, ProcessingStatus, derived_id};
use crate::processor::ProcessSummary;
use crate::store::{
    Claim, Completion, LookupStore, NotificationStore, PendingKey, PutOutcome, StoreError,
    TemplateStore,
};
use crate::timestamp;

/// Settings of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrmConfig {
    /// The environment namespace of lookups (`prod` reads `/prod/task-signup`).
    pub env: String,
    /// Failed attempts after which a notification is dead-lettered (the Python stack: 3).
    pub max_attempts: u32,
    /// How long a claim holds when no deadline is given.
    pub lease: Duration,
    /// How many transactional emails are sent at once (the client's limiter still paces
    /// them).
    pub email_concurrency: usize,
    /// How many notifications one processing run takes at most (the rest wait for the next).
    pub batch_limit: usize,
    /// How many notifications a sweep claims and holds in memory at once. A sweep works
    /// through its candidates oldest first in pages of this size, two pages at a time (one
    /// claiming and writing results back while the other waits on HubSpot), so its memory is
    /// bounded by two pages' details whatever the backlog. Pages of 1,000 cost a few more
    /// HubSpot requests than one page would (a partly filled batch per type per page).
    pub page_size: usize,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            env: "prod".to_owned(),
            max_attempts: 3,
            lease: Duration::from_secs(300),
            email_concurrency: 8,
            batch_limit: 10_000,
            page_size: 1_000,
        }
    }
}

impl CrmConfig {
    /// Settings for an environment namespace.
    pub fn for_env(env: impl Into<String>) -> Self {
        CrmConfig {
            env: env.into(),
            ..CrmConfig::default()
        }
    }
}

/// Why an event was refused before anything was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The event is malformed in a way that leaves nothing to record (no id can be derived,
    /// unknown `detail-type`, not JSON).
    #[error("event rejected: {0}")]
    Rejected(#[from] EventError),
    /// A store failed; the event may be redelivered safely.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and processed.
    Processed,
    /// Acknowledged and ignored (an Auth0 log type this stack does not act on).
    Ignored,
    /// Already recorded (a redelivery): nothing was written.
    Duplicate,
    /// Recorded, failed with a retryable error: a later sweep retries it.
    Retrying,
    /// Recorded and dead-lettered with a reason.
    Dlq,
    /// Recorded but not processed now (another processor holds it).
    Pending,
}

impl Outcome {
    /// The outcome's name (`processed`, `ignored`, `duplicate`, `retrying`, `dlq`,
    /// `pending`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::Retrying => "retrying",
            Outcome::Dlq => "dlq",
            Outcome::Pending => "pending",
        }
    }

    fn of(status: ProcessingStatus) -> Outcome {
        match status {
            ProcessingStatus::Processed => Outcome::Processed,
            ProcessingStatus::Retrying => Outcome::Retrying,
            ProcessingStatus::Dlq => Outcome::Dlq,
            ProcessingStatus::New | ProcessingStatus::Processing => Outcome::Pending,
        }
    }
}

/// The result of [`Crm::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandleReport {
    /// The event's `detail-type`.
    pub detail_type: String,
    /// What happened.
    pub outcome: Outcome,
    /// The notification's id, when one was recorded (or already existed).
    pub notification_id: Option<String>,
    /// The notification's type.
    pub kind: Option<NotificationType>,
    /// Why it was ignored, retried or dead-lettered.
    pub reason: Option<String>,
    /// What HubSpot returned: contact id, timeline event id or email status id.
    pub hubspot_ref: Option<String>,
}

/// Summary of [`Crm::cleanup`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanupSummary {
    /// Processed notifications deleted.
    pub deleted: usize,
    /// Processed transactional emails kept as a record of what was sent.
    pub kept_emails: usize,
    /// Processed notifications kept because they changed within the retention period.
    pub kept_recent: usize,
}

/// How many pages a sweep works on at once (see [`CrmConfig::page_size`]).
const PAGES_IN_FLIGHT: usize = 2;

/// How long processed notifications are kept.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The stack: a HubSpot client, the stores, a directory and a clock.
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Crm {
    pub(crate) hubspot: hubspot_client::Client,
    pub(crate) notifications: Arc<dyn NotificationStore>,
    pub(crate) templates: Arc<dyn TemplateStore>,
    pub(crate) lookups: Arc<dyn LookupStore>,
    pub(crate) directory: Arc<dyn UserDirectory>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: CrmConfig,
}

/// What [`Crm::record`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// A new notification was written.
    Created {
        /// Its id.
        id: String,
        /// Its type.
        kind: NotificationType,
    },
    /// The notification existed already.
    Duplicate {
        /// Its id.
        id: String,
        /// Its type.
        kind: NotificationType,
    },
    /// The event was recorded, but its payload is invalid: it was dead-lettered at once.
    Invalid {
        /// Its id.
        id: String,
        /// Its type.
        kind: NotificationType,
        /// What is wrong.
        reason: String,
    },
    /// An event this stack acknowledges and ignores.
    Ignored {
        /// Why.
        reason: String,
    },
}

impl Crm {
    /// Wires the stack together with the system clock and default settings.
    pub fn new(
        hubspot: hubspot_client::Client,
        notifications: Arc<dyn NotificationStore>,
        templates: Arc<dyn TemplateStore>,
        lookups: Arc<dyn LookupStore>,
        directory: Arc<dyn UserDirectory>,
    ) -> Self {
        Crm {
            hubspot,
            notifications,
            templates,
            lookups,
            directory,
            clock: Arc::new(SystemClock),
            config: CrmConfig::default(),
        }
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: CrmConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the clock.
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
                        outcome: if item.lost_claim {
                            Outcome::Pending
                        } else {
                            Outcome::of(item.status)
                        },
                        notification_id: Some(id),
                        kind: Some(kind),
                        reason: item.message,
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
        let detail = &envelope.detail;
        let (kind, id, label, details, validation) = match envelope.detail_type.as_str() {
            AUTH0_LOG => {
                let log_type = events::auth0_log_type(detail)?;
                match log_type.as_str() {
                    "ss" => {
                        let id = Registration::user_id_from_detail(detail)?;
                        let label = detail
                            .pointer("/data/details/body/email")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let check = Registration::from_detail(detail).map(|_| ());
                        (
                            NotificationType::UserRegistration,
                            id,
                            label,
                            detail.clone(),
                            check,
                        )
                    }
                    "s" => {
                        let id = derived_id(NotificationType::UserLogin, envelope.require_id()?);
                        let label = Login::label_from_detail(detail).unwrap_or_default();
                        let check = Login::from_detail(detail).map(|_| ());
                        (
                            NotificationType::UserLogin,
                            id,
                            label,
                            detail.clone(),
                            check,
                        )
                    }
                    other => {
                        tracing::debug!(log_type = other, "Auth0 log type ignored");
                        return Ok(Recorded::Ignored {
                            reason: format!("Auth0 log type {other:?} is not acted on"),
                        });
                    }
                }
            }
            TASK_SIGNUP => {
                let id = TaskSignup::id_from_detail(detail)?;
                let label = detail
                    .get("user_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let check = TaskSignup::from_detail(detail).map(|_| ());
                (
                    NotificationType::TaskSignup,
                    id,
                    label,
                    detail.clone(),
                    check,
                )
            }
            TRANSACTIONAL_EMAIL | CUSTOM_EMAIL => {
                let id = derived_id(NotificationType::TransactionalEmail, envelope.require_id()?);
                let normalized = if envelope.detail_type == CUSTOM_EMAIL {
                    TransactionalEmail::normalize_custom_email(detail)
                } else {
                    Ok(detail.clone())
                };
                let (details, check) = match normalized {
                    Ok(d) => {
                        let check = TransactionalEmail::from_detail(&d).map(|_| ());
                        (d, check)
                    }
                    Err(e) => (detail.clone(), Err(e)),
                };
                let label = TransactionalEmail::from_detail(&details)
                    .map(|e| e.label())
                    .unwrap_or_else(|_| {
                        detail
                            .get("template_name")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown-template")
                            .to_owned()
                    });
                (
                    NotificationType::TransactionalEmail,
                    id,
                    label,
                    details,
                    check,
                )
            }
            other => return Err(EventError::UnsupportedDetailType(other.to_owned()).into()),
        };
        let now = self.clock.now();
        let notification = Notification::new(id.clone(), kind, label, details, now);
        if self.notifications.put_if_absent(&notification).await? == PutOutcome::Duplicate {
            return Ok(Recorded::Duplicate { id, kind });
        }
        if let Err(error) = validation {
            let reason = format!("invalid event: {error}");
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
        let mut candidates: Vec<PendingKey> = self
            .notifications
            .list_pending_keys()
            .await?
            .into_iter()
            .filter(|k| k.is_claimable(now_ms))
            .collect();
        // Oldest first, so a run bounded by `batch_limit` takes the longest-waiting work, and
        // a user's registration is in the same page as their later events or an earlier one.
        candidates.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        candidates.truncate(self.config.batch_limit);
        let pages: Vec<Vec<String>> = candidates
            .chunks(self.config.page_size.max(1))
            .map(|page| page.iter().map(|k| k.id.clone()).collect())
            .collect();
        drop(candidates);
        // Two pages at a time. After a store failure no further page starts, but pages
        // already started run to the end: stopping one mid-way could leave an email sent and
        // not recorded, to be sent again after the lease.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let failed = &failed;
        let results: Vec<Result<ProcessSummary, StoreError>> = futures_util::stream::iter(pages)
            .map(|ids| async move {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(None);
                }
                let result = self.process_batch(ids, deadline).await;
                if result.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                result.map(Some)
            })
            .buffered(PAGES_IN_FLIGHT)
            .filter_map(|r| async move { r.transpose() })
            .collect()
            .await;
        let mut summary = ProcessSummary::default();
        for page in results {
            let page = page?;
            summary.items.extend(page.items);
            summary.not_claimed += page.not_claimed;
        }
        Ok(summary)
    }

    /// Processes the named notifications (those that are claimable).
    pub async fn process_ids(
        &self,
        ids: &[String],
        deadline: Option<OffsetDateTime>,
    ) -> Result<ProcessSummary, StoreError> {
        let mut candidates = Vec::with_capacity(ids.len());
        for id in ids {
            if self.notifications.get(id).await?.is_some() {
                candidates.push(id.clone());
            }
        }
        self.process_batch(candidates, deadline).await
    }

    /// Deletes `processed` notifications older than [`RETENTION`] before `now`, except
    /// transactional emails (kept as a record of what was sent). Never touches `new`,
    /// `processing`, `retrying` or `dlq` items.
    pub async fn cleanup(&self, now: OffsetDateTime) -> Result<CleanupSummary, StoreError> {
        let threshold = timestamp::format(now - RETENTION);
        let mut summary = CleanupSummary::default();
        for n in self.notifications.list_processed_before(&threshold).await? {
            if n.kind == NotificationType::TransactionalEmail {
                summary.kept_emails += 1;
            } else if n.modified.as_str() >= threshold.as_str() {
                summary.kept_recent += 1;
            } else if self.notifications.delete_processed(&n.id).await? {
                summary.deleted += 1;
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

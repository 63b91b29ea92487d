//! The values [`Crm`](super::Crm)'s entry points take and return: its settings, what
//! happened to an event, a cleanup's summary, and why an event was refused.

use std::time::Duration;

use crate::events::EventError;
use crate::notification::{NotificationType, ProcessingStatus};
use crate::store::StoreError;
use crate::store::limits::LimitError;

/// Settings of the stack. Start from [`CrmConfig::for_env`] (or `default()`) and set the
/// fields you need: they are public, and the struct is `#[non_exhaustive]` only so that new
/// settings are not a breaking change.
///
/// ```
/// use std::time::Duration;
/// use thiscovery_crm::CrmConfig;
///
/// let mut config = CrmConfig::for_env("staging");
/// config.max_attempts = 5;
/// config.lease = Duration::from_secs(120);
/// assert_eq!(config.page_size, 1_000);
/// ```
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
    /// How old (since it was recorded) a transactional email may be and still be sent; an
    /// older one is dead-lettered with the reason `expired: not sent`. 72 hours by default,
    /// so that emails the Python stack left pending at cut-over are not sent days late.
    /// Registrations, logins and task signups are applied whatever their age.
    pub email_max_age: Duration,
    /// How many claims, and how many result writes, a page has in flight at once. Each is
    /// one conditional write to its own item; at DynamoDB's ~5-10 ms a call, 32 claim a page
    /// of 1,000 in ~0.25 s, well inside the ~6 s HubSpot's 100 per 10 s needs for its ~60
    /// requests.
    pub store_concurrency: usize,
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
            email_max_age: Duration::from_secs(72 * 3600),
            store_concurrency: 32,
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

/// Why an event was refused before anything was recorded; also the one error type every
/// [`Crm`](crate::Crm) entry point's error converts into: `handle` and `record` return it, and
/// the [`StoreError`] of `process_pending`, `process_ids` and `cleanup` converts with `?`.
///
/// ```no_run
/// use thiscovery_crm::{Crm, HandleError};
/// use thiscovery_crm::events::Envelope;
///
/// async fn record_then_sweep(crm: &Crm, event: &Envelope) -> Result<usize, HandleError> {
///     crm.handle(event).await?;
///     let summary = crm.process_pending().await?; // a StoreError, converted
///     Ok(summary.items.len())
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The event is malformed in a way that leaves nothing to record (no id can be derived,
    /// unknown `detail-type`, not JSON).
    #[error("event rejected: {0}")]
    Rejected(#[from] EventError),
    /// The event cannot be stored: DynamoDB would refuse the item (a key, number, nesting
    /// depth or size over its limits). Redelivering it cannot succeed.
    #[error("event rejected: {0}")]
    Unstorable(#[from] LimitError),
    /// A store failed; the event may be redelivered safely if
    /// [`StoreError::is_retryable`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HandleError {
    /// Whether redelivering the event can succeed: `false` for a rejected or unstorable event
    /// and a store that refused the request, which the Lambda acknowledges instead of
    /// failing (EventBridge would retry, then drop the event).
    pub fn is_retryable(&self) -> bool {
        match self {
            HandleError::Rejected(_) | HandleError::Unstorable(_) => false,
            HandleError::Store(e) => e.is_retryable(),
        }
    }
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

    pub(crate) fn of(status: ProcessingStatus) -> Outcome {
        match status {
            ProcessingStatus::Processed => Outcome::Processed,
            ProcessingStatus::Retrying => Outcome::Retrying,
            ProcessingStatus::Dlq => Outcome::Dlq,
            ProcessingStatus::New | ProcessingStatus::Processing => Outcome::Pending,
        }
    }
}

/// The result of [`Crm::handle`](crate::Crm::handle).
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

/// Summary of [`Crm::cleanup`](crate::Crm::cleanup).
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

/// How long processed notifications are kept.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What [`Crm::record`](crate::Crm::record) did with an event.
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

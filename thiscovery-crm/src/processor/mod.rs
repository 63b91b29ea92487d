//! The processor: claims a page of pending notifications, runs each type's items through its
//! `Kind`, and writes each item's result back by its own key.
//!
//! Every notification type is one module here implementing `Kind`: how its event becomes a
//! notification (`Kind::draft`), and how a page of its items becomes HubSpot requests whose
//! results map back to the items by notification id (`Kind::process`). `STAGES` declares
//! the order once: registrations first (a task signup, login or email for a contact not yet
//! in HubSpot, or a user whose `crm_id` is not yet written back, would fail otherwise), then
//! task signups, logins and emails at the same time (they do not depend on each other, and
//! running them together keeps the rate limiter busy).
//!
//! What a result means for the item (processed, retrying, dead-lettered, or back without an
//! attempt for HubSpot's daily limit) is decided in one pure function, `decision::decide`.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::Value;
use time::OffsetDateTime;

use crate::crm::Crm;
use crate::events::{Envelope, EventError};
use crate::notification::{Notification, NotificationType, ProcessingStatus};
use crate::store::{Claim, Completion, StoreError};
use crate::timestamp;

pub(crate) mod decision;
mod email;
mod login;
mod registration;
mod task_signup;

use decision::{Failure, ItemResult};

/// What happened to one notification in a processing run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemReport {
    /// The notification's id.
    pub id: String,
    /// Its type.
    pub kind: NotificationType,
    /// Its label.
    pub label: String,
    /// Its status after the run.
    pub status: ProcessingStatus,
    /// The error message recorded, if any.
    pub message: Option<String>,
    /// What HubSpot returned: contact id, timeline event id or email status id.
    pub hubspot_ref: Option<String>,
    /// `true` if another processor took the item over before this one could record its
    /// result (the result was not written).
    pub lost_claim: bool,
}

impl ItemReport {
    pub(crate) fn from_notification(n: &Notification) -> ItemReport {
        ItemReport {
            id: n.id.clone(),
            kind: n.kind,
            label: n.label.clone(),
            status: n.status,
            message: n.error_message.clone(),
            hubspot_ref: None,
            lost_claim: false,
        }
    }
}

/// The result of a processing run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessSummary {
    /// One report per claimed notification.
    pub items: Vec<ItemReport>,
    /// Candidates that could not be claimed (held by another processor, or done meanwhile).
    pub not_claimed: usize,
}

impl ProcessSummary {
    /// How many items ended in `status`.
    pub fn count(&self, status: ProcessingStatus) -> usize {
        self.items
            .iter()
            .filter(|i| i.status == status && !i.lost_claim)
            .count()
    }
}

/// A notification an event becomes, before it is written.
#[derive(Debug)]
pub(crate) struct Draft {
    /// The deterministic id (a redelivered event maps to the same item).
    pub(crate) id: String,
    /// The label people see.
    pub(crate) label: String,
    /// What is stored as `details`.
    pub(crate) details: Value,
    /// Whether the payload is valid: an invalid one is recorded and dead-lettered at once.
    pub(crate) validation: Result<(), EventError>,
}

/// Results of one type's items, by notification id.
pub(crate) type Results = HashMap<String, ItemResult>;

/// One notification type: how its events are recorded and its items processed.
#[async_trait]
pub(crate) trait Kind: Send + Sync {
    /// The type's `type` attribute.
    fn kind(&self) -> NotificationType;

    /// The notification `envelope` becomes if it is this type's event (`Ok(None)` if it is
    /// not); an error if it is this type's event but nothing can be recorded (no id).
    fn draft(&self, envelope: &Envelope) -> Result<Option<Draft>, EventError>;

    /// Processes a page of this type's claimed items, returning a result per notification
    /// id. An item without a result is retried.
    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results;
}

/// The stages of a page, in order. A stage's types run at the same time; a stage starts
/// when the one before it has written its results back. Adding a type: a module above and
/// its line here.
pub(crate) const STAGES: &[&[&dyn Kind]] = &[
    &[&registration::Registrations],
    &[&task_signup::TaskSignups, &login::Logins, &email::Emails],
];

/// Every type, in stage order.
pub(crate) fn kinds() -> impl Iterator<Item = &'static dyn Kind> {
    STAGES.iter().flat_map(|stage| stage.iter().copied())
}

/// Parses each item's details with `parse`: the items that parse, with their notification
/// ids; an item that does not is given its result (dead-lettered, naming the field) in
/// `results`.
pub(crate) fn parse_each<T>(
    items: &[Notification],
    parse: impl Fn(&Value) -> Result<T, EventError>,
    results: &mut Results,
) -> Vec<(String, T)> {
    let mut parsed = Vec::with_capacity(items.len());
    for n in items {
        match parse(&n.details) {
            Ok(value) => parsed.push((n.id.clone(), value)),
            Err(e) => {
                results.insert(n.id.clone(), Err(Failure::invalid(e)));
            }
        }
    }
    parsed
}

/// How many claims, and how many write-backs, a page has in flight.
const STORE_CONCURRENCY: usize = 16;

/// Claims what it can of the `candidates` (notification ids) and processes the claimed
/// items.
pub(crate) async fn process_batch(
    crm: &Crm,
    candidates: Vec<String>,
    deadline: Option<OffsetDateTime>,
) -> Result<ProcessSummary, StoreError> {
    let owner = format!("processor-{}", uuid::Uuid::new_v4());
    let now = crm.clock.now();
    let now_ms = timestamp::epoch_millis(now);
    let claim = Claim {
        owner: owner.clone(),
        now_ms,
        lease_until_ms: crm.lease_until_ms(now_ms, deadline),
        modified: timestamp::format(now),
    };
    let mut summary = ProcessSummary::default();
    let mut claimed: HashMap<NotificationType, Vec<Notification>> = HashMap::new();
    // Owned ids (not `&Notification`) keep the future `Send`, so it can be spawned.
    let claim = &claim;
    let results: Vec<Result<Option<Notification>, StoreError>> =
        futures_util::stream::iter(candidates)
            .map(|id| async move {
                // A store that answers at once (the in-memory one) would otherwise claim the
                // whole page in one poll, and the sweep's other page, in the same task, would
                // miss its rate-limit slots meanwhile (B1 saw 15-30 ms stalls per page of
                // 1,000; tokio's coop budget did not break them up).
                tokio::task::yield_now().await;
                crm.notifications.claim(&id, claim).await
            })
            .buffer_unordered(STORE_CONCURRENCY)
            .collect()
            .await;
    for result in results {
        match result? {
            Some(n) => claimed.entry(n.kind).or_default().push(n),
            None => summary.not_claimed += 1,
        }
    }
    let owner = owner.as_str();
    for stage in STAGES {
        let runs = stage.iter().map(|kind| {
            let items = claimed.remove(&kind.kind()).unwrap_or_default();
            run_kind(crm, *kind, items, owner)
        });
        for reports in futures_util::future::join_all(runs).await {
            summary.items.extend(reports?);
        }
    }
    Ok(summary)
}

/// Runs one type's claimed items and records their results.
async fn run_kind(
    crm: &Crm,
    kind: &dyn Kind,
    items: Vec<Notification>,
    owner: &str,
) -> Result<Vec<ItemReport>, StoreError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let results = kind.process(crm, &items).await;
    let work: Vec<(Notification, ItemResult)> = items
        .into_iter()
        .map(|n| {
            let result = results.get(&n.id).cloned().unwrap_or_else(|| {
                Err(Failure::retry("processing produced no result for the item"))
            });
            (n, result)
        })
        .collect();
    // Results are written back concurrently (each write is independent and conditional on
    // this run's claim), in input order for the report.
    futures_util::stream::iter(work)
        .map(|(n, result)| finish(crm, n, owner, result))
        .buffered(STORE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Records an item's result, conditional on still holding its claim.
async fn finish(
    crm: &Crm,
    n: Notification,
    owner: &str,
    result: ItemResult,
) -> Result<ItemReport, StoreError> {
    let decision = decision::decide(n.fail_count, crm.config.max_attempts, &result);
    let completion = Completion {
        status: decision.status,
        fail_count: decision.fail_count,
        error_message: decision.error_message,
        modified: timestamp::format(crm.clock.now()),
    };
    // As for claims: a write-back of hundreds of results must not hold the task.
    tokio::task::yield_now().await;
    let held = crm
        .notifications
        .complete(&n.id, owner, &completion)
        .await?;
    let mut report = ItemReport::from_notification(&n);
    report.status = completion.status;
    report.message = completion.error_message.clone();
    report.hubspot_ref = result.ok().flatten();
    report.lost_claim = !held;
    match (held, completion.status) {
        (false, _) => tracing::warn!(id = %n.id, "claim lost before the result was recorded"),
        (true, ProcessingStatus::Dlq) => {
            tracing::warn!(id = %n.id, kind = %n.kind, error = ?completion.error_message, "dead-lettered")
        }
        (true, status) => {
            tracing::info!(id = %n.id, kind = %n.kind, %status, "notification done")
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_in_exactly_one_stage() {
        let mut seen: Vec<NotificationType> = kinds().map(|k| k.kind()).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "a type is in two stages");
        for t in NotificationType::ALL {
            assert!(seen.contains(&t), "{t} has no stage");
        }
        // Registrations run alone, before everything else.
        assert_eq!(STAGES[0].len(), 1);
        assert_eq!(STAGES[0][0].kind(), NotificationType::UserRegistration);
    }
}

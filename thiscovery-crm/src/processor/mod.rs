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
use crate::store::limits::bound_message;
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
    /// Why the result could not be written (the store failed): the item stays claimed until
    /// its lease passes, then a later sweep takes it again.
    pub write_error: Option<String>,
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
            write_error: None,
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
    /// Store operations of the run that failed (claims and result writes; each is logged
    /// with its item's id). The other items went on.
    pub store_errors: usize,
    /// Candidates the sweep left for the next one: not started because the deadline could
    /// not cover another page, or because the store was failing.
    pub left_for_next: usize,
    /// Whether a store operation failed in a way that may pass (unreachable, throttled): a
    /// sweep starts no further page after one.
    pub(crate) outage: bool,
}

impl ProcessSummary {
    /// How many items ended in `status`.
    pub fn count(&self, status: ProcessingStatus) -> usize {
        self.items
            .iter()
            .filter(|i| i.status == status && !i.lost_claim && i.write_error.is_none())
            .count()
    }
}

/// A notification an event becomes, before it is written.
#[derive(Debug)]
pub(crate) struct Draft {
    /// The deterministic id (a redelivered event maps to the same item).
    pub(crate) id: String,
    /// Where in the event the id comes from, for errors (`detail.id`).
    pub(crate) id_field: &'static str,
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
    /// not); an error if it is this type's event but nothing can be recorded (no id). The
    /// details are in the shape the Python stack writes for the type (a login's needs
    /// thiscovery-core's user record); `now` is when it is recorded.
    async fn draft(
        &self,
        crm: &Crm,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> Result<Option<Draft>, EventError>;

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

/// Claims what it can of the `candidates` (notification ids) and processes the claimed
/// items.
pub(crate) async fn process_batch(
    crm: &Crm,
    candidates: Vec<String>,
    deadline: Option<OffsetDateTime>,
) -> ProcessSummary {
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
    let results: Vec<(String, Result<Option<Notification>, StoreError>)> =
        futures_util::stream::iter(candidates)
            .map(|id| async move {
                // A store that answers at once (the in-memory one) would otherwise claim the
                // whole page in one poll, and the sweep's other page, in the same task, would
                // miss its rate-limit slots meanwhile (B1 saw 15-30 ms stalls per page of
                // 1,000; tokio's coop budget did not break them up).
                tokio::task::yield_now().await;
                let result = crm.notifications.claim(&id, claim).await;
                (id, result)
            })
            .buffer_unordered(crm.config.store_concurrency.max(1))
            .collect()
            .await;
    let owner = owner.as_str();
    let mut abandoned = Vec::new();
    for (id, result) in results {
        match result {
            Ok(Some(n)) => {
                match decision::abandoned(
                    n.fail_count,
                    n.unfinished_attempts,
                    crm.config.max_attempts,
                ) {
                    Some(failure) => abandoned.push((n, Err(failure))),
                    None => claimed.entry(n.kind).or_default().push(n),
                }
            }
            Ok(None) => summary.not_claimed += 1,
            Err(StoreError::Corrupt { reason, .. }) => {
                // Claimed, but unreadable: dead-letter it by id (the write needs no parsing),
                // so it is neither left `processing` nor retried for ever.
                summary
                    .items
                    .push(dead_letter_unreadable(crm, &id, owner, &reason).await);
            }
            Err(e) => {
                tracing::warn!(id = %id, error = %e, "claim failed; the item is left for a later sweep");
                summary.store_errors += 1;
                summary.outage |= e.is_retryable();
            }
        }
    }
    // Items whose earlier attempts ended without a result are written back as they are.
    let reports = write_back(crm, abandoned, owner).await;
    summary.store_errors += reports.iter().filter(|r| r.write_error.is_some()).count();
    summary.items.extend(reports);
    for stage in STAGES {
        let runs = stage.iter().map(|kind| {
            let items = claimed.remove(&kind.kind()).unwrap_or_default();
            run_kind(crm, *kind, items, owner)
        });
        for reports in futures_util::future::join_all(runs).await {
            summary.store_errors += reports.iter().filter(|r| r.write_error.is_some()).count();
            summary.outage |= reports.iter().any(|r| r.write_error.is_some());
            summary.items.extend(reports);
        }
    }
    summary
}

/// Dead-letters an item that was claimed but cannot be read.
async fn dead_letter_unreadable(crm: &Crm, id: &str, owner: &str, reason: &str) -> ItemReport {
    let message = bound_message(&format!("the item cannot be read: {reason}"));
    let completion = Completion {
        status: ProcessingStatus::Dlq,
        fail_count: 1,
        error_message: Some(message.clone()),
        modified: timestamp::format(crm.clock.now()),
    };
    tracing::warn!(id = %id, error = %message, "dead-lettered");
    let mut report = ItemReport {
        id: id.to_owned(),
        kind: NotificationType::ALL[0],
        label: String::new(),
        status: ProcessingStatus::Dlq,
        message: Some(message),
        hubspot_ref: None,
        lost_claim: false,
        write_error: None,
    };
    match crm.notifications.complete(id, owner, &completion).await {
        Ok(held) => report.lost_claim = !held,
        Err(e) => report.write_error = Some(e.to_string()),
    }
    report
}

/// Runs one type's claimed items and records their results.
async fn run_kind(
    crm: &Crm,
    kind: &dyn Kind,
    items: Vec<Notification>,
    owner: &str,
) -> Vec<ItemReport> {
    if items.is_empty() {
        return Vec::new();
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
    write_back(crm, work, owner).await
}

/// Writes each item's result back, concurrently (each write is independent and conditional
/// on this run's claim), in input order for the report. A failed write is reported on its
/// item; the others go on.
async fn write_back(
    crm: &Crm,
    work: Vec<(Notification, ItemResult)>,
    owner: &str,
) -> Vec<ItemReport> {
    futures_util::stream::iter(work)
        .map(|(n, result)| finish(crm, n, owner, result))
        .buffered(crm.config.store_concurrency.max(1))
        .collect()
        .await
}

/// Records an item's result, conditional on still holding its claim.
async fn finish(crm: &Crm, n: Notification, owner: &str, result: ItemResult) -> ItemReport {
    let decision = decision::decide(n.fail_count, crm.config.max_attempts, &result);
    let completion = Completion {
        status: decision.status,
        fail_count: decision.fail_count,
        error_message: decision.error_message.as_deref().map(bound_message),
        modified: timestamp::format(crm.clock.now()),
    };
    // As for claims: a write-back of hundreds of results must not hold the task.
    tokio::task::yield_now().await;
    let written = crm.notifications.complete(&n.id, owner, &completion).await;
    let mut report = ItemReport::from_notification(&n);
    report.status = completion.status;
    report.message = completion.error_message.clone();
    report.hubspot_ref = result.ok().flatten();
    let held = match written {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(id = %n.id, error = %e, "the result could not be written; the item is taken again after its lease");
            report.status = n.status;
            report.write_error = Some(e.to_string());
            return report;
        }
    };
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
    report
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

//! The stack's AWS Lambda (`provided.al2023`, arm64 or x86_64).
//!
//! One binary, deployed as two functions (template.yaml) that differ only in `CRM_ROLE`:
//!
//! - `ingest` (`CrmIngestFunction`, any concurrency): an event is only recorded in the
//!   notifications table (`Crm::record`), which takes one conditional put, so a burst of
//!   events is a burst of cheap puts, not a burst of HubSpot requests.
//! - `processor` (`CrmProcessorFunction`, reserved concurrency 1): the notifications table's
//!   stream (INSERT records, batched by the event source mapping) is processed in batches
//!   (`Crm::process_ids`: registrations 100 per upsert request), and the schedules sweep the
//!   outbox and clean it up. One processor at a time means one HubSpot budget in use, and a
//!   burst reaches HubSpot as a few batch requests.
//! - `all` (the default when `CRM_ROLE` is unset): everything in one function, an event
//!   recorded and processed at once (`Crm::handle`), as before the split.
//!
//! Any other `CRM_ROLE` stops the cold start naming the variable.
//!
//! | event | `all` | `ingest` | `processor` |
//! |---|---|---|---|
//! | `detail-type` `Auth0 log`, `task_signup`, `transactional_email`, `custom_email` | record and process (`Crm::handle`) | record (`Crm::record`) | record (`Crm::record`): the stream brings it back to be processed, so an event routed here is not lost |
//! | a DynamoDB stream batch (`{"Records": [{"eventSource": "aws:dynamodb", ...}]}`) | process the INSERTed ids | refused | process the INSERTed ids (`Crm::process_ids`) |
//! | `{"action": "process_notifications"}` (the 5-minute schedule's constant input), an EventBridge event with `detail-type` `process_notifications` (what the Python stack's record functions publish), or a `Scheduled Event` whose rule ARN does not contain `cleanup` | sweep | refused | sweep the outbox (`Crm::process_pending`) |
//! | `{"action": "cleanup"}`, or a `Scheduled Event` whose rule ARN contains `cleanup` | clean up | refused | delete processed notifications older than 7 days, emails kept (`Crm::cleanup`) |
//!
//! "Refused" is an answer, `outcome: rejected` with the reason naming `CRM_ROLE`, not an
//! error: work that contacts HubSpot runs only where the processor's single concurrency
//! holds, and a misrouted stream batch or sweep is not retried into the wrong function (the
//! items stay in the outbox for the processor's next sweep).
//!
//! In a stream batch, records other than INSERT (the processor's own claims and results are
//! MODIFYs, cleanup's deletes REMOVEs; the template filters them out already) and items of a
//! type this stack does not handle (another writer's) are skipped; the rest are processed if
//! they are still claimable. A batch is answered with a summary like a sweep's; a store
//! failure is an error, so the mapping retries (and bisects) the batch. Items a batch does not
//! finish (retrying, a lost claim, a failed write) are the 5-minute sweep's.
//!
//! Configuration comes from the environment and, when `SECRETS_NAMESPACE` is set (the
//! template sets `/{env}/`), from the Python stack's Secrets Manager secrets
//! `{ns}hubspot-connection` and `{ns}aws-connection` (see `thiscovery_crm::config`); a missing
//! or malformed variable or secret stops the cold start with one message naming it. Secrets
//! are read once per cold start, and again only when the credential they hold is refused
//! (rotation). Clients (HTTP pools, DynamoDB, Secrets Manager) are built once per cold start.
//! Claims are leased until the invocation's deadline. Logs are JSON lines (CloudWatch-friendly),
//! one per event with its outcome; no secrets and no personal data beyond ids.
//!
//! A malformed event that can never succeed is answered with `outcome: rejected` rather than
//! an error, so EventBridge does not retry it; store failures are errors, so the invocation is
//! retried (recording is idempotent).
//!
//! **Metrics.** Each invocation ends with CloudWatch Embedded Metric Format records on stdout
//! (through the `metrics` facade and `metrics_cloudwatch_embedded`; CloudWatch turns the log
//! lines into metrics), namespace `CRM_METRICS_NAMESPACE` (default `thiscovery-crm`),
//! dimension `Stack` (the table prefix), one record per label set, the invocation's
//! `RequestId` as a property. A metric is in an invocation's records only when it moved:
//!
//! | metric | dimensions | what |
//! |---|---|---|
//! | `notifications.processed`, `notifications.retrying`, `notifications.dead_lettered` | `Stack`, `type` | items the invocation left in that status (a sweep, a stream batch, an event handled at once; an event recorded invalid is dead-lettered) |
//! | `notifications.dead_lettered_total` | `Stack` | the same dead letters, all types (what the DLQ alarm watches) |
//! | `sweep.duration_seconds` | `Stack` | how long a sweep took |
//! | `backlog.items`, `backlog.oldest_age_seconds` | `Stack` | after a sweep: the items still claimable (`new`, `retrying`, `processing` past its lease), and the age of the oldest (0 when none) |
//! | `hubspot.requests`, `hubspot.responses_429`, `hubspot.retries`, `hubspot.token_refreshes` | `Stack` | HubSpot API requests sent (each attempt), 429 answers, retries, OAuth token refreshes (hubspot-client) |
//! | `hubspot.limiter.wait_seconds`, `hubspot.limiter.holds`, `hubspot.budget.*` | `Stack` | the rate limiter's waits and holds, the shared budget's reservations and fallbacks (hubspot-client) |
//!
//! Build: `bash scripts/build-lambda.sh` (the package `lambda/`, arm64, checked; both functions deploy the
//! same `target/lambda/lambda/bootstrap`).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use thiscovery_crm::config::StackConfig;
use thiscovery_crm::config::secrets;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{NotificationType, ProcessingStatus};
use thiscovery_crm::processor::ProcessSummary;
use thiscovery_crm::{Crm, Recorded};
use time::OffsetDateTime;

/// The variable that chooses the function's [`Role`].
const ROLE_VAR: &str = "CRM_ROLE";

/// The variable naming the metrics' CloudWatch namespace.
const METRICS_NAMESPACE_VAR: &str = "CRM_METRICS_NAMESPACE";
/// The metrics' namespace unless [`METRICS_NAMESPACE_VAR`] names another.
const DEFAULT_METRICS_NAMESPACE: &str = "thiscovery-crm";

/// The metric of the items a run left in `status` (`None` for statuses that are not a result).
fn status_metric(status: ProcessingStatus) -> Option<&'static str> {
    match status {
        ProcessingStatus::Processed => Some("notifications.processed"),
        ProcessingStatus::Retrying => Some("notifications.retrying"),
        ProcessingStatus::Dlq => Some("notifications.dead_lettered"),
        ProcessingStatus::New | ProcessingStatus::Processing => None,
    }
}

/// Counts one item left in `status`, by type (and dead letters in all).
fn count_result(kind: NotificationType, status: ProcessingStatus) {
    if let Some(name) = status_metric(status) {
        metrics::counter!(name, "type" => kind.as_str()).increment(1);
    }
    if status == ProcessingStatus::Dlq {
        metrics::counter!("notifications.dead_lettered_total").increment(1);
    }
}

/// Counts what a sweep or a stream batch left behind (results it could not write are not
/// results: the item is retried after its lease).
fn count_summary(summary: &ProcessSummary) {
    for item in &summary.items {
        if !item.lost_claim && item.write_error.is_none() {
            count_result(item.kind, item.status);
        }
    }
}

/// After a sweep: the items still claimable and the age of the oldest, as metrics. A
/// failure to read them is logged, not the sweep's error.
async fn record_backlog(crm: &Crm) {
    let now = OffsetDateTime::now_utc();
    let now_ms = thiscovery_crm::timestamp::epoch_millis(now);
    match crm.notifications().list_pending_keys().await {
        Ok(keys) => {
            let claimable: Vec<_> = keys
                .iter()
                .filter(|k| k.unknown_type.is_none() && k.is_claimable(now_ms))
                .collect();
            let oldest = claimable
                .iter()
                .filter_map(|k| thiscovery_crm::timestamp::parse(&k.created).ok())
                .min()
                .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
            metrics::histogram!("backlog.items").record(claimable.len() as f64);
            metrics::histogram!("backlog.oldest_age_seconds").record(oldest);
        }
        Err(error) => tracing::warn!(%error, "could not read the backlog for its metrics"),
    }
}

/// Installs the EMF recorder: namespace from [`METRICS_NAMESPACE_VAR`], dimension `Stack`.
fn init_metrics(stack: &str) -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    let namespace = std::env::var(METRICS_NAMESPACE_VAR)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned());
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("Stack", stack.to_owned())
        .init()
        .map_err(|e| format!("metrics: {e}"))?;
    for name in [
        "sweep.duration_seconds",
        "backlog.oldest_age_seconds",
        "hubspot.limiter.wait_seconds",
    ] {
        metrics::describe_histogram!(name, metrics::Unit::Seconds, "");
    }
    for name in [
        "notifications.processed",
        "notifications.retrying",
        "notifications.dead_lettered",
        "notifications.dead_lettered_total",
        "hubspot.requests",
        "hubspot.responses_429",
        "hubspot.retries",
        "hubspot.token_refreshes",
    ] {
        metrics::describe_counter!(name, metrics::Unit::Count, "");
    }
    metrics::describe_histogram!("backlog.items", metrics::Unit::Count, "");
    Ok(collector)
}

/// What this function does with what it is sent (see the module docs' table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Everything; events recorded and processed at once.
    All,
    /// Records events; refuses the rest.
    Ingest,
    /// Stream batches, sweeps and cleanups; events only recorded.
    Processor,
}

impl Role {
    /// The role `CRM_ROLE`'s value names (`None`: unset, [`Role::All`]).
    fn parse(value: Option<&str>) -> Result<Role, String> {
        match value {
            None => Ok(Role::All),
            Some("all") => Ok(Role::All),
            Some("ingest") => Ok(Role::Ingest),
            Some("processor") => Ok(Role::Processor),
            Some(other) => Err(format!(
                "{ROLE_VAR} must be ingest, processor or all (unset: all), not {other:?}"
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Processor => "processor",
        }
    }
}

/// What an invocation asks for.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Event,
    Stream(StreamBatch),
    ProcessNotifications,
    Cleanup,
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Event => "event",
            Action::Stream(_) => "stream",
            Action::ProcessNotifications => PROCESS_NOTIFICATIONS,
            Action::Cleanup => "cleanup",
        }
    }
}

/// A DynamoDB stream batch: the ids to process, and what was skipped.
#[derive(Debug, Default, PartialEq, Eq)]
struct StreamBatch {
    /// The INSERTed notifications' ids, in stream order, each once.
    ids: Vec<String>,
    /// How many records the batch held.
    records: usize,
    /// Records skipped: not an INSERT, no `id` key, or an item of a type this stack does not
    /// handle.
    skipped: usize,
}

/// The `detail-type` the Python stack's record functions publish after each put, and its
/// `processnotifications` function sweeps on: it asks for a sweep here too.
const PROCESS_NOTIFICATIONS: &str = "process_notifications";

fn action(payload: &Value) -> Result<Action, String> {
    if let Some(records) = payload.get("Records") {
        return stream_batch(records).map(Action::Stream);
    }
    if let Some(action) = payload.get("action") {
        return match action.as_str() {
            Some(PROCESS_NOTIFICATIONS) => Ok(Action::ProcessNotifications),
            Some("cleanup") => Ok(Action::Cleanup),
            _ => Err(format!("unknown action {action}")),
        };
    }
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    if detail_type == Some(PROCESS_NOTIFICATIONS) {
        return Ok(Action::ProcessNotifications);
    }
    if detail_type == Some("Scheduled Event") {
        let cleanup = payload
            .get("resources")
            .and_then(Value::as_array)
            .is_some_and(|arns| {
                arns.iter()
                    .filter_map(Value::as_str)
                    .any(|arn| arn.to_ascii_lowercase().contains("cleanup"))
            });
        return Ok(if cleanup {
            Action::Cleanup
        } else {
            Action::ProcessNotifications
        });
    }
    Ok(Action::Event)
}

/// The ids a DynamoDB stream batch's INSERT records name. Another source's records (SQS,
/// Kinesis: a misconfigured trigger) refuse the whole batch.
fn stream_batch(records: &Value) -> Result<StreamBatch, String> {
    let records = records
        .as_array()
        .ok_or_else(|| "`Records` is not a list".to_owned())?;
    let mut batch = StreamBatch {
        records: records.len(),
        ..StreamBatch::default()
    };
    let mut seen = std::collections::HashSet::new();
    for (i, record) in records.iter().enumerate() {
        let source = record.get("eventSource").and_then(Value::as_str);
        if source != Some("aws:dynamodb") {
            return Err(format!(
                "Records[{i}] is not a DynamoDB stream record (eventSource {source:?})"
            ));
        }
        if record.get("eventName").and_then(Value::as_str) != Some("INSERT") {
            batch.skipped += 1;
            continue;
        }
        let change = &record["dynamodb"];
        let Some(id) = change.pointer("/Keys/id/S").and_then(Value::as_str) else {
            batch.skipped += 1;
            continue;
        };
        // With a new image (the table's stream has NEW_AND_OLD_IMAGES), another writer's
        // item (the Python stack's `processing-test`) is left as the sweep leaves it.
        let handled = change
            .pointer("/NewImage/type/S")
            .and_then(Value::as_str)
            .is_none_or(|t| t.parse::<NotificationType>().is_ok());
        if !handled {
            batch.skipped += 1;
            continue;
        }
        if seen.insert(id) {
            batch.ids.push(id.to_owned());
        }
    }
    Ok(batch)
}

/// The invocation's deadline, or `None` when the context has none (a default context's 0).
fn deadline(ms: u64) -> Option<OffsetDateTime> {
    (ms > 0)
        .then(|| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .flatten()
}

/// A sweep's or a stream batch's counts.
fn counts(summary: &ProcessSummary) -> Value {
    json!({
        "processed": summary.count(ProcessingStatus::Processed),
        "retrying": summary.count(ProcessingStatus::Retrying),
        "dlq": summary.count(ProcessingStatus::Dlq),
        "not_claimed": summary.not_claimed,
    })
}

/// An answer refusing what the role does not do.
fn refused(role: Role, action: &Action) -> String {
    format!(
        "{ROLE_VAR}={} records events only: a {} runs in the processor ({ROLE_VAR}=processor)",
        role.as_str(),
        action.name()
    )
}

async fn handle(crm: &Crm, role: Role, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let deadline = deadline(event.context.deadline);
    let request_id = event.context.request_id.clone();
    let payload = event.payload;
    let action = match action(&payload) {
        Ok(a) => a,
        Err(reason) => {
            tracing::warn!(%request_id, outcome = "rejected", %reason, "invocation");
            return Ok(json!({"outcome": "rejected", "reason": reason}));
        }
    };
    if role == Role::Ingest && action != Action::Event {
        let reason = refused(role, &action);
        tracing::warn!(%request_id, action = action.name(), outcome = "rejected", %reason, "invocation");
        return Ok(json!({"outcome": "rejected", "reason": reason}));
    }
    match action {
        Action::Stream(batch) => {
            let summary = crm.process_ids(&batch.ids, deadline).await?;
            count_summary(&summary);
            let mut answer = counts(&summary);
            answer["records"] = json!(batch.records);
            answer["inserts"] = json!(batch.ids.len());
            answer["skipped"] = json!(batch.skipped);
            tracing::info!(%request_id, action = "stream", summary = %answer, "invocation");
            Ok(answer)
        }
        Action::ProcessNotifications => {
            let started = std::time::Instant::now();
            let summary = crm.process_pending_until(deadline).await?;
            metrics::histogram!("sweep.duration_seconds").record(started.elapsed().as_secs_f64());
            count_summary(&summary);
            record_backlog(crm).await;
            let answer = counts(&summary);
            tracing::info!(%request_id, action = PROCESS_NOTIFICATIONS, summary = %answer, "invocation");
            Ok(answer)
        }
        Action::Cleanup => {
            let summary = crm.cleanup(OffsetDateTime::now_utc()).await?;
            tracing::info!(
                %request_id,
                action = "cleanup",
                deleted = summary.deleted,
                kept_emails = summary.kept_emails,
                "invocation"
            );
            Ok(
                json!({"deleted": summary.deleted, "kept_emails": summary.kept_emails, "kept_recent": summary.kept_recent}),
            )
        }
        Action::Event => {
            let envelope = match Envelope::from_value(payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(%request_id, outcome = "rejected", reason = %e, "event");
                    return Ok(json!({"outcome": "rejected", "reason": e.to_string()}));
                }
            };
            event_answer(crm, role, &envelope, deadline, &request_id).await
        }
    }
}

/// What an event becomes: recorded and processed (`all`), or only recorded.
async fn event_answer(
    crm: &Crm,
    role: Role,
    envelope: &Envelope,
    deadline: Option<OffsetDateTime>,
    request_id: &str,
) -> Result<Value, Error> {
    let answer = if role == Role::All {
        crm.handle_until(envelope, deadline).await.map(|report| {
            let status = match report.outcome {
                thiscovery_crm::Outcome::Processed => Some(ProcessingStatus::Processed),
                thiscovery_crm::Outcome::Retrying => Some(ProcessingStatus::Retrying),
                thiscovery_crm::Outcome::Dlq => Some(ProcessingStatus::Dlq),
                _ => None,
            };
            if let (Some(kind), Some(status)) = (report.kind, status) {
                count_result(kind, status);
            }
            json!({
                "outcome": report.outcome.as_str(),
                "notification_id": report.notification_id,
                "type": report.kind.map(|k| k.as_str()),
                "reason": report.reason,
                "hubspot_ref": report.hubspot_ref,
            })
        })
    } else {
        crm.record(envelope).await.map(|recorded| {
            let (outcome, id, kind, reason) = match recorded {
                // Processed by the stream batch (or sweep) that follows.
                Recorded::Created { id, kind } => ("recorded", Some(id), Some(kind), None),
                Recorded::Duplicate { id, kind } => ("duplicate", Some(id), Some(kind), None),
                Recorded::Invalid { id, kind, reason } => {
                    count_result(kind, ProcessingStatus::Dlq);
                    ("dlq", Some(id), Some(kind), Some(reason))
                }
                Recorded::Ignored { reason } => ("ignored", None, None, Some(reason)),
                other => ("recorded", None, None, Some(format!("{other:?}"))),
            };
            json!({
                "outcome": outcome,
                "notification_id": id,
                "type": kind.map(|k| k.as_str()),
                "reason": reason,
                "hubspot_ref": null,
            })
        })
    };
    match answer {
        Ok(answer) => {
            tracing::info!(
                %request_id,
                event_id = envelope.id.as_deref().unwrap_or(""),
                detail_type = %envelope.detail_type,
                notification_id = answer["notification_id"].as_str().unwrap_or(""),
                outcome = answer["outcome"].as_str().unwrap_or(""),
                reason = answer["reason"].as_str().unwrap_or(""),
                "event"
            );
            Ok(answer)
        }
        // Redelivery cannot help (bad event, DynamoDB would refuse the item):
        // acknowledge, so EventBridge does not retry it until it drops it.
        Err(e) if !e.is_retryable() => {
            tracing::warn!(
                %request_id,
                event_id = envelope.id.as_deref().unwrap_or(""),
                detail_type = %envelope.detail_type,
                outcome = "rejected",
                reason = %e,
                "event"
            );
            Ok(json!({"outcome": "rejected", "reason": e.to_string()}))
        }
        Err(e) => {
            tracing::error!(%request_id, error = %e, "event could not be recorded; the invocation will be retried");
            Err(e.into())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let role = Role::parse(std::env::var(ROLE_VAR).ok().as_deref()).map_err(|e| {
        tracing::error!(error = %e, "configuration");
        e
    })?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // Fail the cold start, naming the variable or secret, rather than the first event.
    let config = StackConfig::from_env_and_secrets(secrets::client_with_timeouts((&aws).into()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "configuration");
            e
        })?;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        thiscovery_crm::store::dynamodb::with_timeouts((&aws).into()).build(),
    );
    let crm = Arc::new(config.build(dynamodb)?);
    let metrics = init_metrics(&config.stack_name).map_err(|e| {
        tracing::error!(error = %e, "configuration");
        e
    })?;
    tracing::info!(
        stack = %config.stack_name,
        env = %config.crm.env,
        secrets_namespace = config.secrets_namespace.as_deref().unwrap_or(""),
        hubspot_apps = if config.emails_hubspot_auth.is_some() { 2 } else { 1 },
        hubspot_from_secrets = config.hubspot_from_secrets(),
        core_api_key_from_secrets = config.core_api_key_from_secrets(),
        core = %config.core_base_url,
        role = role.as_str(),
        "ready"
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let crm = crm.clone();
        async move {
            let request_id = event.context.request_id.clone();
            let result = handle(&crm, role, event).await;
            // The invocation's metrics, whatever its outcome.
            if let Err(error) = metrics
                .set_property("RequestId", request_id)
                .flush(std::io::stdout().lock())
            {
                tracing::warn!(%error, "could not write the invocation's metrics");
            }
            result
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_asking_for_a_sweep_or_a_cleanup_is_dispatched() {
        let cases = [
            (
                json!({"action": "process_notifications"}),
                Action::ProcessNotifications,
            ),
            (json!({"action": "cleanup"}), Action::Cleanup),
            // What the Python stack's record functions publish on the thiscovery bus.
            (
                json!({"version": "0", "id": "e1", "detail-type": "process_notifications",
                       "source": "thiscovery", "detail": {}}),
                Action::ProcessNotifications,
            ),
            (
                json!({"detail-type": "Scheduled Event",
                       "resources": ["arn:aws:events:eu-west-1:1:rule/s-ProcessNotifications"]}),
                Action::ProcessNotifications,
            ),
            (
                json!({"detail-type": "Scheduled Event",
                       "resources": ["arn:aws:events:eu-west-1:1:rule/s-DailyCleanup"]}),
                Action::Cleanup,
            ),
            (
                json!({"detail-type": "task_signup", "detail": {}}),
                Action::Event,
            ),
            (
                json!({"detail-type": "Auth0 log", "detail": {}}),
                Action::Event,
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(action(&payload), Ok(expected), "{payload}");
        }
        assert!(action(&json!({"action": "dance"})).is_err());
    }

    fn insert(id: &str, kind: Option<&str>) -> Value {
        let mut change = json!({"Keys": {"id": {"S": id}}, "SequenceNumber": "1"});
        if let Some(kind) = kind {
            change["NewImage"] = json!({"id": {"S": id}, "type": {"S": kind},
                                         "processing_status": {"S": "new"}});
        }
        json!({"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
               "awsRegion": "eu-west-1", "dynamodb": change})
    }

    #[test]
    fn a_stream_batch_is_the_ids_of_its_inserts_of_types_this_stack_handles() {
        let mut modify = insert("m", Some("user-login"));
        modify["eventName"] = json!("MODIFY");
        let mut remove = insert("r", None);
        remove["eventName"] = json!("REMOVE");
        let records = json!({"Records": [
            insert("a", Some("user-registration")),
            modify,
            insert("b", None),
            // Another writer's item: left for it.
            insert("p", Some("processing-test")),
            remove,
            insert("a", Some("user-registration")),
            {"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {"Keys": {}}},
            insert("c", Some("transactional-email")),
        ]});
        assert_eq!(
            action(&records),
            Ok(Action::Stream(StreamBatch {
                ids: vec!["a".into(), "b".into(), "c".into()],
                records: 8,
                skipped: 4,
            }))
        );
        assert_eq!(
            action(&json!({"Records": []})),
            Ok(Action::Stream(StreamBatch::default()))
        );
        // Not a stream: refused whole, naming the record.
        let sqs = json!({"Records": [insert("a", None), {"eventSource": "aws:sqs", "body": "{}"}]});
        let err = action(&sqs).unwrap_err();
        assert!(
            err.contains("Records[1]") && err.contains("aws:sqs"),
            "{err}"
        );
        assert!(action(&json!({"Records": {}})).is_err());
    }

    #[test]
    fn the_role_is_all_unless_crm_role_names_another_and_a_bad_one_names_the_variable() {
        assert_eq!(Role::parse(None), Ok(Role::All));
        assert_eq!(Role::parse(Some("all")), Ok(Role::All));
        assert_eq!(Role::parse(Some("ingest")), Ok(Role::Ingest));
        assert_eq!(Role::parse(Some("processor")), Ok(Role::Processor));
        for bad in ["", "Ingest", "sweeper"] {
            let err = Role::parse(Some(bad)).unwrap_err();
            assert!(
                err.contains(ROLE_VAR) && err.contains(&format!("{bad:?}")),
                "{err}"
            );
        }
        for role in [Role::All, Role::Ingest, Role::Processor] {
            assert_eq!(Role::parse(Some(role.as_str())), Ok(role));
        }
    }

    #[test]
    fn ingest_refuses_what_is_not_an_event_naming_the_role() {
        let reason = refused(Role::Ingest, &Action::ProcessNotifications);
        assert!(
            reason.contains("CRM_ROLE=ingest") && reason.contains("CRM_ROLE=processor"),
            "{reason}"
        );
        assert!(refused(Role::Ingest, &Action::Stream(StreamBatch::default())).contains("stream"));
    }
}

//! The stack's AWS Lambda (`provided.al2023`, arm64 or x86_64).
//!
//! One function handles everything, dispatching on the event:
//!
//! | event | action |
//! |---|---|
//! | `detail-type` `Auth0 log`, `task_signup`, `transactional_email`, `custom_email` | record the event as a notification and process it (`Crm::handle`) |
//! | `{"action": "process_notifications"}` (the 5-minute schedule's constant input), an EventBridge event with `detail-type` `process_notifications` (what the Python stack's record functions publish), or a `Scheduled Event` whose rule ARN does not contain `cleanup` | sweep the outbox (`Crm::process_pending`) |
//! | `{"action": "cleanup"}`, or a `Scheduled Event` whose rule ARN contains `cleanup` | delete processed notifications older than 7 days, emails kept (`Crm::cleanup`) |
//!
//! Configuration comes from the environment and, when `SECRETS_NAMESPACE` is set (the
//! template sets `/{env}/`), from the Python stack's Secrets Manager secrets
//! `{ns}hubspot-connection` and `{ns}aws-connection` (see `thiscovery_crm::config`); a missing
//! or malformed variable or secret stops the cold start with one message naming it. Secrets
//! are read once per cold start, and again only when the credential they hold is refused
//! (rotation). Clients (HTTP pools, DynamoDB, Secrets Manager) are built once per cold start. Claims are leased until the invocation's deadline.
//! Logs are JSON lines (CloudWatch-friendly), one per event with its outcome; no secrets and no
//! personal data beyond ids.
//!
//! A malformed event that can never succeed is answered with `outcome: rejected` rather than
//! an error, so EventBridge does not retry it; store failures are errors, so the invocation is
//! retried (recording is idempotent).
//!
//! Build: `cargo lambda build --release --example lambda` (add `--arm64` for Graviton).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use thiscovery_crm::Crm;
use thiscovery_crm::config::StackConfig;
use thiscovery_crm::config::secrets;
use thiscovery_crm::events::Envelope;
use time::OffsetDateTime;

/// What an invocation asks for.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Event,
    ProcessNotifications,
    Cleanup,
}

/// The `detail-type` the Python stack's record functions publish after each put, and its
/// `processnotifications` function sweeps on: it asks for a sweep here too.
const PROCESS_NOTIFICATIONS: &str = "process_notifications";

fn action(payload: &Value) -> Result<Action, String> {
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

/// The invocation's deadline, or `None` when the context has none (a default context's 0).
fn deadline(ms: u64) -> Option<OffsetDateTime> {
    (ms > 0)
        .then(|| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .flatten()
}

async fn handle(crm: &Crm, event: LambdaEvent<Value>) -> Result<Value, Error> {
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
    match action {
        Action::ProcessNotifications => {
            let summary = crm.process_pending_until(deadline).await?;
            let counts = json!({
                "processed": summary.count(thiscovery_crm::notification::ProcessingStatus::Processed),
                "retrying": summary.count(thiscovery_crm::notification::ProcessingStatus::Retrying),
                "dlq": summary.count(thiscovery_crm::notification::ProcessingStatus::Dlq),
                "not_claimed": summary.not_claimed,
            });
            tracing::info!(%request_id, action = "process_notifications", summary = %counts, "invocation");
            Ok(counts)
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
            match crm.handle_until(&envelope, deadline).await {
                Ok(report) => {
                    tracing::info!(
                        %request_id,
                        event_id = envelope.id.as_deref().unwrap_or(""),
                        detail_type = %envelope.detail_type,
                        notification_id = report.notification_id.as_deref().unwrap_or(""),
                        outcome = report.outcome.as_str(),
                        reason = report.reason.as_deref().unwrap_or(""),
                        "event"
                    );
                    Ok(json!({
                        "outcome": report.outcome.as_str(),
                        "notification_id": report.notification_id,
                        "type": report.kind.map(|k| k.as_str()),
                        "reason": report.reason,
                        "hubspot_ref": report.hubspot_ref,
                    }))
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
    tracing::info!(
        stack = %config.stack_name,
        env = %config.crm.env,
        secrets_namespace = config.secrets_namespace.as_deref().unwrap_or(""),
        hubspot_apps = if config.emails_hubspot_auth.is_some() { 2 } else { 1 },
        hubspot_from_secrets = config.hubspot_from_secrets(),
        core_api_key_from_secrets = config.core_api_key_from_secrets(),
        core = %config.core_base_url,
        "ready"
    );
    lambda_runtime::run(service_fn(move |event| {
        let crm = crm.clone();
        async move { handle(&crm, event).await }
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
}

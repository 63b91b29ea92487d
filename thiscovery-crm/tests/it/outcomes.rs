//! What becomes of each item a sweep takes: a 207 fails only the items it names, retryable
//! failures end in the dead-letter status after `max_attempts`, a daily limit costs no
//! attempt, registrations go before logins, and cleanup deletes only old processed items
//! that are not emails. How items are claimed is in `outbox.rs`.

use std::time::Duration;

use crm_testkit::core::ALTHA_EMAIL;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use serde_json::json;
use thiscovery_crm::Outcome;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{Notification, NotificationType, ProcessingStatus};

use crate::common::{Backend, email_event, fixture, record, stack, stack_with};
use crate::on_both_backends;

async fn partial_207_fails_only_the_named_items(backend: Backend) {
    let s = stack(backend).await;
    let emails = ["ok1@example.org", "bad@example.org", "ok2@example.org"];
    for (i, email) in emails.iter().enumerate() {
        let mut event = fixture("auth0-registration");
        event["detail"]["data"]["details"]["body"]["email"] = json!(email);
        event["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
            json!(format!("user-{i}"));
        s.crm
            .record(&Envelope::from_value(event).unwrap())
            .await
            .unwrap();
    }
    // HubSpot answers the batch with a 207: two results and one item error.
    let body = json!({
        "status": "COMPLETE",
        "results": [
            {"id": "501", "properties": {"email": "ok1@example.org"}, "new": true},
            {"id": "502", "properties": {"email": "ok2@example.org"}, "new": true}
        ],
        "numErrors": 1,
        "errors": [{
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid",
            "context": {"ids": ["bad@example.org"]}
        }]
    });
    s.hubspot.inject(
        Endpoint::ContactsBatchUpsert,
        Fault::body(207, "application/json", body.to_string()).times(1),
    );
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(
        summary.count(ProcessingStatus::Processed),
        0,
        "users are not in core: {summary:?}"
    );
    let bad = s.stores.notifications.get("user-1").await.unwrap().unwrap();
    assert_eq!(bad.status, ProcessingStatus::Dlq);
    assert!(bad.error_message.unwrap().contains("VALIDATION_ERROR"));
    // The two that HubSpot accepted got past HubSpot (they fail later only because
    // thiscovery-core does not know these made-up users).
    for id in ["user-0", "user-2"] {
        let item = s.stores.notifications.get(id).await.unwrap().unwrap();
        assert!(
            item.error_message
                .unwrap()
                .contains("writing crm_id back failed"),
            "{id}"
        );
    }
    assert_eq!(s.hubspot.requests_to(Endpoint::ContactsBatchUpsert), 1);
}
on_both_backends!(partial_207_fails_only_the_named_items);

async fn retryable_failures_end_in_dlq_after_max_attempts(backend: Backend) {
    let s = stack(backend).await;
    s.hubspot
        .inject(Endpoint::SingleSend, Fault::status(503).times(1000));
    let id = record(&s.crm, &email_event(7)).await;
    for attempt in 1..=3u32 {
        let summary = s.crm.process_pending().await.unwrap();
        assert_eq!(summary.items.len(), 1);
        let item = s.stores.notifications.get(&id).await.unwrap().unwrap();
        assert_eq!(item.fail_count, attempt);
        let expected = if attempt < 3 {
            ProcessingStatus::Retrying
        } else {
            ProcessingStatus::Dlq
        };
        assert_eq!(item.status, expected);
        let message = item.error_message.unwrap();
        assert!(message.contains("503"), "{message}");
        if attempt == 3 {
            assert!(
                message.starts_with("gave up after 3 failed attempts"),
                "{message}"
            );
        }
    }
    assert!(s.crm.process_pending().await.unwrap().items.is_empty());
}
on_both_backends!(retryable_failures_end_in_dlq_after_max_attempts);

async fn daily_limit_does_not_burn_an_attempt(backend: Backend) {
    let s = stack(backend).await;
    s.hubspot
        .seed_contact(ALTHA_EMAIL, [("firstname", "Altha")]);
    s.hubspot.inject(
        Endpoint::ContactsBatchUpsert,
        Fault::daily_limited().times(1),
    );
    let report = s
        .crm
        .handle(&Envelope::from_value(fixture("auth0-login")).unwrap())
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Retrying, "{report:?}");
    let id = report.notification_id.unwrap();
    let item = s.stores.notifications.get(&id).await.unwrap().unwrap();
    assert_eq!(item.fail_count, 0);
    assert!(item.error_message.unwrap().contains("daily"));
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 1);
}
on_both_backends!(daily_limit_does_not_burn_an_attempt);

async fn registrations_are_processed_before_logins(backend: Backend) {
    let s = stack_with(backend, FakeHubSpot::start().await).await;
    // The login is recorded first, the registration second; one sweep takes both.
    s.crm
        .record(&Envelope::from_value(fixture("auth0-login")).unwrap())
        .await
        .unwrap();
    s.crm
        .record(&Envelope::from_value(fixture("auth0-registration")).unwrap())
        .await
        .unwrap();
    let summary = s.crm.process_pending().await.unwrap();
    let kinds: Vec<NotificationType> = summary.items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        vec![
            NotificationType::UserRegistration,
            NotificationType::UserLogin
        ]
    );
    assert_eq!(summary.count(ProcessingStatus::Processed), 2);
    assert_eq!(s.hubspot.contacts().len(), 1);
}
on_both_backends!(registrations_are_processed_before_logins);

async fn cleanup_keeps_emails_dlq_and_recent_items(backend: Backend) {
    let s = stack(backend).await;
    let long_ago = s.clock.now_time() - Duration::from_secs(8 * 24 * 3600);
    let mut insert = Vec::new();
    for (id, kind, status, when) in [
        (
            "old-login",
            NotificationType::UserLogin,
            ProcessingStatus::Processed,
            long_ago,
        ),
        (
            "old-signup",
            NotificationType::TaskSignup,
            ProcessingStatus::Processed,
            long_ago,
        ),
        (
            "old-email",
            NotificationType::TransactionalEmail,
            ProcessingStatus::Processed,
            long_ago,
        ),
        (
            "old-dlq",
            NotificationType::UserLogin,
            ProcessingStatus::Dlq,
            long_ago,
        ),
        (
            "old-retrying",
            NotificationType::UserLogin,
            ProcessingStatus::Retrying,
            long_ago,
        ),
        (
            "new-login",
            NotificationType::UserLogin,
            ProcessingStatus::Processed,
            s.clock.now_time(),
        ),
    ] {
        let mut n = Notification::new(id, kind, "label", json!({}), when);
        n.status = status;
        insert.push(n);
    }
    for n in &insert {
        s.stores.notifications.put_if_absent(n).await.unwrap();
    }
    let summary = s.crm.cleanup(s.clock.now_time()).await.unwrap();
    assert_eq!(summary.deleted, 2, "{summary:?}");
    assert_eq!(summary.kept_emails, 1);
    for (id, kept) in [
        ("old-login", false),
        ("old-signup", false),
        ("old-email", true),
        ("old-dlq", true),
        ("old-retrying", true),
        ("new-login", true),
    ] {
        assert_eq!(
            s.stores.notifications.get(id).await.unwrap().is_some(),
            kept,
            "{id}"
        );
    }
}
on_both_backends!(cleanup_keeps_emails_dlq_and_recent_items);

//! Malformed events: rejected with a message naming the field when nothing can be recorded,
//! recorded and dead-lettered with the reason when they can.

use serde_json::{Value, json};
use thiscovery_crm::events::{Envelope, EventError};
use thiscovery_crm::notification::ProcessingStatus;
use thiscovery_crm::{HandleError, Outcome};

use crate::common::{Backend, fixture, stack};

fn without(mut event: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    event
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    event
}

#[tokio::test]
async fn events_with_nothing_to_record_are_rejected_naming_the_field() {
    let s = stack(Backend::Memory).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            without(fixture("auth0-login"), "/detail-type"),
            "detail-type",
        ),
        (without(fixture("auth0-login"), "/detail"), "detail"),
        (
            without(fixture("auth0-login"), "/detail/data/type"),
            "detail.data.type",
        ),
        (without(fixture("auth0-login"), "/id"), "id"),
        (
            without(
                fixture("auth0-registration"),
                "/detail/data/details/body/user_metadata/citsci_uuid",
            ),
            "detail.data.details.body.user_metadata.citsci_uuid",
        ),
        (without(fixture("task-signup"), "/detail/id"), "detail.id"),
        (
            without(fixture("transactional-email-to-address"), "/id"),
            "id",
        ),
    ];
    for (event, field) in cases {
        let err = match Envelope::from_value(event) {
            Err(e) => HandleError::Rejected(e),
            Ok(envelope) => s.crm.handle(&envelope).await.unwrap_err(),
        };
        let HandleError::Rejected(e) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(e.field(), Some(field), "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let mut unknown = fixture("auth0-login");
    unknown["detail-type"] = json!("something_else");
    let err = s
        .crm
        .handle(&Envelope::from_value(unknown).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        HandleError::Rejected(EventError::UnsupportedDetailType(_))
    ));
    assert!(s.nothing_pending().await);
}

#[tokio::test]
async fn identifiable_bad_events_are_recorded_and_dead_lettered() {
    let s = stack(Backend::Memory).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut e = fixture("auth0-registration");
                e["detail"]["data"]["details"]["body"]["email"] = json!("not-an-email");
                e
            },
            "detail.data.details.body.email",
        ),
        (
            without(fixture("auth0-login"), "/detail/data/user_name"),
            "detail.data.user_name",
        ),
        (
            {
                let mut e = fixture("auth0-login");
                e["detail"]["data"]["date"] = json!("last tuesday");
                e
            },
            "detail.data.date",
        ),
        (
            without(fixture("task-signup"), "/detail/extra_data/project_name"),
            "detail.extra_data.project_name",
        ),
        (
            without(
                fixture("transactional-email-to-address"),
                "/detail/to_recipient_email",
            ),
            "detail.to_recipient_id",
        ),
        (
            {
                let mut e = fixture("transactional-email-to-address");
                e["detail"]["to_recipient_email"] = json!("nobody at example");
                e
            },
            "detail.to_recipient_email",
        ),
        (
            without(fixture("custom-email"), "/detail/template_name"),
            "detail.template_name",
        ),
    ];
    for (i, (mut event, field)) in cases.into_iter().enumerate() {
        if event.get("id").is_some() {
            event["id"] = json!(format!("bad-event-{i}"));
        }
        let report = s.handle_json(event).await;
        assert_eq!(report.outcome, Outcome::Dlq, "{field}: {report:?}");
        let reason = report.reason.clone().unwrap();
        assert!(reason.contains(field), "{field}: {reason}");
        let item = s.item_of(&report).await;
        assert_eq!(item.status, ProcessingStatus::Dlq);
        assert_eq!(item.error_message.as_deref(), Some(reason.as_str()));
    }
    assert!(
        s.hubspot.journal().is_empty(),
        "nothing bad reached HubSpot"
    );
}

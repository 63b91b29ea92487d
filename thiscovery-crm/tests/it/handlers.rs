//! Every handler, driven by the real fixture events, on both store implementations:
//! what HubSpot received and the final item state.

use std::time::Duration;

use crm_testkit::core::{
    ALTHA_ANON_PROJECT_SPECIFIC_USER_ID, ALTHA_EMAIL, ALTHA_USER_ID, CUSTOM_EMAIL_TASK_ID,
    DEFAULT_PROJECT_NAME, STEVEN_USER_ID,
};
use crm_testkit::hubspot::{Endpoint, FakeHubSpot};
use serde_json::json;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{NotificationType, ProcessingStatus};
use thiscovery_crm::{CrmConfig, Outcome};

use thiscovery_crm::clock::Clock;
use thiscovery_crm::timestamp;

use crate::common::{Backend, ENV, envelope, fixture, record, stack};
use crate::on_both_backends;

async fn registration(backend: Backend) {
    let s = stack(backend).await;
    let report = s.crm.handle(&envelope("auth0-registration")).await.unwrap();
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    assert_eq!(report.notification_id.as_deref(), Some(ALTHA_USER_ID));
    let contact = s.hubspot.contact_by_email(ALTHA_EMAIL).unwrap();
    assert_eq!(report.hubspot_ref.as_deref(), Some(contact.id.as_str()));
    let p = &contact.properties;
    assert_eq!(p["firstname"], "Altha");
    assert_eq!(p["lastname"], "Alcorn");
    assert_eq!(p["thiscovery_id"], ALTHA_USER_ID);
    assert_eq!(p["country"], "United Kingdom");
    // As the Python stack sends it: the item's details.created, to the whole second.
    let recorded = timestamp::format(s.clock.now());
    let whole_second = timestamp::python_epoch_millis(&recorded).unwrap();
    assert_eq!(p["thiscovery_registered_date"], whole_second.to_string());
    // The HubSpot id is written back to thiscovery-core.
    let patches = s.core.crm_id_patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].user_id, ALTHA_USER_ID);
    assert_eq!(patches[0].crm_id, json!(contact.id));
    let item = s
        .stores
        .notifications
        .get(ALTHA_USER_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status, ProcessingStatus::Processed);
    assert_eq!(item.kind, NotificationType::UserRegistration);
    assert_eq!(item.label, ALTHA_EMAIL);
    // The Python stack's derived details: its eight keys, all strings.
    assert_eq!(
        item.details,
        json!({"created": recorded, "email": ALTHA_EMAIL, "event_time": fixture("auth0-registration")["time"],
               "first_name": "Altha", "last_name": "Alcorn", "country_code": "GB",
               "country_name": "United Kingdom", "id": ALTHA_USER_ID})
    );
    assert_eq!(item.lease_owner, None);
}
on_both_backends!(registration);

async fn login(backend: Backend) {
    let s = stack(backend).await;
    let id = s
        .hubspot
        .seed_contact(ALTHA_EMAIL, [("firstname", "Altha")]);
    let report = s.crm.handle(&envelope("auth0-login")).await.unwrap();
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    let contact = s.hubspot.contact(&id).unwrap();
    // detail.data.date 2021-01-16T12:12:30.147Z to the whole second, as the Python stack
    // sends it.
    assert_eq!(
        contact.properties["thiscovery_last_login_date"],
        "1610799150000"
    );
    assert_eq!(contact.properties["firstname"], "Altha");
    assert_eq!(s.hubspot.contacts().len(), 1);
    let item = s.item_of(&report).await;
    assert_eq!(item.kind, NotificationType::UserLogin);
    assert_eq!(item.status, ProcessingStatus::Processed);
    // The Python stack's details: core's user record without has_demo_project,
    // has_live_project and title, plus login_datetime.
    let mut expected = s.core.user(ALTHA_USER_ID).unwrap();
    for key in ["has_demo_project", "has_live_project", "title"] {
        expected.as_object_mut().unwrap().remove(key);
    }
    expected["login_datetime"] = json!("2021-01-16 12:12:30.147");
    assert_eq!(item.details, expected);
    assert_eq!(item.label, ALTHA_EMAIL);
}
on_both_backends!(login);

async fn login_never_creates_a_contact(backend: Backend) {
    let s = stack(backend).await;
    // Altha is in thiscovery-core but not in HubSpot.
    let report = s.crm.handle(&envelope("auth0-login")).await.unwrap();
    assert_eq!(report.outcome, Outcome::Retrying, "{report:?}");
    assert!(
        report.reason.as_deref().unwrap().contains("never creates"),
        "{report:?}"
    );
    assert!(s.hubspot.contacts().is_empty());
    assert_eq!(s.hubspot.requests_to(Endpoint::ContactsBatchUpsert), 0);
    // It is retried up to the attempt limit, then dead-lettered with the reason; no contact
    // is created on the way.
    for _ in 0..3 {
        s.crm.process_pending().await.unwrap();
    }
    let item = s.item_of(&report).await;
    assert_eq!(item.status, ProcessingStatus::Dlq);
    assert!(item.error_message.unwrap().contains("never creates"));
    assert!(s.hubspot.contacts().is_empty());
}
on_both_backends!(login_never_creates_a_contact);

async fn task_signup(backend: Backend) {
    let s = stack(backend).await;
    let contact_id = s
        .hubspot
        .seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    let mut event = fixture("task-signup");
    event["detail"]["extra_data"]["crm_id"] = json!(contact_id);
    let report = s.handle_json(event).await;
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    let user_task_id = "9620089b-e9a4-46fd-bb78-091c8449d777";
    assert_eq!(report.notification_id.as_deref(), Some(user_task_id));
    let events = s.hubspot.timeline_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.id, user_task_id);
    assert_eq!(e.event_template_id, FakeHubSpot::TIMELINE_TEMPLATE_ID);
    assert_eq!(e.object_id, contact_id);
    assert_eq!(e.tokens["project_name"], "PSFU-05-pub-act");
    assert_eq!(e.tokens["task_name"], "PSFU-05-A");
    assert_eq!(e.tokens["task_type_name"], "Photo upload");
    assert_eq!(e.tokens["signup_event_type"], "Sign-up");
    assert!(
        e.timestamp.starts_with("2018-06-13T14:15:16.171819"),
        "{}",
        e.timestamp
    );
    let item = s
        .stores
        .notifications
        .get(user_task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.label, "dceac123-03a7-4e29-ab5a-739e347b374d");
}
on_both_backends!(task_signup);

async fn task_signup_without_crm_id_reads_it_from_core(backend: Backend) {
    let s = stack(backend).await;
    // Steven is a HubSpot contact; core does not know his crm_id yet.
    let contact_id = s
        .hubspot
        .seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    let mut steven = s.core.user(STEVEN_USER_ID).unwrap();
    steven["crm_id"] = json!(null);
    s.core.seed_user(steven);
    let mut event = fixture("task-signup");
    event["detail"]["extra_data"]["crm_id"] = json!(null);
    event["detail"]["user_id"] = json!(STEVEN_USER_ID);
    let report = s.handle_json(event).await;
    // Retried (never addressed by email, which could create a contact)...
    assert_eq!(report.outcome, Outcome::Retrying, "{report:?}");
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("does not have a crm_id yet"),
        "{report:?}"
    );
    assert!(s.hubspot.timeline_events().is_empty());
    assert_eq!(s.hubspot.contacts().len(), 1);
    // ...until core has it: then the event goes on that contact.
    let mut steven = s.core.user(STEVEN_USER_ID).unwrap();
    steven["crm_id"] = json!(contact_id);
    s.core.seed_user(steven);
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 1, "{summary:?}");
    let events = s.hubspot.timeline_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].object_id, contact_id);
    assert_eq!(s.hubspot.contacts().len(), 1);
}
on_both_backends!(task_signup_without_crm_id_reads_it_from_core);

async fn transactional_email_to_an_address(backend: Backend) {
    let s = stack(backend).await;
    let report = s
        .crm
        .handle(&envelope("transactional-email-to-address"))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    let sent = s.hubspot.sent_emails();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(email.email_id, 33531457008);
    assert_eq!(email.to, "thiscovery_dev@email.com");
    assert_eq!(
        email.from.as_deref(),
        Some("Sender Name <sender@hubspot.com>")
    );
    assert_eq!(email.cc, vec!["this_researcher@email.com"]);
    assert_eq!(email.bcc, vec!["thiscovery_dev@email.com"]);
    assert_eq!(email.send_id.as_deref(), report.notification_id.as_deref());
    assert_eq!(
        report.hubspot_ref.as_deref(),
        Some(email.status_id.as_str())
    );
    let item = s.item_of(&report).await;
    assert_eq!(
        item.label,
        "unittests_email_template_1_thiscovery_dev@email.com"
    );
    assert_eq!(item.kind, NotificationType::TransactionalEmail);
}
on_both_backends!(transactional_email_to_an_address);

async fn transactional_email_to_a_user_needs_a_crm_id(backend: Backend) {
    let s = stack(backend).await;
    // Altha has no crm_id yet: retried, as the Python stack does.
    let report = s
        .crm
        .handle(&envelope("transactional-email-to-user"))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Retrying, "{report:?}");
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("does not have a HubSpot id"),
        "{report:?}"
    );
    assert!(s.hubspot.sent_emails().is_empty());

    // Once her registration wrote the crm_id back, the retry sends it.
    s.crm.handle(&envelope("auth0-registration")).await.unwrap();
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 1, "{summary:?}");
    assert_eq!(s.hubspot.sent_emails().len(), 1);
    assert_eq!(s.hubspot.sent_emails()[0].to, ALTHA_EMAIL);
}
on_both_backends!(transactional_email_to_a_user_needs_a_crm_id);

async fn custom_email(backend: Backend) {
    let s = stack(backend).await;
    s.crm.handle(&envelope("auth0-registration")).await.unwrap();
    let report = s.crm.handle(&envelope("custom-email")).await.unwrap();
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    let sent = s.hubspot.sent_emails();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ALTHA_EMAIL);
    let custom = &sent[0].custom_properties;
    assert_eq!(custom["file_name"], "Interview form");
    assert_eq!(custom["file_download_url"], "https://www.thiscovery.org");
    // Looked up from the project task.
    assert_eq!(custom["project_name"], "PSFU-05-pub-act");
}
on_both_backends!(custom_email);

async fn verification_is_ignored(backend: Backend) {
    let s = stack(backend).await;
    let report = s.crm.handle(&envelope("auth0-verification")).await.unwrap();
    assert_eq!(report.outcome, Outcome::Ignored);
    assert!(report.reason.unwrap().contains("\"sv\""));
    assert_eq!(report.notification_id, None);
    assert!(s.nothing_pending().await);
    assert!(s.hubspot.journal().is_empty());
}
on_both_backends!(verification_is_ignored);

async fn duplicate_event_is_one_item_and_one_effect(backend: Backend) {
    let s = stack(backend).await;
    let first = s
        .crm
        .handle(&envelope("transactional-email-to-address"))
        .await
        .unwrap();
    let second = s
        .crm
        .handle(&envelope("transactional-email-to-address"))
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Processed);
    assert_eq!(second.outcome, Outcome::Duplicate);
    assert_eq!(first.notification_id, second.notification_id);
    assert_eq!(s.hubspot.sent_emails().len(), 1);
    assert_eq!(s.hubspot.requests_to(Endpoint::SingleSend), 1);

    let first = s.crm.handle(&envelope("auth0-registration")).await.unwrap();
    let again = s.crm.record(&envelope("auth0-registration")).await.unwrap();
    assert_eq!(first.outcome, Outcome::Processed);
    assert!(matches!(again, thiscovery_crm::Recorded::Duplicate { .. }));
    assert_eq!(s.hubspot.requests_to(Endpoint::ContactsBatchUpsert), 1);
}
on_both_backends!(duplicate_event_is_one_item_and_one_effect);

async fn unknown_template_is_dead_lettered(backend: Backend) {
    let s = stack(backend).await;
    let mut event = fixture("transactional-email-to-address");
    event["detail"]["template_name"] = json!("no_such_template");
    let report = s.handle_json(event).await;
    assert_eq!(report.outcome, Outcome::Dlq);
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("template \"no_such_template\" not found")
    );
    let item = s.item_of(&report).await;
    assert_eq!(item.status, ProcessingStatus::Dlq);
    assert_eq!(item.error_message, report.reason);
    assert!(s.hubspot.sent_emails().is_empty());
}
on_both_backends!(unknown_template_is_dead_lettered);

async fn undeclared_and_missing_properties_are_dead_lettered(backend: Backend) {
    let s = stack(backend).await;
    let mut event = fixture("transactional-email-to-address");
    event["detail"]["custom_properties"]["surprise"] = json!("x");
    let report = s.handle_json(event).await;
    assert_eq!(report.outcome, Outcome::Dlq);
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("\"surprise\" is not declared"),
        "{report:?}"
    );

    let mut event = fixture("transactional-email-to-address");
    event["id"] = json!("another-id");
    event["detail"]["custom_properties"]
        .as_object_mut()
        .unwrap()
        .remove("project_task_name");
    let report = s.handle_json(event).await;
    assert_eq!(report.outcome, Outcome::Dlq);
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("\"project_task_name\""),
        "{report:?}"
    );
    assert!(s.hubspot.sent_emails().is_empty());
}
on_both_backends!(undeclared_and_missing_properties_are_dead_lettered);

async fn anonymous_recipient_and_project_task_id_in_custom_properties(backend: Backend) {
    let s = stack(backend).await;
    let mut altha = s.core.user(ALTHA_USER_ID).unwrap();
    altha["crm_id"] = json!("1001");
    s.core.seed_user(altha);
    // A transactional email shaped as the Python stack's custom-email path writes it: the
    // anonymous project-specific id in to_recipient_id, project_task_id inside
    // custom_properties.
    let event = json!({
        "id": "anon-recipient-event", "detail-type": "transactional_email", "source": "thiscovery",
        "time": "2021-07-08T21:20:43Z",
        "detail": {"template_name": "test_custom_email", "to_recipient_id": ALTHA_ANON_PROJECT_SPECIFIC_USER_ID,
                   "custom_properties": {"file_name": "Interview form", "file_description": "Consent",
                                         "file_instruction": "Read it", "file_download_url": "https://example.org/f",
                                         "project_task_id": CUSTOM_EMAIL_TASK_ID}}
    });
    let report = s.handle_json(event).await;
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    let sent = s.hubspot.sent_emails();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ALTHA_EMAIL);
    assert_eq!(
        sent[0].custom_properties["project_name"],
        DEFAULT_PROJECT_NAME
    );
    // As the Python stack: the user id first, then the anonymous id.
    let paths: Vec<String> = s
        .core
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect();
    let by_id = format!("/v1/user/{ALTHA_ANON_PROJECT_SPECIFIC_USER_ID}");
    let first = paths.iter().position(|p| *p == by_id);
    let then = paths.iter().position(|p| p == "/v1/user");
    assert!(
        first.is_some() && then.is_some() && first < then,
        "{paths:?}"
    );
    let item = s.item_of(&report).await;
    assert_eq!(
        item.label,
        format!("test_custom_email_{ALTHA_ANON_PROJECT_SPECIFIC_USER_ID}")
    );
}
on_both_backends!(anonymous_recipient_and_project_task_id_in_custom_properties);

async fn crm_id_write_back_404_is_retried_then_dead_lettered(backend: Backend) {
    let s = stack(backend).await;
    let registration = |user_id: &str, email: &str| {
        let mut e = fixture("auth0-registration");
        e["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] = json!(user_id);
        e["detail"]["data"]["details"]["body"]["email"] = json!(email);
        e
    };
    // Core does not have either user yet.
    let late = "5f4e3d2c-1b0a-4988-8776-655443322110";
    let never = "6a5b4c3d-2e1f-4a09-8b7c-6d5e4f3a2b10";
    let report = s.handle_json(registration(late, "late@email.co.uk")).await;
    assert_eq!(report.outcome, Outcome::Retrying, "{report:?}");
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("writing crm_id back failed"),
        "{report:?}"
    );
    let report = s
        .handle_json(registration(never, "never@email.co.uk"))
        .await;
    assert_eq!(report.outcome, Outcome::Retrying, "{report:?}");
    // Core gets the first user: the retry upserts the same contact again (idempotent) and
    // writes its id back.
    s.core
        .seed_user(json!({"id": late, "email": "late@email.co.uk", "crm_id": null}));
    s.crm.process_pending().await.unwrap();
    s.crm.process_pending().await.unwrap();
    let contact = s.hubspot.contact_by_email("late@email.co.uk").unwrap();
    assert_eq!(s.core.user(late).unwrap()["crm_id"], json!(contact.id));
    let late_item = s.stores.notifications.get(late).await.unwrap().unwrap();
    assert_eq!(late_item.status, ProcessingStatus::Processed);
    // The other one gives up after the attempt limit, with the reason.
    let never_item = s.stores.notifications.get(never).await.unwrap().unwrap();
    assert_eq!(never_item.status, ProcessingStatus::Dlq);
    assert_eq!(never_item.fail_count, 3);
    let message = never_item.error_message.unwrap();
    assert!(message.contains("writing crm_id back failed"), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert_eq!(s.hubspot.contacts().len(), 2);
}
on_both_backends!(crm_id_write_back_404_is_retried_then_dead_lettered);

async fn an_email_older_than_the_max_age_is_not_sent(backend: Backend) {
    let s = stack(backend).await;
    let old = record(&s.crm, &envelope("transactional-email-to-address")).await;
    let mut young_event = fixture("transactional-email-to-address");
    young_event["id"] = json!("a-younger-email");
    let young = record(&s.crm, &Envelope::from_value(young_event).unwrap()).await;
    // Recorded 73 hours ago (as if the Python stack left it behind at cut-over)...
    s.clock.advance(Duration::from_secs(73 * 3600));
    // ...while a registration as old is still applied.
    let summary = s
        .crm
        .process_ids(std::slice::from_ref(&old), None)
        .await
        .unwrap();
    assert_eq!(summary.items[0].status, ProcessingStatus::Dlq);
    let item = s.stores.notifications.get(&old).await.unwrap().unwrap();
    assert_eq!(item.error_message.as_deref(), Some("expired: not sent"));
    assert!(s.hubspot.sent_emails().is_empty());
    // The age is configurable.
    let mut config = CrmConfig::for_env(ENV);
    config.email_max_age = Duration::from_secs(100 * 3600);
    let patient = s.crm.clone().with_config(config);
    let summary = patient
        .process_ids(std::slice::from_ref(&young), None)
        .await
        .unwrap();
    assert_eq!(summary.items[0].status, ProcessingStatus::Processed);
    assert_eq!(s.hubspot.sent_emails().len(), 1);
}
on_both_backends!(an_email_older_than_the_max_age_is_not_sent);

/// HubSpot's write validation rules (enforced from 2026-09): a refused contact write is
/// dead-lettered with a reason that names the rule and the property, not just "400".
async fn a_validation_rule_refusal_names_the_rule_and_the_property(backend: Backend) {
    let s = stack(backend).await;
    let body = json!({
        "status": "COMPLETE", "results": [], "numErrors": 1,
        "startedAt": "2026-12-01T00:00:00Z", "completedAt": "2026-12-01T00:00:01Z",
        "errors": [{
            "status": "error", "category": "VALIDATION_ERROR",
            "message": "lifecyclestage is required because of a conditional property rule based on [country]",
            "context": {"ids": [ALTHA_EMAIL]}, "links": {},
            "errors": [{"message": "lifecyclestage is required",
                        "code": "MISSING_CONDITIONAL_REQUIRED_PROPERTY",
                        "context": {"propertyName": ["lifecyclestage"]}}]
        }]
    });
    s.hubspot.inject(
        Endpoint::ContactsBatchUpsert,
        crm_testkit::hubspot::Fault::body(207, "application/json", body.to_string()),
    );
    let report = s.crm.handle(&envelope("auth0-registration")).await.unwrap();
    assert_eq!(report.outcome, Outcome::Dlq, "{report:?}");
    let reason = report.reason.unwrap();
    assert!(reason.contains("VALIDATION_ERROR"), "{reason}");
    assert!(
        reason.contains("MISSING_CONDITIONAL_REQUIRED_PROPERTY (property lifecyclestage)"),
        "{reason}"
    );
}
on_both_backends!(a_validation_rule_refusal_names_the_rule_and_the_property);

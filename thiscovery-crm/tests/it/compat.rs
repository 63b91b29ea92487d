//! Drop-in over the Python stack (issue #13), on DynamoDB Local: items exactly as
//! `shared/COMPAT-PYTHON.md` shows the Python stack writes them (every type, every status,
//! `processing` without a lease, `processing-test`), one sweep and one cleanup, then each
//! HubSpot effect and final status; and every item this stack wrote, read back the way the
//! Python stack reads it (same keys, DynamoDB types and formats).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use crm_testkit::core::{
    ALTHA_ANON_PROJECT_SPECIFIC_USER_ID, ALTHA_EMAIL, ALTHA_USER_ID, CUSTOM_EMAIL_TASK_ID,
    DEFAULT_PROJECT_NAME,
};
use serde_json::{Value, json};
use thiscovery_crm::notification::ProcessingStatus;
use thiscovery_crm::store::dynamodb::{Item, json_to_attr};
use thiscovery_crm::timestamp;
use time::OffsetDateTime;

use crate::common::{Backend, Stack, fixture, stack};

/// A notification item as the Python stack's boto3 resource layer writes it: strings S,
/// integers N, maps M, `null` NULL.
fn python_item(item: Value) -> Item {
    item.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json_to_attr(v)))
        .collect()
}

async fn put_raw(s: &Stack, item: Item) {
    let (client, tables) = s.stores.dynamo.as_ref().unwrap();
    client
        .put_item()
        .table_name(&tables.notifications)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

async fn scan(s: &Stack) -> HashMap<String, Item> {
    let (client, tables) = s.stores.dynamo.as_ref().unwrap();
    let items = client
        .scan()
        .table_name(&tables.notifications)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    items
        .into_iter()
        .map(|item| (item["id"].as_s().unwrap().clone(), item))
        .collect()
}

/// `t` in the Python stack's `str(datetime)` form.
fn py_time(t: OffsetDateTime) -> String {
    timestamp::format(t)
}

/// The Python stack's item, with its status and times.
fn item(
    id: &str,
    kind: &str,
    label: &str,
    status: &str,
    created: &str,
    details: Value,
) -> serde_json::Map<String, Value> {
    json!({"id": id, "type": kind, "label": label, "processing_status": status,
           "created": created, "modified": created, "details": details})
    .as_object()
    .unwrap()
    .clone()
}

const REGISTRATION: &str = "d1070e81-557e-40eb-a7ba-b951ddb7ebdc";
const LOGIN: &str = "5b0f3f7e-2a51-4f57-9d5e-1c0c8f8a3b11";
const SIGNUP: &str = "9620089b-e9a4-46fd-bb78-091c8449d777";
const EMAIL: &str = "0b6e2b55-5a1e-4f0e-9f3a-2f6f8e3b2c44";
const CUSTOM: &str = "7c1f0a8e-6a53-4b5e-9d0e-3f2b1c4d5e6f";
const EXPIRED: &str = "1e2d3c4b-5a69-4877-8695-a4b3c2d1e0f9";
const OLD_SHAPE: &str = "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d";
const TEST: &str = "test_simultaneous_notification_processing_notification";
const OLD_PROCESSED: &str = "old-processed-registration";
const OLD_TEST: &str = "old-processed-processing-test";
const OLD_EMAIL: &str = "old-processed-email";
const OLD_DLQ: &str = "old-dlq-login";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_items_are_processed_cleaned_and_stay_python_readable() {
    let s = stack(Backend::Dynamo).await;
    let now = s.clock.now_time();
    let recent = py_time(now - Duration::from_secs(3600));
    let old = py_time(now - Duration::from_secs(10 * 24 * 3600));
    let steven = s
        .hubspot
        .seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    s.core.seed_user(
        json!({"id": OLD_SHAPE, "email": "olga@email.co.uk", "first_name": "Olga",
                            "last_name": "Old", "crm_id": null, "title": "Ms",
                            "has_demo_project": false, "has_live_project": false}),
    );

    // §1.2: a registration, as the Python stack writes it.
    let registration = item(
        REGISTRATION,
        "user-registration",
        ALTHA_EMAIL,
        "new",
        "2022-02-25 10:48:44.512034+00:00",
        json!({"created": "2022-02-25 10:48:44.498211+00:00", "email": ALTHA_EMAIL,
               "event_time": "2022-02-25T10:48:43Z", "first_name": "Altha", "last_name": "Alcorn",
               "country_code": "GB-ENG", "country_name": "United Kingdom - England",
               "id": REGISTRATION}),
    );
    // §1.3: a login (core's user record plus login_datetime).
    let login = item(
        LOGIN,
        "user-login",
        ALTHA_EMAIL,
        "new",
        "2021-01-16 12:12:44.100233+00:00",
        json!({"id": REGISTRATION, "created": "2018-08-17T12:10:56.798192+00:00",
               "modified": "2018-08-17T12:10:56.833885+00:00", "email": ALTHA_EMAIL,
               "first_name": "Altha", "last_name": "Alcorn", "country_code": "GB",
               "country_name": "United Kingdom", "auth0_id": null, "crm_id": null, "status": null,
               "avatar_string": "AA", "login_datetime": "2021-01-16 12:12:30.147"}),
    );
    // §1.4: a task signup the Python stack already failed once (`processing_fail_count` N).
    let mut signup = item(
        SIGNUP,
        "task-signup",
        "dceac123-03a7-4e29-ab5a-739e347b374d",
        "retrying",
        "2021-07-08 21:20:44.301117+00:00",
        json!({"id": SIGNUP, "created": "2018-06-13 14:15:16.171819+00",
               "user_id": "dceac123-03a7-4e29-ab5a-739e347b374d",
               "project_task_id": "6cf2f34e-e73f-40b1-99a1-d06c1f24381a", "status": "active",
               "extra_data": {"project_id": "5907275b-6d75-4ec0-ada8-5854b44fb955",
                              "project_name": "PSFU-05-pub-act",
                              "task_id": "6cf2f34e-e73f-40b1-99a1-d06c1f24381a",
                              "task_name": "PSFU-05-A",
                              "task_type_id": "a5537c85-7d29-4500-9986-ddc18b27d46f",
                              "task_type_name": "Photo upload", "crm_id": steven}}),
    );
    signup.insert("processing_fail_count".into(), json!(1));
    signup.insert(
        "processing_error_message".into(),
        json!("Hubspot call returned HTTP code 502"),
    );
    // §1.5: an email the Python stack left in `processing` (no lease) an hour ago.
    let email = item(
        EMAIL,
        "transactional-email",
        &format!("unittests_email_template_1_{ALTHA_USER_ID}"),
        "processing",
        &recent,
        json!({"template_name": "unittests_email_template_1", "to_recipient_id": ALTHA_USER_ID,
               "custom_properties": {"project_task_description": "Systematic review for CTG monitoring",
                                     "project_task_name": "CTG Monitoring",
                                     "project_results_url": "https://www.thiscovery.org/"}}),
    );
    // §5.7: a Qualtrics custom email as the Python stack stores it: the anonymous id as
    // to_recipient_id, project_task_id inside custom_properties.
    let custom = item(
        CUSTOM,
        "transactional-email",
        &format!("test_custom_email_{ALTHA_ANON_PROJECT_SPECIFIC_USER_ID}"),
        "new",
        &recent,
        json!({"to_recipient_id": ALTHA_ANON_PROJECT_SPECIFIC_USER_ID, "template_name": "test_custom_email",
               "custom_properties": {"file_name": "Interview form", "file_description": "Consent",
                                     "file_instruction": "Read it", "file_download_url": "https://example.org/f",
                                     "project_task_id": CUSTOM_EMAIL_TASK_ID}}),
    );
    // An email left in `processing` four days ago: too old to send at cut-over.
    let mut expired = email.clone();
    expired.insert("id".into(), json!(EXPIRED));
    let four_days_ago = py_time(now - Duration::from_secs(4 * 24 * 3600));
    expired.insert("created".into(), json!(four_days_ago));
    expired.insert("modified".into(), json!(four_days_ago));
    // §1.2's older 6-key shape.
    let old_shape = item(
        OLD_SHAPE,
        "user-registration",
        "olga@email.co.uk",
        "new",
        "2022-06-23 10:00:01.000002+00:00",
        json!({"email": "olga@email.co.uk", "event_time": "2022-06-23T10:00:00Z",
               "first_name": "Olga", "last_name": "Old", "country_name": "GB", "id": OLD_SHAPE}),
    );
    // §1.6: the Python tests' processing-test item.
    let test = item(TEST, "processing-test", TEST, "new", &recent, json!({}));
    // Old items for the cleanup.
    let old_processed = item(
        OLD_PROCESSED,
        "user-registration",
        "x@email.co.uk",
        "processed",
        &old,
        json!({}),
    );
    let old_test = item(
        OLD_TEST,
        "processing-test",
        OLD_TEST,
        "processed",
        &old,
        json!({}),
    );
    let old_email = item(
        OLD_EMAIL,
        "transactional-email",
        "t_x",
        "processed",
        &old,
        json!({}),
    );
    let mut old_dlq = item(OLD_DLQ, "user-login", "x", "dlq", &old, json!({}));
    old_dlq.insert("processing_fail_count".into(), json!(3));
    old_dlq.insert("processing_error_message".into(), json!("boom"));

    let seeded = [
        registration,
        login,
        signup,
        email,
        custom,
        expired,
        old_shape,
        test,
        old_processed,
        old_test,
        old_email,
        old_dlq,
    ];
    for it in &seeded {
        put_raw(&s, python_item(Value::Object(it.clone()))).await;
    }
    let test_before = scan(&s).await.remove(TEST).unwrap();

    // One sweep.
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.store_errors, 0, "{summary:?}");
    let statuses: HashMap<String, ProcessingStatus> = summary
        .items
        .iter()
        .map(|i| (i.id.clone(), i.status))
        .collect();
    let expected = [
        (REGISTRATION, ProcessingStatus::Processed),
        (LOGIN, ProcessingStatus::Processed),
        (SIGNUP, ProcessingStatus::Processed),
        (EMAIL, ProcessingStatus::Processed),
        (CUSTOM, ProcessingStatus::Processed),
        (EXPIRED, ProcessingStatus::Dlq),
        (OLD_SHAPE, ProcessingStatus::Processed),
    ];
    for (id, status) in expected {
        assert_eq!(statuses.get(id), Some(&status), "{id}: {summary:?}");
    }
    assert_eq!(summary.items.len(), expected.len(), "{summary:?}");

    // HubSpot's effects. The registration: the contact, with the Python stack's values.
    let altha = s.hubspot.contact_by_email(ALTHA_EMAIL).unwrap();
    let p = &altha.properties;
    assert_eq!(p["firstname"], "Altha");
    assert_eq!(p["lastname"], "Alcorn");
    assert_eq!(p["thiscovery_id"], REGISTRATION);
    assert_eq!(p["country"], "United Kingdom - England");
    // details.created 2022-02-25 10:48:44.498211 to the whole second.
    assert_eq!(p["thiscovery_registered_date"], "1645786124000");
    // The login, on that contact, to the whole second.
    assert_eq!(p["thiscovery_last_login_date"], "1610799150000");
    let patches = s.core.crm_id_patches();
    assert!(
        patches
            .iter()
            .any(|p| p.user_id == REGISTRATION && p.crm_id == json!(altha.id)),
        "{patches:?}"
    );
    // The older shape: the code in country_name becomes its name.
    let olga = s.hubspot.contact_by_email("olga@email.co.uk").unwrap();
    assert_eq!(olga.properties["country"], "United Kingdom");
    assert_eq!(
        olga.properties["thiscovery_registered_date"],
        "1655978400000"
    );
    // The signup: a timeline event on the contact its crm_id names.
    let events = s.hubspot.timeline_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, SIGNUP);
    assert_eq!(events[0].object_id, steven);
    // The two emails, sent once each with the notification id as sendId; the expired one
    // not at all.
    let sent = s.hubspot.sent_emails();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let by_send_id = |id: &str| {
        sent.iter()
            .find(|e| e.send_id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no email with sendId {id}: {sent:?}"))
    };
    assert_eq!(by_send_id(EMAIL).to, ALTHA_EMAIL);
    assert_eq!(
        by_send_id(EMAIL).custom_properties["project_task_name"],
        "CTG Monitoring"
    );
    let custom = by_send_id(CUSTOM);
    // The anonymous id resolved to Altha; project_task_id resolved to the project's name,
    // and sent along as the Python stack sends it.
    assert_eq!(custom.to, ALTHA_EMAIL);
    assert_eq!(
        custom.custom_properties["project_name"],
        DEFAULT_PROJECT_NAME
    );
    assert_eq!(custom.custom_properties["file_name"], "Interview form");
    assert_eq!(
        custom.custom_properties["project_task_id"],
        CUSTOM_EMAIL_TASK_ID
    );

    let after = scan(&s).await;
    let expired = &after[EXPIRED];
    assert_eq!(expired["processing_status"].as_s().unwrap(), "dlq");
    assert_eq!(
        expired["processing_error_message"].as_s().unwrap(),
        "expired: not sent"
    );
    // processing-test: left exactly as it was.
    assert_eq!(after[TEST], test_before);
    // The Python stack's fail counter went on counting (N), and the retried signup kept it.
    assert_eq!(after[SIGNUP]["processing_fail_count"].as_n().unwrap(), "1");

    // The daily cleanup: old processed items of every type but emails go, whatever their
    // type; the dlq item, the old email and everything recent stay.
    let cleanup = s.crm.cleanup(now).await.unwrap();
    assert_eq!(cleanup.deleted, 2, "{cleanup:?}");
    let after = scan(&s).await;
    assert!(!after.contains_key(OLD_PROCESSED));
    assert!(!after.contains_key(OLD_TEST));
    for kept in [OLD_EMAIL, OLD_DLQ, TEST, REGISTRATION, LOGIN, SIGNUP, EMAIL] {
        assert!(after.contains_key(kept), "{kept} was deleted");
    }

    // New events recorded by this stack, one of each type.
    let mut registration = fixture("auth0-registration");
    let newcomer = "0c3f7a52-2d4e-4b8a-9f1c-5e6d7c8b9a0f";
    s.core.seed_user(
        json!({"id": newcomer, "email": "nina@email.co.uk", "first_name": "Nina",
                          "crm_id": null, "title": "Dr", "has_demo_project": false,
                          "has_live_project": false}),
    );
    registration["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
        json!(newcomer);
    registration["detail"]["data"]["details"]["body"]["email"] = json!("nina@email.co.uk");
    registration["detail"]["data"]["details"]["body"]["user_metadata"]["country"] = json!("GB-SCT");
    let mut signup = fixture("task-signup");
    signup["detail"]["id"] = json!("1f0e2d3c-4b5a-4697-8877-665544332211");
    signup["detail"]["extra_data"]["crm_id"] = json!(steven);
    // A number in a forwarded value: stored as a string.
    let mut to_address = fixture("transactional-email-to-address");
    to_address["detail"]["custom_properties"]["project_task_name"] = json!(42);
    let mut written = Vec::new();
    for event in [
        registration,
        fixture("auth0-login"),
        signup,
        to_address,
        fixture("custom-email"),
    ] {
        let report = s.handle_json(event).await;
        written.push(report.notification_id.clone().unwrap());
    }
    let after = scan(&s).await;
    let new_registration = &after[newcomer];
    let details = new_registration["details"].as_m().unwrap();
    let mut keys: Vec<&str> = details.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "country_code",
            "country_name",
            "created",
            "email",
            "event_time",
            "first_name",
            "id",
            "last_name"
        ]
    );
    assert_eq!(
        details["country_name"].as_s().unwrap(),
        "United Kingdom - Scotland"
    );
    let new_email = &after[&written[3]];
    assert_eq!(
        new_email["details"].as_m().unwrap()["custom_properties"]
            .as_m()
            .unwrap()["project_task_name"]
            .as_s()
            .unwrap(),
        "42"
    );
    let new_custom = &after[&written[4]];
    let details = new_custom["details"].as_m().unwrap();
    assert!(details.contains_key("to_recipient_id"), "{details:?}");
    assert!(
        details["custom_properties"]
            .as_m()
            .unwrap()
            .contains_key("project_task_id"),
        "{details:?}"
    );

    // Every item, read as the Python stack reads it: the attributes its queries and cleanup
    // read on all; the details its processing reads on those it would process (pending) and
    // on everything this stack recorded. (The older 6-key registration, which the Python
    // stack itself wrote and can no longer process, is now processed and not read again.)
    for (id, item) in &after {
        let pending = matches!(
            item["processing_status"].as_s().unwrap().as_str(),
            "new" | "retrying"
        );
        python_reads(id, item, pending || written.contains(id));
    }
    assert_eq!(written.len(), 5);
}

/// What the Python stack needs of an item to process (if `processable`) and clean it up:
/// panics naming the attribute otherwise.
fn python_reads(id: &str, item: &Item, processable: bool) {
    let s = |name: &str| -> &String {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .unwrap_or_else(|| panic!("{id}: {name} is not S: {:?}", item.get(name)))
    };
    for name in ["id", "type", "processing_status", "created", "modified"] {
        s(name);
    }
    for name in ["created", "modified"] {
        let value = s(name);
        assert!(is_python_time(value), "{id}: {name} {value:?}");
    }
    if let Some(count) = item.get("processing_fail_count") {
        let n = count
            .as_n()
            .unwrap_or_else(|_| panic!("{id}: fail count {count:?}"));
        n.parse::<u32>().unwrap();
    }
    if let Some(message) = item.get("processing_error_message") {
        assert!(message.as_s().is_ok(), "{id}: {message:?}");
    }
    let details = item["details"]
        .as_m()
        .unwrap_or_else(|_| panic!("{id}: details is not M"));
    assert_no_numbers(id, &item["details"]);
    if !processable || details.is_empty() {
        return;
    }
    let string = |key: &str| {
        assert!(
            details.get(key).is_some_and(|v| v.as_s().is_ok()),
            "{id}: details.{key} is not S: {:?}",
            details.get(key)
        )
    };
    match s("type").as_str() {
        "user-registration" => {
            for key in ["id", "email", "first_name", "last_name", "created"] {
                string(key);
            }
            // Python's timestamp rule needs `YYYY-MM-DD HH:MM:SS` first.
            let created = details["created"].as_s().unwrap();
            timestamp::python_epoch_millis(created).unwrap();
            assert!(
                details
                    .get("country_name")
                    .is_some_and(|v| v.as_s().is_ok() || v.as_null().is_ok()),
                "{id}"
            );
        }
        "user-login" => {
            string("email");
            string("login_datetime");
            let at = details["login_datetime"].as_s().unwrap();
            timestamp::python_epoch_millis(at).unwrap();
        }
        "task-signup" => {
            string("id");
            string("created");
            let extra = details["extra_data"].as_m().unwrap();
            for key in [
                "project_id",
                "project_name",
                "task_id",
                "task_name",
                "task_type_id",
                "task_type_name",
            ] {
                assert!(extra[key].as_s().is_ok(), "{id}: extra_data.{key}");
            }
            let crm_id = &extra["crm_id"];
            assert!(crm_id.as_s().is_ok() || crm_id.as_null().is_ok(), "{id}");
        }
        "transactional-email" => {
            string("template_name");
            let recipient_id = details.get("to_recipient_id").and_then(|v| v.as_s().ok());
            let recipient_email = details
                .get("to_recipient_email")
                .and_then(|v| v.as_s().ok());
            assert!(recipient_id.is_some() || recipient_email.is_some(), "{id}");
            for map in ["custom_properties", "contact_properties"] {
                if let Some(v) = details.get(map) {
                    assert!(v.as_m().is_ok() || v.as_null().is_ok(), "{id}: {map}");
                }
            }
        }
        _ => {}
    }
}

/// The Python stack forwards stored values with a JSON encoder that cannot encode a
/// DynamoDB number (COMPAT-PYTHON.md §0).
fn assert_no_numbers(id: &str, value: &AttributeValue) {
    match value {
        AttributeValue::N(n) => panic!("{id}: a number {n} in details"),
        AttributeValue::M(map) => map.values().for_each(|v| assert_no_numbers(id, v)),
        AttributeValue::L(list) => list.iter().for_each(|v| assert_no_numbers(id, v)),
        _ => {}
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`, Python's `str(datetime)` of a UTC time.
fn is_python_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let head = b.len() >= 25
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let rest = &s[19.min(s.len())..];
    head && (rest == "+00:00"
        || (rest.len() == 13
            && rest.starts_with('.')
            && rest[1..7].bytes().all(|c| c.is_ascii_digit())
            && rest.ends_with("+00:00")))
}

#[test]
fn python_time_shapes() {
    assert!(is_python_time("2022-02-25 10:48:31.407821+00:00"));
    assert!(is_python_time("2022-02-25 10:48:31+00:00"));
    assert!(!is_python_time("2022-02-25T10:48:31.407821+00:00"));
    assert!(!is_python_time("2022-02-25 10:48:31.4078+00:00"));
    assert!(!is_python_time("2022-02-25 10:48:31.407821"));
}

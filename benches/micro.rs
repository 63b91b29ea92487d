//! B3: micro-benchmarks of the CPU-bound steps of the pipeline (criterion).
//!
//! ```text
//! cargo bench -p thiscovery-crm-stack --bench micro              # everything, about a minute
//! cargo bench -p thiscovery-crm-stack --bench micro -- parse/    # one group
//! ```
//!
//! - `parse/*`: an EventBridge event from its bytes (`Envelope::from_slice`) plus the typed
//!   payload (`Registration`/`Login`/`TaskSignup`/`TransactionalEmail::from_detail`), for each
//!   fixture type: what `Crm::record` and the processor do per event.
//! - `item/*`: a notification to and from its DynamoDB attribute map.
//! - `classify/*`: `classify_status`, and `ApiError::from_body` on a HubSpot 429 body and on
//!   an HTML 502 page from a proxy.
//! - `upsert_body/100_contacts`: the JSON body of one batch upsert of 100 contacts (the
//!   client's own `UpsertBatchRequest`), built from 100 `ContactUpsert`s as the client
//!   builds them.

// Bench code: a failure to set up is a bug in the bench, so unwrap is what we want.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hubspot_client::contacts::{ContactUpsert, UpsertBatchRequest};
use hubspot_client::{ApiError, classify_status};
use thiscovery_crm::events::{Envelope, Login, Registration, TaskSignup, TransactionalEmail};
use thiscovery_crm::notification::{Notification, NotificationType};
use thiscovery_crm::store::dynamodb::{notification_from_item, notification_to_item};
use time::OffsetDateTime;

use thiscovery_crm::testing::fixtures::{
    AUTH0_LOGIN as LOGIN, AUTH0_REGISTRATION as REGISTRATION, CUSTOM_EMAIL, EMAIL_TO_ADDRESS,
    EMAIL_TO_USER, TASK_SIGNUP,
};

/// A HubSpot 429 as the API sends it.
const BODY_429: &[u8] = br#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"TEN_SECONDLY_ROLLING","requestId":"3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#;

/// A 502 from a proxy in front of HubSpot: HTML, not JSON.
const BODY_502: &[u8] = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("registration", |b| {
        b.iter(|| {
            let envelope = Envelope::from_slice(black_box(REGISTRATION.as_bytes())).unwrap();
            Registration::from_detail(&envelope.detail).unwrap()
        })
    });
    group.bench_function("login", |b| {
        b.iter(|| {
            let envelope = Envelope::from_slice(black_box(LOGIN.as_bytes())).unwrap();
            Login::from_detail(&envelope.detail).unwrap()
        })
    });
    group.bench_function("task_signup", |b| {
        b.iter(|| {
            let envelope = Envelope::from_slice(black_box(TASK_SIGNUP.as_bytes())).unwrap();
            TaskSignup::from_detail(&envelope.detail).unwrap()
        })
    });
    group.bench_function("transactional_email_to_address", |b| {
        b.iter(|| {
            let envelope = Envelope::from_slice(black_box(EMAIL_TO_ADDRESS.as_bytes())).unwrap();
            TransactionalEmail::from_detail(&envelope.detail).unwrap()
        })
    });
    group.bench_function("transactional_email_to_user", |b| {
        b.iter(|| {
            let envelope = Envelope::from_slice(black_box(EMAIL_TO_USER.as_bytes())).unwrap();
            TransactionalEmail::from_detail(&envelope.detail).unwrap()
        })
    });
    group.bench_function("custom_email", |b| {
        b.iter(|| {
            let envelope = Envelope::from_slice(black_box(CUSTOM_EMAIL.as_bytes())).unwrap();
            // Normalizing already validates; parse the result as the processor does.
            let normalized = TransactionalEmail::normalize_custom_email(&envelope.detail).unwrap();
            TransactionalEmail::from_detail(&normalized).unwrap()
        })
    });
    group.finish();
}

/// A registration notification as the processor leaves a claimed item: lease fields set.
fn sample_notification() -> Notification {
    let envelope = Envelope::from_slice(REGISTRATION.as_bytes()).unwrap();
    let mut n = Notification::new(
        "d1070e81-557e-40eb-a7ba-b951ddb7ebdc",
        NotificationType::UserRegistration,
        "altha@email.co.uk",
        envelope.detail,
        OffsetDateTime::now_utc(),
    );
    n.lease_expires_ms = Some(1_700_000_300_000);
    n.lease_owner = Some("processor-2b0c9f6e-8a57-4c1c-9d0b-5c1f3e7a9d42".into());
    n
}

fn item(c: &mut Criterion) {
    let notification = sample_notification();
    let item = notification_to_item(&notification);
    assert_eq!(
        notification_from_item("bench-notifications", &item).unwrap(),
        notification
    );
    let mut group = c.benchmark_group("item");
    group.bench_function("to_item", |b| {
        b.iter(|| notification_to_item(black_box(&notification)))
    });
    group.bench_function("from_item", |b| {
        b.iter(|| notification_from_item("bench-notifications", black_box(&item)).unwrap())
    });
    group.finish();
}

fn classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    group.bench_function("status_429", |b| {
        b.iter(|| classify_status(black_box(429), black_box(Some("TEN_SECONDLY_ROLLING"))))
    });
    group.bench_function("status_502", |b| {
        b.iter(|| classify_status(black_box(502), black_box(None)))
    });
    group.bench_function("from_body_429_json", |b| {
        b.iter(|| {
            let error = ApiError::from_body(429, Some(Duration::from_secs(1)), black_box(BODY_429));
            classify_status(error.status, error.policy_name.as_deref())
        })
    });
    group.bench_function("from_body_502_html", |b| {
        b.iter(|| {
            let error = ApiError::from_body(502, None, black_box(BODY_502));
            classify_status(error.status, error.policy_name.as_deref())
        })
    });
    group.finish();
}

/// 100 registrations' upserts, as the processor builds them (the client adds `email`).
fn hundred_upserts() -> Vec<ContactUpsert> {
    (0..100)
        .map(|i| {
            let email = format!("participant{i:04}@email.co.uk");
            ContactUpsert::new(&email)
                .property(
                    "thiscovery_id",
                    format!("d1070e81-557e-40eb-a7ba-b951ddb7{i:04}"),
                )
                .property("thiscovery_registered_date", "1645786111036")
                .property("firstname", "Altha")
                .property("lastname", "Alcorn")
                .property("country", "United Kingdom")
                .property("email", email)
        })
        .collect()
}

fn upsert_body(c: &mut Criterion) {
    let upserts = hundred_upserts();
    let mut group = c.benchmark_group("upsert_body");
    group.bench_function("100_contacts", |b| {
        b.iter(|| {
            let body = UpsertBatchRequest::by_email(
                black_box(&upserts)
                    .iter()
                    .map(|u| (u.email.as_str(), &u.properties)),
            );
            serde_json::to_vec(&body).unwrap()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, item, classify, upsert_body
}
criterion_main!(benches);

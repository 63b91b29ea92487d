//! Events DynamoDB cannot store (issue #14, case 1): rejected when recorded, naming the field
//! and the limit, never retried; what the check lets through, DynamoDB Local stores, and what
//! it stops, DynamoDB Local refuses as a `ValidationException` (not a retryable error).

use serde_json::{Value, json};
use thiscovery_crm::HandleError;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{Notification, NotificationType};
use thiscovery_crm::store::StoreError;
use thiscovery_crm::store::limits::{MAX_DEPTH, MAX_ITEM_BYTES, OUTBOX_HEADROOM_BYTES, item_size};
use time::OffsetDateTime;

use crate::common::{Backend, fixture, stack};
use crate::on_both_backends;

/// `value` wrapped in `levels` single-element lists.
fn nested(levels: usize, value: Value) -> Value {
    (0..levels).fold(value, |inner, _| json!([inner]))
}

/// Task signups whose detail breaks one limit each, and the field the rejection must name.
fn unstorable_events() -> Vec<(&'static str, Value, &'static str)> {
    let signup = fixture("task-signup");
    let mut long_id = signup.clone();
    long_id["detail"]["id"] = json!("9".repeat(2100));
    let mut deep = signup.clone();
    deep["detail"]["extra_data"]["deep"] = nested(40, json!(1));
    // Under the JSON cap (300 KB), over 400 KB as DynamoDB counts a list of `[[]]` (5 bytes
    // of JSON each, 8 in DynamoDB: 1 per element and 3 per list, twice).
    let mut wide = signup.clone();
    wide["detail"]["extra_data"]["wide"] = Value::Array(vec![json!([[]]); 55_000]);
    let mut registration = fixture("auth0-registration");
    registration["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
        json!("a".repeat(3000));
    vec![
        ("long user-task id", long_id, "detail.id"),
        ("nested 40 deep", deep, "detail.extra_data.deep"),
        ("over 400 KB as an item", wide, "detail"),
        (
            "long citsci_uuid",
            registration,
            "detail.data.details.body.user_metadata.citsci_uuid",
        ),
    ]
}

async fn unstorable_events_are_rejected_naming_field_and_limit(backend: Backend) {
    let s = stack(backend).await;
    for (what, event, field) in unstorable_events() {
        assert!(
            serde_json::to_vec(&event).unwrap().len() < 300_000,
            "{what}: must be under the JSON cap to test the item limit"
        );
        let envelope = Envelope::from_value(event).unwrap();
        let err = s.crm.handle(&envelope).await.unwrap_err();
        assert!(
            matches!(&err, HandleError::Unstorable(e) if e.field.starts_with(field)),
            "{what}: {err}"
        );
        assert!(!err.is_retryable(), "{what}: {err}");
        assert!(err.to_string().contains("DynamoDB"), "{what}: {err}");
    }
    assert!(s.nothing_pending().await, "nothing was recorded");
}
on_both_backends!(unstorable_events_are_rejected_naming_field_and_limit);

/// A notification with `details`, as `Crm::record` would write it.
fn notification(id: &str, details: Value) -> Notification {
    Notification::new(
        id,
        NotificationType::TaskSignup,
        "limits",
        details,
        OffsetDateTime::now_utc(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_refusals_are_not_retryable_and_the_check_matches_dynamodb() {
    let s = stack(Backend::Dynamo).await;
    let store = &s.stores.notifications;
    let refused = |what: &str, result: Result<_, StoreError>| match result {
        Err(e @ StoreError::Rejected { .. }) => {
            assert!(!e.is_retryable());
            assert!(e.to_string().contains("ValidationException"), "{what}: {e}");
        }
        other => panic!("{what}: expected a ValidationException, got {other:?}"),
    };
    // Without the check, DynamoDB refuses each of these; the refusal is not retryable.
    refused(
        "long key",
        store
            .put_if_absent(&notification(&"k".repeat(2100), json!({})))
            .await,
    );
    refused(
        "number",
        store
            .put_if_absent(&notification("n", json!({"x": 1e200})))
            .await,
    );
    refused(
        "depth",
        store
            .put_if_absent(&notification("d", json!({"x": nested(40, json!(1))})))
            .await,
    );
    // Sizes: just inside what the check allows is stored; well past 400 KB is refused.
    let inside = MAX_ITEM_BYTES - OUTBOX_HEADROOM_BYTES - 64;
    let mut fits = notification("fits", json!({"s": ""}));
    let pad = inside - item_size(&fits);
    fits.details = json!({ "s": "x".repeat(pad) });
    assert_eq!(item_size(&fits), inside);
    store.put_if_absent(&fits).await.unwrap();
    let mut over = notification("over", json!({"s": ""}));
    over.details = json!({ "s": "x".repeat(MAX_ITEM_BYTES + 1024) });
    refused("size", store.put_if_absent(&over).await);
    // What the check measures as over 400 KB (the `[[]]` list of `unstorable_events`),
    // DynamoDB refuses too.
    let wide = notification("wide", json!({ "wide": vec![json!([[]]); 55_000] }));
    assert!(item_size(&wide) > MAX_ITEM_BYTES);
    refused("wide", store.put_if_absent(&wide).await);
    // Depth: the deepest details the check allows are stored.
    let deepest = nested(MAX_DEPTH - 1, json!(1));
    store
        .put_if_absent(&notification("deepest", deepest))
        .await
        .unwrap();
}

//! The same behavioural suite on both store implementations, plus DynamoDB specifics: items
//! the Python stack wrote, the token item, pagination of the status index.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use hubspot_client::auth::{TokenSet, TokenStore};
use secrecy::ExposeSecret;
use serde_json::json;
use thiscovery_crm::notification::{Notification, NotificationType, ProcessingStatus};
use thiscovery_crm::store::dynamodb::DynamoTokenStore;
use thiscovery_crm::store::memory::MemoryNotificationStore;
use thiscovery_crm::store::{Claim, Completion, NotificationStore, PendingKey, PutOutcome};
use time::OffsetDateTime;

use crate::common::{Backend, stores, template_fixture};
use crate::on_both_backends;

fn claim(owner: &str, now_ms: i64, lease_ms: i64) -> Claim {
    Claim {
        owner: owner.into(),
        now_ms,
        lease_until_ms: now_ms + lease_ms,
        modified: "2026-01-01 00:00:00.000000+00:00".into(),
    }
}

fn completion(status: ProcessingStatus) -> Completion {
    Completion {
        status,
        fail_count: 1,
        error_message: Some("why".into()),
        modified: "2026-01-01 00:00:01.000000+00:00".into(),
    }
}

async fn notification_store_contract(backend: Backend) {
    let s = stores(backend).await;
    let store = &s.notifications;
    let n = Notification::new(
        "n-1",
        NotificationType::UserLogin,
        "a@b.org",
        json!({"data": {"n": 1610799117840u64, "null": null, "list": [1, "x"]}}),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(store.put_if_absent(&n).await.unwrap(), PutOutcome::Created);
    assert_eq!(
        store.put_if_absent(&n).await.unwrap(),
        PutOutcome::Duplicate
    );
    assert_eq!(store.get("n-1").await.unwrap().unwrap(), n);
    assert!(store.get("missing").await.unwrap().is_none());

    // Claims are exclusive until the lease expires.
    let first = store
        .claim("n-1", &claim("a", 1_000, 500))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, ProcessingStatus::Processing);
    assert_eq!(first.lease_owner.as_deref(), Some("a"));
    assert!(
        store
            .claim("n-1", &claim("b", 1_200, 500))
            .await
            .unwrap()
            .is_none()
    );
    let taken = store
        .claim("n-1", &claim("b", 1_501, 500))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.lease_owner.as_deref(), Some("b"));
    // Only the current owner completes.
    assert!(
        !store
            .complete("n-1", "a", &completion(ProcessingStatus::Dlq))
            .await
            .unwrap()
    );
    assert!(
        store
            .complete("n-1", "b", &completion(ProcessingStatus::Retrying))
            .await
            .unwrap()
    );
    let after = store.get("n-1").await.unwrap().unwrap();
    assert_eq!(after.status, ProcessingStatus::Retrying);
    assert_eq!(after.fail_count, 1);
    assert_eq!(after.error_message.as_deref(), Some("why"));
    assert_eq!(after.lease_owner, None);
    assert_eq!(after.details, n.details);
    // Completing twice, or an item that does not exist, does nothing (and creates nothing).
    assert!(
        !store
            .complete("n-1", "b", &completion(ProcessingStatus::Processed))
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete("ghost", "b", &completion(ProcessingStatus::Processed))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim("ghost", &claim("b", 1, 1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get("ghost").await.unwrap().is_none());

    // Pending lists new, retrying and processing; cleanup sees only processed.
    let pending: Vec<String> = store
        .list_pending()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(pending, vec!["n-1"]);
    let n1 = store.get("n-1").await.unwrap().unwrap();
    assert_eq!(
        store.list_pending_keys().await.unwrap(),
        vec![PendingKey::from(&n1)]
    );
    store
        .claim("n-1", &claim("c", 5_000, 10))
        .await
        .unwrap()
        .unwrap();
    // The keys carry what a sweep filters on: the status and the lease.
    let keys = store.list_pending_keys().await.unwrap();
    assert_eq!(
        keys,
        vec![PendingKey::new(
            "n-1",
            n1.created.clone(),
            ProcessingStatus::Processing,
            Some(5_010)
        )]
    );
    assert!(!keys[0].is_claimable(5_010));
    assert!(keys[0].is_claimable(5_011));
    let mut done = completion(ProcessingStatus::Processed);
    done.error_message = None;
    assert!(store.complete("n-1", "c", &done).await.unwrap());
    assert_eq!(store.get("n-1").await.unwrap().unwrap().error_message, None);
    assert!(store.list_pending().await.unwrap().is_empty());
    let far_future = "9999-01-01 00:00:00.000000+00:00";
    assert_eq!(
        store.list_processed_before(far_future).await.unwrap().len(),
        1
    );
    assert!(
        store
            .list_processed_before("2000-01-01 00:00:00.000000+00:00")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_processed("n-1").await.unwrap());
    assert!(!store.delete_processed("n-1").await.unwrap());
}
on_both_backends!(notification_store_contract);

async fn templates_and_lookups(backend: Backend) {
    let s = stores(backend).await;
    let template = template_fixture();
    s.templates.put_template(&template).await.unwrap();
    assert_eq!(
        s.templates
            .get_template(&template.id)
            .await
            .unwrap()
            .unwrap(),
        template
    );
    assert!(s.templates.get_template("nope").await.unwrap().is_none());
    s.lookups
        .put_lookup("/prod/task-signup", &json!({"hubspot_id": 1234}))
        .await
        .unwrap();
    assert_eq!(
        s.lookups
            .get_lookup("/prod/task-signup")
            .await
            .unwrap()
            .unwrap(),
        json!({"hubspot_id": 1234})
    );
    assert!(s.lookups.get_lookup("/prod/none").await.unwrap().is_none());
}
on_both_backends!(templates_and_lookups);

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test]
async fn items_written_by_the_python_stack_are_read_and_processed_in_place() {
    let st = stores(Backend::Dynamo).await;
    let (client, tables) = st.dynamo.clone().unwrap();
    // As boto3 writes it: numbers as N, nulls as NULL, Python timestamps, no lease.
    let details = HashMap::from([
        ("user_id".to_owned(), s("u-1")),
        ("count".to_owned(), AttributeValue::N("3".into())),
        ("crm_id".to_owned(), AttributeValue::Null(true)),
    ]);
    client
        .put_item()
        .table_name(&tables.notifications)
        .item("id", s("py-1"))
        .item("type", s("task-signup"))
        .item("label", s("u-1"))
        .item("details", AttributeValue::M(details))
        .item("processing_status", s("processing"))
        .item("processing_fail_count", AttributeValue::N("1".into()))
        .item("created", s("2022-02-25 10:48:31.407821+00:00"))
        .item("modified", s("2022-02-25 10:48:31.407821+00:00"))
        .item("legacy_attribute", s("keep me"))
        .send()
        .await
        .unwrap();
    let item = st.notifications.get("py-1").await.unwrap().unwrap();
    assert_eq!(
        item.details,
        json!({"user_id": "u-1", "count": 3, "crm_id": null})
    );
    assert_eq!(item.fail_count, 1);
    // Left in `processing` by the Python stack (no lease): recoverable.
    assert!(item.is_claimable(0));
    let claimed = st
        .notifications
        .claim("py-1", &claim("me", 1, 1000))
        .await
        .unwrap();
    assert!(claimed.is_some());
    assert!(
        st.notifications
            .complete("py-1", "me", &completion(ProcessingStatus::Dlq))
            .await
            .unwrap()
    );
    let raw = client
        .get_item()
        .table_name(&tables.notifications)
        .key("id", s("py-1"))
        .send()
        .await
        .unwrap();
    let raw = raw.item().unwrap();
    assert_eq!(
        raw["legacy_attribute"],
        s("keep me"),
        "unknown attributes survive updates"
    );
    assert_eq!(
        raw["details"].as_m().unwrap()["count"],
        AttributeValue::N("3".into())
    );
}

#[tokio::test]
async fn token_item_round_trips_and_python_items_derive_their_expiry() {
    let st = stores(Backend::Dynamo).await;
    let (client, tables) = st.dynamo.clone().unwrap();
    // The Python stack's item: no expiry instant, only modified + expires_in.
    client
        .put_item()
        .table_name(&tables.tokens)
        .item("id", s("hubspot"))
        .item("type", s("oAuth_token"))
        .item("modified", s("2022-02-25 10:48:31.407821+00:00"))
        .item(
            "details",
            AttributeValue::M(HashMap::from([
                ("access_token".to_owned(), s("py-access")),
                ("refresh_token".to_owned(), s("py-refresh")),
                ("expires_in".to_owned(), AttributeValue::N("1800".into())),
            ])),
        )
        .send()
        .await
        .unwrap();
    let store = DynamoTokenStore::new(client.clone(), tables.tokens.clone(), "hubspot");
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!(loaded.access_token.expose_secret(), "py-access");
    let expected = SystemTime::UNIX_EPOCH + Duration::from_millis(1_645_786_111_407 + 1_800_000);
    assert_eq!(loaded.expires_at(), expected);

    let fresh = TokenSet::new(
        "new-access",
        "new-refresh",
        Duration::from_secs(1800),
        SystemTime::now(),
    );
    store.save(&fresh).await.unwrap();
    let again = store.load().await.unwrap().unwrap();
    assert_eq!(again.refresh_token.expose_secret(), "new-refresh");
    let drift = again
        .expires_at()
        .duration_since(fresh.expires_at())
        .unwrap_or_else(|e| e.duration());
    assert!(drift < Duration::from_millis(2), "{drift:?}");
    let raw = client
        .get_item()
        .table_name(&tables.tokens)
        .key("id", s("hubspot"))
        .send()
        .await
        .unwrap();
    let raw = raw.item().unwrap();
    assert_eq!(raw["type"], s("oAuth_token"));
    assert!(raw.contains_key("expires_at_ms"));
    // The other app's item is separate.
    let emails = DynamoTokenStore::new(client, tables.tokens, "hubspot-emails");
    assert!(emails.load().await.unwrap().is_none());
}

#[tokio::test]
async fn dynamodb_pending_listing_pages_to_the_end() {
    let st = stores(Backend::Dynamo).await;
    // Large details make DynamoDB split the index query into several 1 MB pages.
    let big = "x".repeat(100_000);
    for i in 0..25 {
        let n = Notification::new(
            format!("big-{i:02}"),
            NotificationType::UserLogin,
            "l",
            json!({"pad": big}),
            OffsetDateTime::now_utc(),
        );
        st.notifications.put_if_absent(&n).await.unwrap();
    }
    assert_eq!(st.notifications.list_pending().await.unwrap().len(), 25);
    // The 1 MB page limit applies before the projection: keys page the same way.
    let mut keys: Vec<String> = st
        .notifications
        .list_pending_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    keys.sort();
    let expected: Vec<String> = (0..25).map(|i| format!("big-{i:02}")).collect();
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn memory_store_can_lag_its_index_like_dynamodb() {
    let store = MemoryNotificationStore::with_index_lag(Duration::from_millis(200));
    let n = Notification::new(
        "lag-1",
        NotificationType::UserLogin,
        "l",
        json!({}),
        OffsetDateTime::now_utc(),
    );
    store.put_if_absent(&n).await.unwrap();
    // Not yet visible through the index, but visible to reads and conditional writes.
    assert!(store.list_pending().await.unwrap().is_empty());
    assert!(store.get("lag-1").await.unwrap().is_some());
    assert_eq!(
        store.put_if_absent(&n).await.unwrap(),
        PutOutcome::Duplicate
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.list_pending().await.unwrap().len(), 1);
    // A claim after the index showed it pending still checks the truth.
    store
        .claim("lag-1", &claim("a", 1, 1_000_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.list_pending().await.unwrap()[0].status,
        ProcessingStatus::New
    );
    assert!(
        store
            .claim("lag-1", &claim("b", 2, 10))
            .await
            .unwrap()
            .is_none()
    );
}

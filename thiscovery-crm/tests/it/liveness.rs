//! Outbox liveness (issue #14, case 2 and 5): one poison item never stalls the rest. An item
//! that cannot be read after its claim is dead-lettered with the reason, a failed result
//! write affects its own item only, a lease that is not a number does not break the
//! listing, an item whose attempts keep ending without a result ends in `dlq`, a sweep
//! starts no page its deadline cannot cover, and items of a type this stack does not handle
//! are left as they are. Cleanup, conflicts and ordering are in `effects.rs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use crm_testkit::core::ALTHA_EMAIL;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use serde_json::json;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{Notification, ProcessingStatus};
use thiscovery_crm::store::{
    Claim, Completion, NotificationStore, PendingKey, PutOutcome, StoreError,
};
use thiscovery_crm::{CrmConfig, Recorded, timestamp};

use crate::common::{Backend, ENV, Stack, fixture, stack, stack_on, stores};
use crate::on_both_backends;

fn email_event(i: usize) -> Envelope {
    let mut event = fixture("transactional-email-to-address");
    event["id"] = json!(format!("liveness-email-{i}"));
    Envelope::from_value(event).unwrap()
}

async fn record_emails(s: &Stack, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        match s.crm.record(&email_event(i)).await.unwrap() {
            Recorded::Created { id, .. } => ids.push(id),
            other => panic!("{other:?}"),
        }
        s.clock.advance(Duration::from_secs(1));
    }
    ids
}

async fn status(s: &Stack, id: &str) -> Notification {
    s.stores.notifications.get(id).await.unwrap().unwrap()
}

/// Writes `item` as it is (what another writer, or a hand edit, left in the table).
async fn put_raw(s: &Stack, item: thiscovery_crm::store::dynamodb::Item) {
    let (client, tables) = s.stores.dynamo.as_ref().unwrap();
    client
        .put_item()
        .table_name(&tables.notifications)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// The item `id` as it is in the table (what the store cannot or should not read).
async fn get_raw(s: &Stack, id: &str) -> Option<thiscovery_crm::store::dynamodb::Item> {
    let (client, tables) = s.stores.dynamo.as_ref().unwrap();
    client
        .get_item()
        .table_name(&tables.notifications)
        .key("id", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_items_are_dead_lettered_and_the_rest_processed() {
    let s = stack(Backend::Dynamo).await;
    // The oldest item: its details hold a binary value this stack cannot read, so the
    // claim succeeds in DynamoDB and the item fails to parse after it.
    let mut poison = Notification::new(
        "poison-unreadable",
        thiscovery_crm::notification::NotificationType::TransactionalEmail,
        "poison",
        json!({}),
        time::OffsetDateTime::now_utc() - Duration::from_secs(3600),
    );
    poison.created = timestamp::format(s.clock.now_time() - Duration::from_secs(3600));
    let mut item = thiscovery_crm::store::dynamodb::notification_to_item(&poison);
    item.insert(
        "details".into(),
        AttributeValue::M([("blob".to_owned(), AttributeValue::B(vec![1, 2, 3].into()))].into()),
    );
    put_raw(&s, item).await;
    // A `processing` item whose lease is a string someone wrote by hand.
    let mut corrupt_lease = Notification::new(
        "poison-lease",
        thiscovery_crm::notification::NotificationType::TransactionalEmail,
        "poison",
        fixture("transactional-email-to-address")["detail"].clone(),
        time::OffsetDateTime::now_utc(),
    );
    corrupt_lease.status = ProcessingStatus::Processing;
    corrupt_lease.created = timestamp::format(s.clock.now_time() - Duration::from_secs(1800));
    let mut item = thiscovery_crm::store::dynamodb::notification_to_item(&corrupt_lease);
    item.insert("lease_expires".into(), AttributeValue::S("soon".into()));
    put_raw(&s, item).await;
    let good = record_emails(&s, 5).await;

    let mut config = CrmConfig::for_env(ENV);
    config.page_size = 3;
    let crm = s.crm.clone().with_config(config);
    let summary = crm.process_pending().await.unwrap();
    assert_eq!(summary.store_errors, 0, "{summary:?}");
    // The poison item cannot be read through the store: read its attributes as they are.
    let raw = get_raw(&s, "poison-unreadable").await.unwrap();
    let text = |name: &str| raw.get(name).and_then(|v| v.as_s().ok()).cloned();
    assert_eq!(text("processing_status").as_deref(), Some("dlq"));
    let reason = text("processing_error_message").unwrap();
    assert!(reason.contains("cannot be read"), "{reason}");
    assert!(!raw.contains_key("lease_owner"), "not left claimed");
    assert_eq!(
        status(&s, "poison-lease").await.status,
        ProcessingStatus::Processed
    );
    for id in &good {
        assert_eq!(
            status(&s, id).await.status,
            ProcessingStatus::Processed,
            "{id}"
        );
    }
    // The next sweep has nothing left to do: the poison item no longer heads every page.
    let again = crm.process_pending().await.unwrap();
    assert!(again.items.is_empty(), "{again:?}");
}

/// A store whose result writes fail for the chosen ids (a throttled or refused write).
#[derive(Debug)]
struct FailingWrites {
    inner: Arc<dyn NotificationStore>,
    fail_for: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl NotificationStore for FailingWrites {
    async fn put_if_absent(&self, n: &Notification) -> Result<PutOutcome, StoreError> {
        self.inner.put_if_absent(n).await
    }
    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.inner.get(id).await
    }
    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        self.inner.list_pending().await
    }
    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        self.inner.list_pending_keys().await
    }
    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        self.inner.claim(id, claim).await
    }
    async fn complete(&self, id: &str, owner: &str, c: &Completion) -> Result<bool, StoreError> {
        if self.fail_for.lock().unwrap().iter().any(|f| f == id) {
            return Err(StoreError::Rejected {
                operation: format!("complete notification {id}"),
                message: "ValidationException: injected by the test".into(),
            });
        }
        self.inner.complete(id, owner, c).await
    }
    async fn list_processed_before(&self, t: &str) -> Result<Vec<Notification>, StoreError> {
        self.inner.list_processed_before(t).await
    }
    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_processed(id).await
    }
}

async fn a_failed_write_back_affects_its_own_item_only(backend: Backend) {
    let mut st = stores(backend).await;
    let failing = Arc::new(FailingWrites {
        inner: st.notifications.clone(),
        fail_for: Default::default(),
    });
    st.notifications = failing.clone();
    let s = stack_on(st, FakeHubSpot::start().await).await;
    // A registration (stage one), a login and two emails (stage two) in one page.
    let registration = match s
        .crm
        .record(&Envelope::from_value(fixture("auth0-registration")).unwrap())
        .await
        .unwrap()
    {
        Recorded::Created { id, .. } => id,
        other => panic!("{other:?}"),
    };
    s.crm
        .record(&Envelope::from_value(fixture("auth0-login")).unwrap())
        .await
        .unwrap();
    let emails = record_emails(&s, 2).await;
    failing.fail_for.lock().unwrap().push(registration.clone());
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.store_errors, 1, "{summary:?}");
    let failed = summary.items.iter().find(|i| i.id == registration).unwrap();
    assert!(
        failed.write_error.as_deref().unwrap().contains("injected"),
        "{failed:?}"
    );
    // The later stages ran and wrote their results.
    assert_eq!(summary.count(ProcessingStatus::Processed), 3, "{summary:?}");
    for id in &emails {
        assert_eq!(status(&s, id).await.status, ProcessingStatus::Processed);
    }
    assert_eq!(s.hubspot.sent_emails().len(), 2);
    // The registration stays claimed until its lease; then it is done (the upsert is
    // idempotent).
    failing.fail_for.lock().unwrap().clear();
    s.clock.advance(Duration::from_secs(301));
    s.crm.process_pending().await.unwrap();
    assert_eq!(
        status(&s, &registration).await.status,
        ProcessingStatus::Processed
    );
}
on_both_backends!(a_failed_write_back_affects_its_own_item_only);

async fn attempts_without_a_result_end_in_dlq(backend: Backend) {
    let s = stack(backend).await;
    let ids = record_emails(&s, 2).await;
    let (poison, good) = (&ids[0], &ids[1]);
    // A processor claims the poison item and dies, three times (the Lambda killed
    // mid-send): as many attempts as the configured 3.
    for _ in 0..3 {
        let now = s.clock.now_ms();
        let claim = Claim {
            owner: format!("doomed-{now}"),
            now_ms: now,
            lease_until_ms: now + 300_000,
            modified: timestamp::format(s.clock.now_time()),
        };
        assert!(
            s.stores
                .notifications
                .claim(poison, &claim)
                .await
                .unwrap()
                .is_some()
        );
        s.clock.advance(Duration::from_secs(301));
    }
    // The next claim would be a fourth attempt: it is dead-lettered, not sent again.
    s.crm.process_pending().await.unwrap();
    let item = status(&s, poison).await;
    assert_eq!(item.status, ProcessingStatus::Dlq, "{item:?}");
    assert!(
        item.error_message
            .as_deref()
            .unwrap()
            .contains("without a result"),
        "{item:?}"
    );
    assert_eq!(status(&s, good).await.status, ProcessingStatus::Processed);
    assert_eq!(
        s.hubspot.sent_emails().len(),
        1,
        "only the good email is sent"
    );
    // A result clears the count: a processed item does not carry it.
    assert_eq!(status(&s, good).await.unfinished_attempts, 0);
}
on_both_backends!(attempts_without_a_result_end_in_dlq);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_starts_no_page_its_deadline_cannot_cover() {
    let s = stack(Backend::Memory).await;
    let ids = record_emails(&s, 6).await;
    s.hubspot.inject(
        Endpoint::SingleSend,
        Fault::latency(Duration::from_millis(400)).times(100),
    );
    let mut config = CrmConfig::for_env(ENV);
    config.page_size = 2;
    config.email_concurrency = 2;
    let crm = s.crm.clone().with_config(config);
    // The stack's clock stands still: 250 ms are left however long pages take. The first
    // two pages start (nothing measured yet); each takes over 400 ms, so the third does not.
    let deadline = s.clock.now_time() + Duration::from_millis(250);
    let summary = crm.process_pending_until(Some(deadline)).await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 4, "{summary:?}");
    assert_eq!(summary.left_for_next, 2, "{summary:?}");
    for id in &ids[4..] {
        assert_eq!(
            status(&s, id).await.status,
            ProcessingStatus::New,
            "untouched"
        );
    }
    // The next sweep, with time enough, takes the rest.
    let rest = crm.process_pending().await.unwrap();
    assert_eq!(rest.count(ProcessingStatus::Processed), 2, "{rest:?}");
    assert_eq!(rest.left_for_next, 0);
}

/// Issue #13 case 6: an item of a type this stack does not handle (the Python stack's
/// `processing-test`) is left exactly as it is by a sweep, whatever its status, and does not
/// hold up the rest; cleanup treats it by status and age like any other item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_are_left_as_they_are_and_never_block() {
    let s = stack(Backend::Dynamo).await;
    let created = timestamp::format(s.clock.now_time() - Duration::from_secs(3600));
    let python_item = |id: &str, status: &str, created: &str| {
        thiscovery_crm::store::dynamodb::Item::from([
            ("id".to_owned(), AttributeValue::S(id.to_owned())),
            ("label".to_owned(), AttributeValue::S(id.to_owned())),
            (
                "type".to_owned(),
                AttributeValue::S("processing-test".to_owned()),
            ),
            ("details".to_owned(), AttributeValue::M(Default::default())),
            (
                "processing_status".to_owned(),
                AttributeValue::S(status.to_owned()),
            ),
            ("created".to_owned(), AttributeValue::S(created.to_owned())),
            ("modified".to_owned(), AttributeValue::S(created.to_owned())),
        ])
    };
    let new_item = python_item("test_unknown_new", "new", &created);
    let stuck_item = python_item("test_unknown_processing", "processing", &created);
    let old = timestamp::format(s.clock.now_time() - Duration::from_secs(10 * 24 * 3600));
    let old_processed = python_item("test_unknown_processed", "processed", &old);
    for item in [&new_item, &stuck_item, &old_processed] {
        put_raw(&s, item.clone()).await;
    }
    let good = record_emails(&s, 3).await;
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 3, "{summary:?}");
    assert_eq!(summary.store_errors, 0, "{summary:?}");
    assert!(
        summary
            .items
            .iter()
            .all(|i| !i.id.starts_with("test_unknown"))
    );
    for id in &good {
        assert_eq!(status(&s, id).await.status, ProcessingStatus::Processed);
    }
    let raw = |id: &'static str| get_raw(&s, id);
    assert_eq!(
        raw("test_unknown_new").await.as_ref(),
        Some(&new_item),
        "untouched"
    );
    assert_eq!(
        raw("test_unknown_processing").await.as_ref(),
        Some(&stuck_item),
        "untouched"
    );
    // Cleanup: the old processed one goes like any other, the others stay.
    let cleaned = s.crm.cleanup(s.clock.now_time()).await.unwrap();
    assert_eq!(cleaned.deleted, 1, "{cleaned:?}");
    assert!(raw("test_unknown_processed").await.is_none());
    assert!(raw("test_unknown_new").await.is_some());
}

/// Issue #14's soak with poison mixed in, on DynamoDB Local: good events of every type among
/// unreadable items, corrupt leases, unknown types, events DynamoDB cannot store and invalid
/// events, with HubSpot failing now and then. Sweeps repeat until nothing is pending; no
/// sweep aborts, every good item ends `processed`, every poison item ends in `dlq` with a
/// reason, is rejected when recorded, or (unknown types) is left exactly as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_with_poison_items_processes_every_good_item() {
    let s = stack(Backend::Dynamo).await;
    let steven = s
        .hubspot
        .seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    // The logins' contact (a login never creates one).
    s.hubspot
        .seed_contact(ALTHA_EMAIL, [("firstname", "Altha")]);
    s.hubspot
        .inject(Endpoint::SingleSend, Fault::status(503).times(5));
    s.hubspot
        .inject(Endpoint::ContactsBatchUpsert, Fault::status(502).times(2));
    let mut good = Vec::new();
    let mut rejected = 0;
    let mut invalid = Vec::new();
    for i in 0..60 {
        let event = match i % 6 {
            0 => {
                let mut e = fixture("transactional-email-to-address");
                e["id"] = json!(format!("soak-email-{i}"));
                e
            }
            1 => {
                let mut e = fixture("task-signup");
                e["detail"]["id"] = json!(format!("9620089b-e9a4-46fd-bb78-{i:012}"));
                e["detail"]["extra_data"]["crm_id"] = json!(steven);
                e
            }
            2 => {
                let mut e = fixture("auth0-login");
                e["id"] = json!(format!("soak-login-{i}"));
                e
            }
            3 => {
                // DynamoDB cannot store it: rejected when recorded.
                let mut e = fixture("task-signup");
                e["detail"]["id"] = json!(format!("{i}-{}", "x".repeat(2100)));
                e
            }
            4 => {
                // Recorded, and dead-lettered at once: the email is not an address.
                let mut e = fixture("transactional-email-to-address");
                e["id"] = json!(format!("soak-bad-email-{i}"));
                e["detail"]["to_recipient_email"] = json!("not-an-address");
                e
            }
            _ => {
                let user_id = format!("d1070e81-557e-40eb-a7ba-{i:012}");
                let email = format!("soak-{i}@email.co.uk");
                s.core
                    .seed_user(json!({"id": user_id, "email": email, "first_name": "Soak"}));
                let mut e = fixture("auth0-registration");
                e["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
                    json!(user_id);
                e["detail"]["data"]["details"]["body"]["email"] = json!(email);
                e
            }
        };
        match s.crm.record(&Envelope::from_value(event).unwrap()).await {
            Ok(Recorded::Created { id, .. }) => good.push(id),
            Ok(Recorded::Invalid { id, .. }) => invalid.push(id),
            Err(thiscovery_crm::HandleError::Unstorable(_)) => rejected += 1,
            other => panic!("{other:?}"),
        }
    }
    // Poison already in the table: unreadable, corrupt leases, unknown types.
    for i in 0..5 {
        let mut n = Notification::new(
            format!("soak-unreadable-{i}"),
            thiscovery_crm::notification::NotificationType::UserLogin,
            "poison",
            json!({}),
            time::OffsetDateTime::now_utc(),
        );
        n.created = timestamp::format(s.clock.now_time() - Duration::from_secs(60 * i));
        let mut item = thiscovery_crm::store::dynamodb::notification_to_item(&n);
        item.insert(
            "details".into(),
            AttributeValue::M([("b".to_owned(), AttributeValue::B(vec![i as u8].into()))].into()),
        );
        put_raw(&s, item).await;
        let mut leased = Notification::new(
            format!("soak-lease-{i}"),
            thiscovery_crm::notification::NotificationType::TransactionalEmail,
            "poison",
            fixture("transactional-email-to-address")["detail"].clone(),
            time::OffsetDateTime::now_utc(),
        );
        leased.status = ProcessingStatus::Processing;
        let mut item = thiscovery_crm::store::dynamodb::notification_to_item(&leased);
        item.insert(
            "lease_expires".into(),
            AttributeValue::S(format!("later-{i}")),
        );
        put_raw(&s, item).await;
        good.push(format!("soak-lease-{i}"));
        let mut unknown = thiscovery_crm::store::dynamodb::notification_to_item(&n);
        unknown.insert("id".into(), AttributeValue::S(format!("soak-unknown-{i}")));
        unknown.insert("type".into(), AttributeValue::S("processing-test".into()));
        put_raw(&s, unknown).await;
    }
    let mut sweeps = 0;
    loop {
        sweeps += 1;
        let summary = s.crm.process_pending().await.expect("no sweep aborts");
        assert_eq!(summary.store_errors, 0, "{summary:?}");
        if summary.items.is_empty() || sweeps > 8 {
            break;
        }
        s.clock.advance(Duration::from_secs(301));
    }
    for id in &good {
        let n = status(&s, id).await;
        assert_eq!(n.status, ProcessingStatus::Processed, "{id}: {n:?}");
    }
    for id in &invalid {
        let n = status(&s, id).await;
        assert_eq!(n.status, ProcessingStatus::Dlq, "{id}");
        assert!(n.error_message.is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(rejected, 10);
    for i in 0..5 {
        let unreadable = get_raw(&s, &format!("soak-unreadable-{i}")).await.unwrap();
        assert_eq!(
            unreadable
                .get("processing_status")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("dlq")
        );
        let unknown = get_raw(&s, &format!("soak-unknown-{i}")).await.unwrap();
        assert_eq!(
            unknown
                .get("processing_status")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("new"),
            "unknown types are left as they are"
        );
        assert!(!unknown.contains_key("lease_owner"));
    }
    // One email per good email notification (sendId = notification id), however often retried.
    let sent = s.hubspot.sent_emails();
    let mut send_ids: Vec<&str> = sent.iter().filter_map(|e| e.send_id.as_deref()).collect();
    let n = send_ids.len();
    send_ids.sort_unstable();
    send_ids.dedup();
    assert_eq!(send_ids.len(), n, "no email sent twice");
    eprintln!(
        "poison soak: {} good, {} invalid, {rejected} rejected, 15 poison items, {sweeps} sweeps, {} emails",
        good.len(),
        invalid.len(),
        n
    );
}

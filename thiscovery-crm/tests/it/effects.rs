//! Effects that must be right whatever the table or HubSpot holds (issue #14, cases 3, 4
//! and 6): cleanup reads page by page with bounded memory, a whole-batch 409 counts only the
//! event it names, and an older login never moves the login date back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use serde_json::json;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{Notification, ProcessingStatus};
use thiscovery_crm::store::{
    Claim, Completion, NotificationStore, ProcessedCursor, ProcessedPage, PutOutcome, StoreError,
};
use thiscovery_crm::{Recorded, timestamp};

use crate::common::{Backend, Stack, fixture, stack, stack_on, stores};
use crate::on_both_backends;

/// A store that records how cleanup reads: never the whole list, pages of at most `limit`.
#[derive(Debug)]
struct CountingPages {
    inner: Arc<dyn NotificationStore>,
    whole_lists: std::sync::atomic::AtomicUsize,
    largest_page: std::sync::atomic::AtomicUsize,
    pages: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl NotificationStore for CountingPages {
    async fn put_if_absent(&self, n: &Notification) -> Result<PutOutcome, StoreError> {
        self.inner.put_if_absent(n).await
    }
    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.inner.get(id).await
    }
    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        self.inner.list_pending().await
    }
    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        self.inner.claim(id, claim).await
    }
    async fn complete(&self, id: &str, owner: &str, c: &Completion) -> Result<bool, StoreError> {
        self.inner.complete(id, owner, c).await
    }
    async fn list_processed_before(&self, t: &str) -> Result<Vec<Notification>, StoreError> {
        self.whole_lists
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.list_processed_before(t).await
    }
    async fn processed_page(
        &self,
        threshold: &str,
        after: Option<&ProcessedCursor>,
        limit: usize,
    ) -> Result<ProcessedPage, StoreError> {
        let page = self.inner.processed_page(threshold, after, limit).await?;
        let read = page.items.len() + page.skipped_emails;
        self.largest_page
            .fetch_max(read, std::sync::atomic::Ordering::SeqCst);
        self.pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(page)
    }
    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_processed(id).await
    }
}

/// Writes `items` straight into the table (DynamoDB: 25 to a batch) or the store.
async fn seed_items(s: &Stack, inner: &Arc<dyn NotificationStore>, items: Vec<Notification>) {
    match &s.stores.dynamo {
        Some((client, tables)) => {
            for chunk in items.chunks(25) {
                let requests = chunk
                    .iter()
                    .map(|n| {
                        aws_sdk_dynamodb::types::WriteRequest::builder()
                            .put_request(
                                aws_sdk_dynamodb::types::PutRequest::builder()
                                    .set_item(Some(
                                        thiscovery_crm::store::dynamodb::notification_to_item(n),
                                    ))
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                    })
                    .collect();
                let mut pending = Some(requests);
                while let Some(requests) = pending.take() {
                    let out = client
                        .batch_write_item()
                        .request_items(&tables.notifications, requests)
                        .send()
                        .await
                        .unwrap();
                    pending = out
                        .unprocessed_items()
                        .and_then(|m| m.get(&tables.notifications).cloned())
                        .filter(|v| !v.is_empty());
                }
            }
        }
        None => {
            for n in &items {
                inner.put_if_absent(n).await.unwrap();
            }
        }
    }
}

async fn cleanup_reads_keys_page_by_page_and_keeps_emails(backend: Backend) {
    let mut st = stores(backend).await;
    let inner = st.notifications.clone();
    let counting = Arc::new(CountingPages {
        inner: inner.clone(),
        whole_lists: Default::default(),
        largest_page: Default::default(),
        pages: Default::default(),
    });
    st.notifications = counting.clone();
    let s = stack_on(st, FakeHubSpot::start().await).await;
    // 2,600 processed items recorded 10 days ago: 2,000 logins, 500 emails, and 100 logins
    // processed only yesterday (kept: within the retention period).
    let old = s.clock.now_time() - Duration::from_secs(10 * 24 * 3600);
    let yesterday = s.clock.now_time() - Duration::from_secs(24 * 3600);
    let mut items = Vec::new();
    for i in 0..2_600 {
        let kind = if (2_000..2_500).contains(&i) {
            thiscovery_crm::notification::NotificationType::TransactionalEmail
        } else {
            thiscovery_crm::notification::NotificationType::UserLogin
        };
        let mut n = Notification::new(format!("old-{i:05}"), kind, "l", json!({"i": i}), old);
        n.status = ProcessingStatus::Processed;
        if i >= 2_500 {
            n.modified = timestamp::format(yesterday);
        }
        items.push(n);
    }
    seed_items(&s, &inner, items).await;
    let summary = s.crm.cleanup(s.clock.now_time()).await.unwrap();
    assert_eq!(summary.deleted, 2_000, "{summary:?}");
    assert_eq!(summary.kept_emails, 500, "{summary:?}");
    assert_eq!(summary.kept_recent, 100, "{summary:?}");
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(
        counting.whole_lists.load(SeqCst),
        0,
        "cleanup never loads the whole list"
    );
    assert!(counting.largest_page.load(SeqCst) <= 1_000);
    assert!(counting.pages.load(SeqCst) >= 3);
    assert!(
        s.stores
            .notifications
            .get("old-02000")
            .await
            .unwrap()
            .is_some(),
        "emails stay"
    );
    assert!(
        s.stores
            .notifications
            .get("old-00000")
            .await
            .unwrap()
            .is_none()
    );
    // A second run finds only what it keeps.
    let again = s.crm.cleanup(s.clock.now_time()).await.unwrap();
    assert_eq!(
        (again.deleted, again.kept_emails, again.kept_recent),
        (0, 500, 100)
    );
}
on_both_backends!(cleanup_reads_keys_page_by_page_and_keeps_emails);

/// Case 3: a 409 for a whole timeline batch names the one event that exists; the others of
/// the batch were not created and are sent again, not marked processed.
async fn a_batch_conflict_counts_only_the_event_it_names(backend: Backend) {
    let s = stack(backend).await;
    let contact = s
        .hubspot
        .seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    let ids: Vec<String> = (0..3)
        .map(|i| format!("9620089b-e9a4-46fd-bb78-09{i:010}"))
        .collect();
    for id in &ids {
        let mut event = fixture("task-signup");
        event["detail"]["id"] = json!(id);
        event["detail"]["extra_data"]["crm_id"] = json!(contact);
        match s
            .crm
            .record(&Envelope::from_value(event).unwrap())
            .await
            .unwrap()
        {
            Recorded::Created { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let body = json!({
        "status": "error",
        "category": "CONFLICT",
        "message": format!(
            "An event with id {} already exists for event template {}",
            ids[1],
            FakeHubSpot::TIMELINE_TEMPLATE_ID
        ),
        "correlationId": "4a2d1c7e-0000-4000-8000-000000000409",
    });
    s.hubspot.inject(
        Endpoint::TimelineBatch,
        Fault::body(409, "application/json", body.to_string()).times(1),
    );
    let summary = s.crm.process_pending().await.unwrap();
    assert_eq!(summary.count(ProcessingStatus::Processed), 3, "{summary:?}");
    // The named one is recorded as done; the other two were created by the second request.
    let created: Vec<String> = s
        .hubspot
        .timeline_events()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(
        created.contains(&ids[0]) && created.contains(&ids[2]),
        "{created:?}"
    );
    assert!(!created.contains(&ids[1]), "{created:?}");
    assert_eq!(s.hubspot.requests_to(Endpoint::TimelineBatch), 2);
}
on_both_backends!(a_batch_conflict_counts_only_the_event_it_names);

/// Case 4: a retried older login never moves `thiscovery_last_login_date` back; the newer
/// one HubSpot holds stays, and the older login is recorded as processed.
async fn an_older_login_does_not_move_the_date_back(backend: Backend) {
    let s = stack(backend).await;
    let login_at = |event: &serde_json::Value| {
        time::OffsetDateTime::parse(
            event["detail"]["data"]["date"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let newer = fixture("auth0-login");
    let newer_ms = timestamp::epoch_millis(login_at(&newer));
    let email = newer["detail"]["data"]["user_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = s.hubspot.seed_contact(
        &email,
        [("thiscovery_last_login_date", newer_ms.to_string().as_str())],
    );
    // The same user's login of a day earlier, delivered late (a retry).
    let mut older = fixture("auth0-login");
    older["id"] = json!("older-login-event");
    let older_at = login_at(&newer) - Duration::from_secs(24 * 3600);
    older["detail"]["data"]["date"] = json!(
        older_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let report = s.handle_json(older).await;
    assert_eq!(
        report.outcome,
        thiscovery_crm::Outcome::Processed,
        "{report:?}"
    );
    assert_eq!(report.hubspot_ref.as_deref(), Some(contact.as_str()));
    let held = s.hubspot.contact(&contact).unwrap();
    assert_eq!(
        held.property("thiscovery_last_login_date"),
        Some(newer_ms.to_string().as_str()),
        "the date did not move back"
    );
    assert_eq!(s.hubspot.requests_to(Endpoint::ContactsBatchUpsert), 0);
    // A newer login still moves it forward.
    let mut newest = fixture("auth0-login");
    newest["id"] = json!("newest-login-event");
    let newest_at = login_at(&newer) + Duration::from_secs(3600);
    newest["detail"]["data"]["date"] = json!(
        newest_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    assert_eq!(
        s.handle_json(newest).await.outcome,
        thiscovery_crm::Outcome::Processed
    );
    let held = s.hubspot.contact(&contact).unwrap();
    assert_eq!(
        held.property("thiscovery_last_login_date"),
        Some(
            (timestamp::epoch_millis(newest_at) / 1000 * 1000)
                .to_string()
                .as_str()
        )
    );
}
on_both_backends!(an_older_login_does_not_move_the_date_back);

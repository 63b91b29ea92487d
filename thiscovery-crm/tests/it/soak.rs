//! Fault soak: mixed events through the processor against FakeHubSpot with faults injected
//! throughout (5xx, 429 bursts incl. one DAILY, responses slower than the client timeout,
//! dropped connections, access tokens expiring mid-run, the token endpoint failing once).
//! Processing repeats until nothing is pending. Then: every notification is `processed` or
//! `dlq` with a message, nothing is left `processing`, HubSpot holds exactly one contact per
//! email, one timeline event per user task, one sent email per `sendId`, and the permanent
//! failures were dead-lettered on their first attempt.
//!
//! Size: `SOAK_EVENTS` (default 600) events; `SOAK_SEED` picks the fault sequence.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use hubspot_client::auth::{MemoryTokenStore, OAuthConfig, TokenSet};
use hubspot_client::{Client, RateLimit, RetryPolicy};
use serde_json::json;
use thiscovery_crm::directory::{MemoryDirectory, User};
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{NotificationType, ProcessingStatus};
use thiscovery_crm::store::NotificationStore;
use thiscovery_crm::store::memory::MemoryNotificationStore;
use thiscovery_crm::testing;
use thiscovery_crm::{Crm, CrmConfig, Recorded, Stores};

use crate::common::{ENV, fixture};

/// A small deterministic generator (no extra dependency, reproducible by seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_and_nothing_happens_twice_under_faults() {
    let events = env_usize("SOAK_EVENTS", 600);
    let seed = env_usize("SOAK_SEED", 7) as u64;
    let hubspot = FakeHubSpot::builder()
        .rate_limit(40, Duration::from_millis(400))
        .token_ttl(Duration::from_secs(3600))
        .start()
        .await;
    let issued = hubspot.issue_token_set();
    let store = Arc::new(MemoryTokenStore::with_tokens(TokenSet::new(
        issued.access_token,
        issued.refresh_token,
        Duration::from_secs(issued.expires_in),
        SystemTime::now(),
    )));
    let client = Client::builder()
        .api_version(crate::common::api_version())
        .base_url(hubspot.base_url())
        .oauth(OAuthConfig::new(
            FakeHubSpot::CLIENT_ID,
            FakeHubSpot::CLIENT_SECRET,
            store,
        ))
        .rate_limit(RateLimit::new(40, Duration::from_millis(400)))
        .retry_policy(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            overall_deadline: Some(Duration::from_secs(10)),
            jitter: true,
            locked_min_wait: Duration::from_millis(5),
            max_retry_after: hubspot_client::DEFAULT_MAX_RETRY_AFTER,
        })
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();

    // The world: users in thiscovery-core, contacts for task signups, a template, a lookup.
    let directory = Arc::new(MemoryDirectory::new());
    let notifications = Arc::new(MemoryNotificationStore::new());
    let stores = Stores::memory().with_notifications(notifications.clone());
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID)
        .await
        .unwrap();
    let crm = Crm::builder()
        .hubspot(client)
        .stores(stores)
        .directory(directory.clone())
        .config(CrmConfig::for_env(ENV))
        .build()
        .unwrap();

    let mut rng = Lcg(seed);
    let mut expected_permanent = HashSet::new();
    let mut emails_by_user = HashMap::new();
    for i in 0..events {
        let user_id = format!("user-{}", i % (events / 3).max(1));
        let email = format!("{user_id}@soak.example.org");
        emails_by_user.insert(user_id.clone(), email.clone());
        directory.add_user(User::new(&user_id, &email).names("Soak", "Tester"));
        let mut event = match rng.below(10) {
            0..=2 => {
                let mut e = fixture("auth0-registration");
                e["detail"]["data"]["details"]["body"]["email"] = json!(email);
                e["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
                    json!(user_id);
                e
            }
            3..=5 => {
                let mut e = fixture("auth0-login");
                e["detail"]["data"]["user_name"] = json!(email);
                e
            }
            6..=7 => {
                hubspot.seed_contact(&email, [("firstname", "Soak")]);
                let mut e = fixture("task-signup");
                e["detail"]["id"] = json!(format!("user-task-{i}"));
                e["detail"]["user_id"] = json!(user_id);
                e["detail"]["extra_data"]["crm_id"] = json!(null);
                e
            }
            _ => {
                let mut e = fixture("transactional-email-to-address");
                e["detail"]["to_recipient_email"] = json!(email);
                if i % 37 == 0 {
                    e["detail"]["template_name"] = json!("no-such-template");
                }
                e
            }
        };
        event["id"] = json!(format!("soak-event-{i}"));
        match crm
            .record(&Envelope::from_value(event).unwrap())
            .await
            .unwrap()
        {
            Recorded::Created { id, kind } => {
                if kind == NotificationType::TransactionalEmail && i % 37 == 0 {
                    expected_permanent.insert(id);
                }
            }
            Recorded::Duplicate { .. } => {}
            other => panic!("{other:?}"),
        }
    }

    // Faults, armed while processing runs.
    let running = AtomicBool::new(true);
    let mut rounds = 0;
    let processing = async {
        loop {
            rounds += 1;
            assert!(rounds <= 60, "still pending after 60 sweeps");
            crm.process_pending().await.unwrap();
            if notifications.list_pending().await.unwrap().is_empty() {
                break;
            }
        }
        running.store(false, Ordering::SeqCst);
    };
    let injecting = async {
        let mut rng = Lcg(seed ^ 0x5eed);
        let endpoints = [
            Endpoint::ContactsBatchUpsert,
            Endpoint::TimelineBatch,
            Endpoint::SingleSend,
        ];
        hubspot.inject(Endpoint::OAuthToken, Fault::status(503).times(1));
        hubspot.inject(Endpoint::SingleSend, Fault::daily_limited().times(1));
        // Roughly one request in five meets a fault: a new one is armed after every four
        // requests, never more than three at a time (faults are consumed by requests).
        let mut armed_at = 0usize;
        let mut armed = 0u64;
        while running.load(Ordering::SeqCst) {
            let journal = hubspot.journal();
            let seen = journal.len();
            if seen >= armed_at + 4 && hubspot.armed_faults().len() < 3 {
                armed_at = seen;
                armed += 1;
                // Aim at what is being called now, so the fault meets a request soon.
                let endpoint = journal
                    .last()
                    .map(|e| e.endpoint)
                    .filter(|e| endpoints.contains(e))
                    .unwrap_or(endpoints[rng.below(3) as usize]);
                let fault = match rng.below(10) {
                    0..=4 => Fault::status([500, 502, 503, 504][rng.below(4) as usize]).times(1),
                    5 => Fault::rate_limited().times(2),
                    6 => Fault::latency(Duration::from_millis(700)).times(1),
                    7 => Fault::drop_connection().times(1),
                    _ => Fault::html_bad_gateway().times(1),
                };
                hubspot.inject(endpoint, fault);
                if armed.is_multiple_of(25) {
                    hubspot.expire_access_tokens();
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::join!(processing, injecting);

    let all = notifications.all();
    let journal = hubspot.journal();
    let faulted = journal.iter().filter(|e| e.faulted).count();
    let count = |s: ProcessingStatus| all.iter().filter(|n| n.status == s).count();
    eprintln!(
        "soak: {} notifications, {} sweeps, {} HubSpot requests ({} faulted), {} processed, {} dlq, {} tokens issued",
        all.len(),
        rounds,
        journal.len(),
        faulted,
        count(ProcessingStatus::Processed),
        count(ProcessingStatus::Dlq),
        hubspot.tokens_issued(),
    );
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for n in all.iter().filter(|n| n.status == ProcessingStatus::Dlq) {
        let reason = n.error_message.clone().unwrap_or_default();
        *reasons
            .entry(reason.chars().take(90).collect())
            .or_default() += 1;
    }
    eprintln!("soak: dlq reasons {reasons:#?}");
    assert!(faulted > 0, "no faults were injected");

    // Nothing lost: every notification is processed or dead-lettered with a reason.
    for n in &all {
        match n.status {
            ProcessingStatus::Processed => {}
            ProcessingStatus::Dlq => assert!(n.error_message.is_some(), "{n:?}"),
            other => panic!("{} left {other}", n.id),
        }
    }
    // Permanent errors went to dlq on their first attempt.
    for id in &expected_permanent {
        let n = all.iter().find(|n| &n.id == id).unwrap();
        assert_eq!(n.status, ProcessingStatus::Dlq);
        assert_eq!(n.fail_count, 1, "{n:?}");
        assert!(n.error_message.as_deref().unwrap().contains("not found"));
    }
    // No double effects.
    let contacts = hubspot.contacts();
    let mut emails: Vec<String> = contacts
        .iter()
        .filter_map(|c| c.properties.get("email").map(|e| e.to_lowercase()))
        .collect();
    let distinct = emails.iter().collect::<HashSet<_>>().len();
    emails.sort();
    assert_eq!(distinct, emails.len(), "a contact was created twice");
    let events_seen = hubspot.timeline_events();
    let distinct_events = events_seen
        .iter()
        .map(|e| &e.id)
        .collect::<HashSet<_>>()
        .len();
    assert_eq!(
        distinct_events,
        events_seen.len(),
        "a timeline event was created twice"
    );
    let sent = hubspot.sent_emails();
    let mut per_send_id: HashMap<String, usize> = HashMap::new();
    for email in &sent {
        *per_send_id
            .entry(email.send_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    assert!(
        per_send_id.values().all(|c| *c == 1),
        "an email was sent twice"
    );
    // And every processed effect is really there.
    for n in all
        .iter()
        .filter(|n| n.status == ProcessingStatus::Processed)
    {
        match n.kind {
            NotificationType::TransactionalEmail => {
                assert_eq!(per_send_id.get(&n.id), Some(&1), "{}", n.id)
            }
            NotificationType::TaskSignup => {
                assert!(events_seen.iter().any(|e| e.id == n.id), "{}", n.id)
            }
            NotificationType::UserRegistration => {
                let email = &emails_by_user[&n.id];
                assert!(hubspot.contact_by_email(email).is_some(), "{email}");
                assert!(directory.user(&n.id).unwrap().crm_id.is_some());
            }
            NotificationType::UserLogin => {
                let email = n.label.to_lowercase();
                let contact = hubspot.contact_by_email(&email).unwrap();
                assert!(
                    contact
                        .properties
                        .contains_key("thiscovery_last_login_date")
                );
            }
        }
    }
}

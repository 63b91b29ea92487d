//! The test stack: FakeHubSpot, FakeCore, stores (memory or DynamoDB Local), a manual clock.

use std::sync::Arc;
use std::time::Duration;

use crm_testkit::core::FakeCore;
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::FakeHubSpot;
use hubspot_client::{Client, RetryPolicy};
use serde_json::{Value, json};
use thiscovery_crm::clock::ManualClock;
use thiscovery_crm::directory::http::HttpDirectory;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::store::EmailTemplate;
use thiscovery_crm::store::dynamodb::TableNames;
use thiscovery_crm::testing::{self, fixtures};
use thiscovery_crm::{Crm, CrmConfig, Recorded};
use time::OffsetDateTime;

/// Which store implementation a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Dynamo,
}

/// Generates one test per backend from an async fn taking a [`Backend`].
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$name($crate::common::Backend::Memory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamodb() {
                super::$name($crate::common::Backend::Dynamo).await;
            }
        }
    };
}

pub const ENV: &str = "test";

/// A fixture event.
pub fn fixture(name: &str) -> Value {
    let text = fixtures::event(name).unwrap_or_else(|| panic!("no fixture event {name}"));
    serde_json::from_str(text).unwrap()
}

/// A fixture event as an envelope.
pub fn envelope(name: &str) -> Envelope {
    Envelope::from_value(fixture(name)).unwrap()
}

/// The fixture email to an address as event `i`: its own EventBridge id, so its own
/// notification.
pub fn email_event(i: usize) -> Envelope {
    let mut event = fixture("transactional-email-to-address");
    event["id"] = json!(format!("email-event-{i}"));
    Envelope::from_value(event).unwrap()
}

/// Records `envelope`, which must be new, and returns its notification id.
pub async fn record(crm: &Crm, envelope: &Envelope) -> String {
    match crm.record(envelope).await.unwrap() {
        Recorded::Created { id, .. } => id,
        other => panic!("{other:?}"),
    }
}

/// The fixture email template.
pub fn template_fixture() -> EmailTemplate {
    fixtures::email_template()
}

/// The stores of one backend (and, on DynamoDB, its client and tables).
pub struct Stores {
    pub stores: thiscovery_crm::Stores,
    pub dynamo: Option<(aws_sdk_dynamodb::Client, TableNames)>,
}

impl std::ops::Deref for Stores {
    type Target = thiscovery_crm::Stores;
    fn deref(&self) -> &thiscovery_crm::Stores {
        &self.stores
    }
}

impl std::ops::DerefMut for Stores {
    fn deref_mut(&mut self) -> &mut thiscovery_crm::Stores {
        &mut self.stores
    }
}

pub async fn stores(backend: Backend) -> Stores {
    match backend {
        Backend::Memory => Stores {
            stores: thiscovery_crm::Stores::memory(),
            dynamo: None,
        },
        Backend::Dynamo => dynamo_stores(DynamoDbLocal::shared().await.unwrap()).await,
    }
}

/// DynamoDB stores on a fresh stack of `local`.
pub async fn dynamo_stores(local: &DynamoDbLocal) -> Stores {
    let stack = local.new_stack_with_tables().await.unwrap();
    let client = local.client();
    let tables = TableNames::for_stack(&stack);
    Stores {
        stores: thiscovery_crm::Stores::dynamodb(client.clone(), &tables),
        dynamo: Some((client, tables)),
    }
}

/// The whole stack under test.
pub struct Stack {
    pub hubspot: FakeHubSpot,
    pub core: FakeCore,
    pub crm: Crm,
    pub stores: Stores,
    pub clock: Arc<ManualClock>,
}

impl Stack {
    /// Handles an event given as JSON (which must parse as an envelope).
    pub async fn handle_json(&self, event: Value) -> thiscovery_crm::HandleReport {
        self.crm
            .handle(&Envelope::from_value(event).unwrap())
            .await
            .unwrap()
    }

    /// Whether no notification is left pending (new, retrying or claimed).
    pub async fn nothing_pending(&self) -> bool {
        self.stores
            .notifications
            .list_pending()
            .await
            .unwrap()
            .is_empty()
    }

    /// The notification item a report names.
    pub async fn item_of(
        &self,
        report: &thiscovery_crm::HandleReport,
    ) -> thiscovery_crm::notification::Notification {
        let id = report.notification_id.as_deref().unwrap();
        self.stores.notifications.get(id).await.unwrap().unwrap()
    }
}

/// The HubSpot API version the suite runs on: `HUBSPOT_TEST_API_VERSION` (`legacy`,
/// `2026-03`, `2026-09`), else the client's default. CI runs the suite on the default and
/// again on `legacy`.
pub fn api_version() -> hubspot_client::ApiVersion {
    match std::env::var("HUBSPOT_TEST_API_VERSION") {
        Ok(v) if !v.trim().is_empty() => v.parse().unwrap(),
        _ => hubspot_client::ApiVersion::default(),
    }
}

/// The path segment the fake records for `version` on the versioned APIs (contacts,
/// single-send, the token endpoint).
pub fn version_segment(version: hubspot_client::ApiVersion) -> &'static str {
    match version {
        hubspot_client::ApiVersion::Legacy => "v3",
        other => other.as_str(),
    }
}

pub fn hubspot_client(hubspot: &FakeHubSpot) -> Client {
    Client::builder()
        .api_version(api_version())
        .base_url(hubspot.base_url())
        .static_token(FakeHubSpot::STATIC_TOKEN)
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

pub async fn stack(backend: Backend) -> Stack {
    stack_with(backend, FakeHubSpot::start().await).await
}

pub async fn stack_with(backend: Backend, hubspot: FakeHubSpot) -> Stack {
    stack_on(stores(backend).await, hubspot).await
}

/// The stack on the given stores, with the fixture templates and lookups put in them.
pub async fn stack_on(stores: Stores, hubspot: FakeHubSpot) -> Stack {
    let core = FakeCore::start().await;
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID)
        .await
        .unwrap();
    let directory = Arc::new(HttpDirectory::new(&core.base_url(), core.api_key()).unwrap());
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let crm = Crm::builder()
        .hubspot(hubspot_client(&hubspot))
        .stores(stores.stores.clone())
        .directory(directory)
        .clock(clock.clone())
        .config(CrmConfig::for_env(ENV))
        .build()
        .unwrap();
    Stack {
        hubspot,
        core,
        crm,
        stores,
        clock,
    }
}

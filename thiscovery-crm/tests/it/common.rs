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
use thiscovery_crm::store::dynamodb::{
    DynamoLookupStore, DynamoNotificationStore, DynamoTemplateStore, TableNames,
};
use thiscovery_crm::store::memory::{
    MemoryLookupStore, MemoryNotificationStore, MemoryTemplateStore,
};
use thiscovery_crm::store::{
    EmailTemplate, LookupStore, NotificationStore, TemplateStore, task_signup_lookup_key,
};
use thiscovery_crm::{Crm, CrmConfig};
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
    let path = format!(
        "{}/tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A fixture event as an envelope.
pub fn envelope(name: &str) -> Envelope {
    Envelope::from_value(fixture(name)).unwrap()
}

/// The fixture email template.
pub fn template_fixture() -> EmailTemplate {
    let path = format!(
        "{}/tests/fixtures/items/email-template.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The stores of one backend.
pub struct Stores {
    pub notifications: Arc<dyn NotificationStore>,
    pub templates: Arc<dyn TemplateStore>,
    pub lookups: Arc<dyn LookupStore>,
    pub dynamo: Option<(aws_sdk_dynamodb::Client, TableNames)>,
}

pub async fn stores(backend: Backend) -> Stores {
    match backend {
        Backend::Memory => Stores {
            notifications: Arc::new(MemoryNotificationStore::new()),
            templates: Arc::new(MemoryTemplateStore::new()),
            lookups: Arc::new(MemoryLookupStore::new()),
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
        notifications: Arc::new(DynamoNotificationStore::new(
            client.clone(),
            tables.notifications.clone(),
        )),
        templates: Arc::new(DynamoTemplateStore::new(
            client.clone(),
            tables.templates.clone(),
        )),
        lookups: Arc::new(DynamoLookupStore::new(
            client.clone(),
            tables.lookups.clone(),
        )),
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

pub fn hubspot_client(hubspot: &FakeHubSpot) -> Client {
    Client::builder()
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
    stores
        .templates
        .put_template(&template_fixture())
        .await
        .unwrap();
    let mut custom = template_fixture();
    custom.id = "test_custom_email".into();
    custom.custom_properties = [
        "file_name",
        "file_description",
        "file_instruction",
        "file_download_url",
    ]
    .into_iter()
    .map(|name| thiscovery_crm::store::TemplateProperty {
        name: name.into(),
        required: true,
    })
    .chain([thiscovery_crm::store::TemplateProperty {
        name: "project_name".into(),
        required: true,
    }])
    .collect();
    stores.templates.put_template(&custom).await.unwrap();
    stores
        .lookups
        .put_lookup(
            &task_signup_lookup_key(ENV),
            &json!({"hubspot_id": FakeHubSpot::TIMELINE_TEMPLATE_ID}),
        )
        .await
        .unwrap();
    let directory = Arc::new(HttpDirectory::new(&core.base_url(), core.api_key()).unwrap());
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let crm = Crm::new(
        hubspot_client(&hubspot),
        stores.notifications.clone(),
        stores.templates.clone(),
        stores.lookups.clone(),
        directory,
    )
    .with_config(CrmConfig::for_env(ENV))
    .with_clock(clock.clone());
    Stack {
        hubspot,
        core,
        crm,
        stores,
        clock,
    }
}

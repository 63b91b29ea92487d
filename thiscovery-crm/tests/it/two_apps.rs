//! The Python stack's two HubSpot OAuth apps (issue #13): contacts and timeline events
//! through the main app (token item `hubspot`), transactional single-send through the emails
//! app (token item `hubspot-emails`), each refreshing its own token from its own tokens-table
//! item, against crm-testkit's fake with two OAuth clients registered, on DynamoDB Local.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use crm_testkit::core::FakeCore;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot};
use hubspot_client::auth::{OAuthConfig, TokenSet, TokenStore};
use hubspot_client::{Client, RetryPolicy};
use serde_json::json;
use thiscovery_crm::directory::http::HttpDirectory;
use thiscovery_crm::{Crm, CrmConfig, EMAILS_TOKEN_ITEM, MAIN_TOKEN_ITEM, Outcome, testing};

use crate::common::{Backend, ENV, envelope, fixture, stores};

const EMAILS_CLIENT_ID: &str = "emails-client-id";
const EMAILS_CLIENT_SECRET: &str = "emails-client-secret";

/// A client of one app, on its token store, which starts with an expired access token so
/// that each app's first call refreshes through its own OAuth client.
async fn app_client(
    hubspot: &FakeHubSpot,
    client_id: &str,
    client_secret: &str,
    store: Arc<dyn TokenStore>,
) -> Client {
    let issued = hubspot.issue_token_set_for(client_id);
    store
        .save(&TokenSet::new(
            "expired-access-token",
            issued.refresh_token,
            Duration::from_secs(60),
            SystemTime::now() - Duration::from_secs(3600),
        ))
        .await
        .unwrap();
    Client::builder()
        .api_version(crate::common::api_version())
        .base_url(hubspot.base_url())
        .oauth(OAuthConfig::new(client_id, client_secret, store))
        .retry_policy(RetryPolicy::fast_for_tests())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_use_only_the_emails_app_and_the_rest_only_the_main_app() {
    let hubspot = FakeHubSpot::builder()
        .oauth_client(EMAILS_CLIENT_ID, EMAILS_CLIENT_SECRET)
        .start()
        .await;
    let stores = stores(Backend::Dynamo).await;
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID)
        .await
        .unwrap();
    let main = app_client(
        &hubspot,
        FakeHubSpot::CLIENT_ID,
        FakeHubSpot::CLIENT_SECRET,
        stores.tokens.clone(),
    )
    .await;
    let emails = app_client(
        &hubspot,
        EMAILS_CLIENT_ID,
        EMAILS_CLIENT_SECRET,
        stores.email_tokens.clone(),
    )
    .await;
    let core = FakeCore::start().await;
    let crm = Crm::builder()
        .hubspot(main)
        .emails_hubspot(emails)
        .stores(stores.stores.clone())
        .directory(Arc::new(
            HttpDirectory::new(&core.base_url(), core.api_key()).unwrap(),
        ))
        .config(CrmConfig::for_env(ENV))
        .build()
        .unwrap();

    let steven = hubspot.seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    let mut signup = fixture("task-signup");
    signup["detail"]["extra_data"]["crm_id"] = json!(steven);
    let events = [
        envelope("auth0-registration"),
        envelope("auth0-login"),
        thiscovery_crm::events::Envelope::from_value(signup).unwrap(),
        envelope("transactional-email-to-address"),
        envelope("transactional-email-to-user"),
        envelope("custom-email"),
    ];
    for event in &events {
        let report = crm.handle(event).await.unwrap();
        assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    }

    let main_app = format!("oauth:{}", FakeHubSpot::CLIENT_ID);
    let emails_app = format!("oauth:{EMAILS_CLIENT_ID}");
    let journal = hubspot.journal();
    let mut sends = 0;
    let mut others = 0;
    for entry in journal.iter().filter(|e| e.endpoint.is_api()) {
        if entry.status == Some(401) {
            // The expired starting tokens, refused before each app refreshed.
            continue;
        }
        if entry.endpoint == Endpoint::SingleSend {
            sends += 1;
            assert_eq!(entry.app.as_deref(), Some(emails_app.as_str()), "{entry:?}");
        } else {
            others += 1;
            assert_eq!(entry.app.as_deref(), Some(main_app.as_str()), "{entry:?}");
        }
    }
    assert_eq!(sends, 3, "{journal:?}");
    assert!(others >= 4, "{journal:?}");
    // Every versioned call on the version the suite runs on.
    let version = crate::common::version_segment(crate::common::api_version());
    for entry in journal.iter().filter(|e| {
        matches!(
            e.endpoint,
            Endpoint::ContactsBatchUpsert
                | Endpoint::ContactsBatchRead
                | Endpoint::SingleSend
                | Endpoint::OAuthToken
        )
    }) {
        assert_eq!(entry.version.as_deref(), Some(version), "{entry:?}");
    }
    // One refresh per app, each through its own client.
    assert_eq!(hubspot.requests_to(Endpoint::OAuthToken), 2);

    // Each app's token set is in its own tokens-table item, as the Python stack keeps them.
    let (client, tables) = stores.dynamo.as_ref().unwrap();
    let mut access_tokens = Vec::new();
    for item_id in [MAIN_TOKEN_ITEM, EMAILS_TOKEN_ITEM] {
        let item = client
            .get_item()
            .table_name(&tables.tokens)
            .key("id", AttributeValue::S(item_id.into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no token item {item_id}"));
        let details = item["details"].as_m().unwrap();
        let access = details["access_token"].as_s().unwrap().clone();
        assert_ne!(access, "expired-access-token", "{item_id} was refreshed");
        access_tokens.push(access);
    }
    assert_ne!(access_tokens[0], access_tokens[1]);
}

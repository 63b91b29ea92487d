//! The stack's configuration read from a real Secrets Manager API (moto's server mode), as
//! the Python stack deploys it: `SECRETS_NAMESPACE=/{env}/` and the secrets
//! `{ns}hubspot-connection` and `{ns}aws-connection`. The Lambda binary's own run on these
//! secrets (both apps, rotation of the emails app and of core's key) is in tests/lambda.rs.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crm_testkit::core::{ALTHA_EMAIL, FakeCore};
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot};
use crm_testkit::secrets::MotoServer;
use hubspot_client::RetryPolicy;
use hubspot_client::auth::TokenSet;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use thiscovery_crm::config::secrets::SecretError;
use thiscovery_crm::config::{ConfigError, HubSpotAuth, StackConfig};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn both_apps() -> Value {
    json!({
        "client-id": "main-id",
        "client-secret": "main-SECRET",
        "emails-client-id": "emails-id",
        "emails-client-secret": "emails-SECRET",
        "app-id": "123",
        "emails-app-id": "456",
        "api-key": "legacy-SECRET"
    })
}

/// A fresh namespace in moto holding the two secrets (`None`: that secret is not created).
async fn namespace(hubspot: Option<&str>, aws: Option<&str>) -> (&'static MotoServer, String) {
    let moto = MotoServer::shared().await.unwrap();
    let ns = moto.new_namespace();
    if let Some(value) = hubspot {
        moto.create_secret(&format!("{ns}hubspot-connection"), value)
            .await
            .unwrap();
    }
    if let Some(value) = aws {
        moto.create_secret(&format!("{ns}aws-connection"), value)
            .await
            .unwrap();
    }
    (moto, ns)
}

async fn load(moto: &MotoServer, vars: &[(&str, &str)]) -> Result<StackConfig, ConfigError> {
    StackConfig::from_lookup_and_secrets(env(vars), moto.client()).await
}

#[tokio::test]
async fn both_apps_and_the_core_key_come_from_the_secrets() {
    let (moto, ns) = namespace(
        Some(&both_apps().to_string()),
        Some(r#"{"aws-api-key": "core-SECRET"}"#),
    )
    .await;
    let c = load(moto, &[("SECRETS_NAMESPACE", &ns)]).await.unwrap();
    let env_name = ns.trim_matches('/');
    // The Python stack's names, from the namespace alone.
    assert_eq!(c.stack_name, format!("thiscovery-crm-{env_name}"));
    assert_eq!(c.crm.env, env_name);
    assert_eq!(
        c.core_base_url,
        format!("https://{env_name}-api.thiscovery.org/")
    );
    assert!(matches!(
        &c.hubspot_auth,
        HubSpotAuth::OAuth { client_id, client_secret, token_item, .. }
            if client_id == "main-id" && client_secret.expose_secret() == "main-SECRET" && token_item == "hubspot"
    ));
    assert!(matches!(
        &c.emails_hubspot_auth,
        Some(HubSpotAuth::OAuth { client_id, client_secret, token_item, .. })
            if client_id == "emails-id" && client_secret.expose_secret() == "emails-SECRET" && token_item == "hubspot-emails"
    ));
    assert_eq!(c.core_api_key.expose_secret(), "core-SECRET");
    assert!(c.hubspot_from_secrets() && c.core_api_key_from_secrets());
    let shown = format!("{c:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(&ns), "{shown}");
}

#[tokio::test]
async fn without_the_emails_keys_one_app_does_everything() {
    let one = json!({"client-id": "main-id", "client-secret": "s", "app-id": "1"});
    let (moto, ns) = namespace(Some(&one.to_string()), Some(r#"{"aws-api-key": "k"}"#)).await;
    let c = load(moto, &[("SECRETS_NAMESPACE", &ns)]).await.unwrap();
    assert!(c.emails_hubspot_auth.is_none());
    assert!(
        matches!(&c.hubspot_auth, HubSpotAuth::OAuth { client_id, .. } if client_id == "main-id")
    );
}

#[tokio::test]
async fn explicit_variables_win_and_their_secret_is_not_read() {
    // Neither secret exists: every credential comes from a variable.
    let (moto, ns) = namespace(None, None).await;
    let vars = [
        ("SECRETS_NAMESPACE", ns.as_str()),
        ("HUBSPOT_ACCESS_TOKEN", "pat-SECRET"),
        ("THISCOVERY_CORE_API_KEY", "k-SECRET"),
        ("THISCOVERY_CORE_URL", "http://127.0.0.1:9/"),
        ("STACK_NAME", "mine"),
    ];
    let c = load(moto, &vars).await.unwrap();
    assert!(matches!(c.hubspot_auth, HubSpotAuth::Static(_)));
    assert!(!c.hubspot_from_secrets() && !c.core_api_key_from_secrets());
    assert_eq!(
        (c.stack_name.as_str(), c.core_base_url.as_str()),
        ("mine", "http://127.0.0.1:9/")
    );
    // Only core's key from its secret.
    let (moto, ns) = namespace(None, Some(r#"{"aws-api-key": "from-the-secret"}"#)).await;
    let c = load(
        moto,
        &[("SECRETS_NAMESPACE", &ns), ("HUBSPOT_ACCESS_TOKEN", "t")],
    )
    .await
    .unwrap();
    assert_eq!(c.core_api_key.expose_secret(), "from-the-secret");
    assert!(!c.hubspot_from_secrets() && c.core_api_key_from_secrets());
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_its_id() {
    let (moto, ns) = namespace(None, Some(r#"{"aws-api-key": "k"}"#)).await;
    let err = load(moto, &[("SECRETS_NAMESPACE", &ns)]).await.unwrap_err();
    assert_eq!(
        err,
        ConfigError::Secret(SecretError::NotFound {
            secret_id: format!("{ns}hubspot-connection")
        })
    );
    assert_eq!(
        err.to_string(),
        format!("secret {ns}hubspot-connection does not exist in Secrets Manager")
    );
    let (moto, ns) = namespace(Some(&both_apps().to_string()), None).await;
    let err = load(moto, &[("SECRETS_NAMESPACE", &ns)]).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("{ns}aws-connection")),
        "{err}"
    );
}

#[tokio::test]
async fn a_malformed_secret_is_an_error_naming_the_secret_and_the_key_never_a_value() {
    let mut no_secret = both_apps();
    no_secret.as_object_mut().unwrap().remove("client-secret");
    let mut half_emails = both_apps();
    half_emails
        .as_object_mut()
        .unwrap()
        .remove("emails-client-secret");
    let cases = [
        (
            "client-id: main-SECRET".to_owned(),
            "is not a JSON object: invalid JSON",
        ),
        (
            r#""main-SECRET""#.to_owned(),
            "is not a JSON object: it is a string",
        ),
        (no_secret.to_string(), "key `client-secret` is missing"),
        (
            half_emails.to_string(),
            "key `emails-client-secret` is missing",
        ),
        (
            json!({"client-id": 42, "client-secret": "main-SECRET"}).to_string(),
            "key `client-id` is not a string",
        ),
    ];
    for (value, expected) in cases {
        let (moto, ns) = namespace(Some(&value), Some(r#"{"aws-api-key": "k"}"#)).await;
        let err = load(moto, &[("SECRETS_NAMESPACE", &ns)]).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains(&format!("{ns}hubspot-connection")),
            "{shown}"
        );
        assert!(shown.contains(expected), "{value}: {shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    let (moto, ns) = namespace(
        Some(&both_apps().to_string()),
        Some(r#"{"api-key": "k-SECRET"}"#),
    )
    .await;
    let err = load(moto, &[("SECRETS_NAMESPACE", &ns)]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("secret {ns}aws-connection: key `aws-api-key` is missing")
    );
}

/// The main app's client secret was rotated after the cold start: the first refresh is
/// refused, the secret is read again, the refresh retried, and the registration goes
/// through, with the stack built from the configuration exactly as the Lambda builds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_built_from_secrets_reads_a_rotated_main_app_secret_again() {
    let hubspot = FakeHubSpot::start().await;
    let core = FakeCore::start().await;
    let ddb = DynamoDbLocal::shared().await.unwrap();
    let stack = ddb.new_stack_with_tables().await.unwrap();
    let stale = json!({"client-id": FakeHubSpot::CLIENT_ID, "client-secret": "main-STALE"});
    let (moto, ns) = namespace(
        Some(&stale.to_string()),
        Some(&json!({ "aws-api-key": core.api_key() }).to_string()),
    )
    .await;
    let vars = [
        ("SECRETS_NAMESPACE", ns.as_str()),
        ("STACK_NAME", stack.as_str()),
        ("HUBSPOT_BASE_URL", &hubspot.base_url()),
        ("THISCOVERY_CORE_URL", &core.base_url()),
    ];
    let config = load(moto, &vars).await.unwrap();
    assert!(config.emails_hubspot_auth.is_none());
    let crm = config
        .build_with(ddb.client(), |b| {
            b.retry_policy(RetryPolicy::fast_for_tests())
        })
        .unwrap();
    // The Python stack's token item, expired: the first call refreshes.
    let issued = hubspot.issue_token_set();
    let stores = thiscovery_crm::Stores::dynamodb(ddb.client(), &config.tables());
    stores
        .tokens
        .save(&TokenSet::new(
            issued.access_token,
            issued.refresh_token,
            Duration::from_secs(issued.expires_in),
            SystemTime::now() - Duration::from_secs(3600),
        ))
        .await
        .unwrap();
    // Rotated in Secrets Manager after the configuration was read.
    let rotated =
        json!({"client-id": FakeHubSpot::CLIENT_ID, "client-secret": FakeHubSpot::CLIENT_SECRET});
    moto.put_secret_value(&format!("{ns}hubspot-connection"), &rotated.to_string())
        .await
        .unwrap();
    let event = thiscovery_crm::events::Envelope::from_value(
        serde_json::from_str(
            thiscovery_crm::testing::fixtures::event("auth0-registration").unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let report = crm.handle(&event).await.unwrap();
    assert_eq!(report.outcome.as_str(), "processed", "{report:?}");
    assert_eq!(
        hubspot.requests_to(Endpoint::OAuthToken),
        2,
        "refused, then retried"
    );
    assert_eq!(hubspot.tokens_issued(), 1);
    assert!(hubspot.contact_by_email(ALTHA_EMAIL).is_some());
    assert!(!format!("{config:?} {report:?}").contains("main-STALE"));
}

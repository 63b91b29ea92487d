//! OAuth: proactive single-flight refresh, the 401 safety net, dead refresh tokens.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use hubspot_client::auth::{
    ClientCredentials, CredentialsSource, MemoryTokenStore, OAuthConfig, TokenSet, TokenStoreError,
};
use hubspot_client::ids::ObjectId;
use hubspot_client::{Client, Error, RetryPolicy};
use secrecy::ExposeSecret;
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{error_body, expired_tokens, fresh_tokens, oauth_client, rate_limited};

fn token_response(access: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access,
        "refresh_token": "refresh-1",
        "expires_in": 1800,
        "token_type": "bearer"
    }))
}

async fn mount_token_endpoint(server: &MockServer, access: &str, delay: Duration) {
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("client_id=client-id"))
        .and(body_string_contains("client_secret=client-secret-XYZ"))
        .and(body_string_contains("refresh_token=refresh-1"))
        .respond_with(token_response(access).set_delay(delay))
        .mount(server)
        .await;
}

async fn mount_contact_for(server: &MockServer, access: &str) {
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/7"))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "7", "properties": {}})),
        )
        .mount(server)
        .await;
}

async fn count(server: &MockServer, route: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == route)
        .count()
}

async fn get(client: &Client) -> hubspot_client::Result<hubspot_client::contacts::Contact> {
    client.contacts().get(&ObjectId::from("7"), &[]).await
}

#[tokio::test]
async fn expired_token_is_refreshed_before_use_and_saved() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-new", Duration::ZERO).await;
    mount_contact_for(&server, "access-new").await;
    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    let client = oauth_client(&server, store.clone());
    get(&client).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
    assert_eq!(store.saves(), 1);
    let saved = store.get().unwrap();
    assert_eq!(saved.access_token.expose_secret(), "access-new");
    assert_eq!(saved.expires_in, Duration::from_secs(1800));
    // The next call reuses the cached token.
    get(&client).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_calls_on_an_expired_token_make_one_token_request() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-new", Duration::from_millis(200)).await;
    mount_contact_for(&server, "access-new").await;
    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    let client = oauth_client(&server, store.clone());
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let c = client.clone();
            async move { get(&c).await.map(|_| ()) }
        })
        .collect();
    for result in join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
    assert_eq!(count(&server, "/crm/v3/objects/contacts/7").await, 50);
    assert_eq!(store.saves(), 1);
}

#[tokio::test]
async fn refresh_skew_decides_when_to_refresh() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-new", Duration::ZERO).await;
    mount_contact_for(&server, "access-new").await;
    mount_contact_for(&server, "access-soon").await;
    // A 30-minute token with 60 s left.
    let soon = TokenSet::new(
        "access-soon",
        "refresh-1",
        Duration::from_secs(1800),
        SystemTime::now() - Duration::from_secs(1740),
    );
    // 60 s left, 30 s skew: still fresh.
    let client = Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(
            OAuthConfig::new(
                "client-id",
                "client-secret-XYZ",
                Arc::new(MemoryTokenStore::with_tokens(soon.clone())),
            )
            .refresh_skew(Duration::from_secs(30)),
        )
        .no_rate_limit()
        .build()
        .unwrap();
    get(&client).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 0);
    // 60 s left, 120 s skew: refreshed first.
    let client = Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(
            OAuthConfig::new(
                "client-id",
                "client-secret-XYZ",
                Arc::new(MemoryTokenStore::with_tokens(soon)),
            )
            .refresh_skew(Duration::from_secs(120)),
        )
        .no_rate_limit()
        .build()
        .unwrap();
    get(&client).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
}

#[tokio::test]
async fn a_401_refreshes_once_and_resends() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-B", Duration::ZERO).await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/7"))
        .and(header("authorization", "Bearer access-A"))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body(
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 2 minutes ago.",
        )))
        .mount(&server)
        .await;
    mount_contact_for(&server, "access-B").await;
    let store = Arc::new(MemoryTokenStore::with_tokens(fresh_tokens("access-A")));
    get(&oauth_client(&server, store)).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
    assert_eq!(count(&server, "/crm/v3/objects/contacts/7").await, 2);
}

#[tokio::test]
async fn a_second_401_is_an_error() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-B", Duration::ZERO).await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/7"))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body(
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found.",
        )))
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::with_tokens(fresh_tokens("access-A")));
    let err = get(&oauth_client(&server, store)).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(
        err.api_error().unwrap().category.as_deref(),
        Some("INVALID_AUTHENTICATION")
    );
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
    assert_eq!(count(&server, "/crm/v3/objects/contacts/7").await, 2);
}

#[tokio::test]
async fn a_static_token_401_is_returned_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(error_body("INVALID_AUTHENTICATION", "no")),
        )
        .mount(&server)
        .await;
    let err = get(&crate::common::client(&server)).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_dead_refresh_token_requires_reauthorization() {
    for body in [
        json!({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token", "correlationId": "x"}),
        json!({"error": "invalid_grant", "error_description": "refresh token is revoked"}),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/v3/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(body))
            .mount(&server)
            .await;
        let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
        let err = get(&oauth_client(&server, store.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ReauthorizationRequired(_)), "{err:?}");
        assert_eq!(err.class(), hubspot_client::ErrorClass::Permanent);
        assert_eq!(count(&server, "/oauth/v3/token").await, 1);
        assert_eq!(count(&server, "/crm/v3/objects/contacts/7").await, 0);
        assert_eq!(store.saves(), 0);
    }
}

#[tokio::test]
async fn the_token_endpoints_own_429_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token"))
        .respond_with(rate_limited("TEN_SECONDLY_ROLLING").insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token_endpoint(&server, "access-new", Duration::ZERO).await;
    mount_contact_for(&server, "access-new").await;
    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    get(&oauth_client(&server, store)).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 2);
}

#[tokio::test]
async fn empty_store_uses_the_configured_refresh_token_or_says_no_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .and(body_string_contains("refresh_token=refresh-0"))
        .respond_with(token_response("access-v1"))
        .mount(&server)
        .await;
    mount_contact_for(&server, "access-v1").await;
    let store = Arc::new(MemoryTokenStore::new());
    let client = Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(
            OAuthConfig::new("client-id", "client-secret-XYZ", store.clone())
                .refresh_token("refresh-0")
                .token_path("/oauth/v1/token"),
        )
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .build()
        .unwrap();
    get(&client).await.unwrap();
    assert_eq!(store.saves(), 1);

    let client = Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(OAuthConfig::new(
            "client-id",
            "s",
            Arc::new(MemoryTokenStore::new()),
        ))
        .build()
        .unwrap();
    assert!(matches!(get(&client).await.unwrap_err(), Error::NoToken));
}

#[tokio::test]
async fn a_token_another_process_saved_is_used_without_refreshing() {
    let server = MockServer::start().await;
    mount_contact_for(&server, "access-other").await;
    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    let client = oauth_client(&server, store.clone());
    // Another process refreshed and saved while this client held the expired set.
    hubspot_client::auth::TokenStore::save(store.as_ref(), &fresh_tokens("access-other"))
        .await
        .unwrap();
    get(&client).await.unwrap();
    assert_eq!(count(&server, "/oauth/v3/token").await, 0);
}

/// A [`CredentialsSource`] that hands out `current` and counts how often it is asked.
#[derive(Debug)]
struct Rotating {
    current: std::sync::Mutex<Option<ClientCredentials>>,
    reloads: std::sync::atomic::AtomicUsize,
}

impl Rotating {
    fn holding(credentials: Option<ClientCredentials>) -> Arc<Self> {
        Arc::new(Rotating {
            current: std::sync::Mutex::new(credentials),
            reloads: Default::default(),
        })
    }

    fn reloads(&self) -> usize {
        self.reloads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl CredentialsSource for Rotating {
    async fn reload(&self) -> Result<ClientCredentials, TokenStoreError> {
        self.reloads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.current
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| "the secret store is unreachable".into())
    }
}

/// The token endpoint refuses every client secret but `client-secret-XYZ`, as HubSpot does
/// once an app's secret was rotated.
async fn mount_refusal_of_other_secrets(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "BAD_CLIENT_ID",
            "message": "missing or unknown client id",
            "correlationId": "c-rotated"
        })))
        .with_priority(5)
        .mount(server)
        .await;
}

fn client_with_source(
    server: &MockServer,
    secret: &str,
    store: Arc<MemoryTokenStore>,
    source: Arc<Rotating>,
) -> Client {
    Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(OAuthConfig::new("client-id", secret, store).credentials_source(source))
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_refused_refresh_reads_the_credentials_again_and_retries_once() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-new", Duration::ZERO).await;
    mount_refusal_of_other_secrets(&server).await;
    mount_contact_for(&server, "access-new").await;
    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    let source = Rotating::holding(Some(ClientCredentials::new(
        "client-id",
        "client-secret-XYZ",
    )));
    let client = client_with_source(&server, "client-secret-OLD", store.clone(), source.clone());
    get(&client).await.unwrap();
    assert_eq!(source.reloads(), 1);
    assert_eq!(
        count(&server, "/oauth/v3/token").await,
        2,
        "refused, then retried"
    );
    assert_eq!(
        store.get().unwrap().access_token.expose_secret(),
        "access-new"
    );
    // The credentials read again are kept: the next refresh uses them at once.
    client.oauth().refresh_now().await.unwrap();
    assert_eq!(source.reloads(), 1);
    assert_eq!(count(&server, "/oauth/v3/token").await, 3);
}

#[tokio::test]
async fn a_refused_refresh_with_unchanged_or_unreadable_credentials_is_not_retried() {
    for source in [
        Rotating::holding(Some(ClientCredentials::new(
            "client-id",
            "client-secret-OLD",
        ))),
        Rotating::holding(None),
    ] {
        let server = MockServer::start().await;
        mount_refusal_of_other_secrets(&server).await;
        let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
        let client =
            client_with_source(&server, "client-secret-OLD", store.clone(), source.clone());
        let err = get(&client).await.unwrap_err();
        assert!(matches!(err, Error::ReauthorizationRequired(_)), "{err:?}");
        assert_eq!(source.reloads(), 1);
        assert_eq!(count(&server, "/oauth/v3/token").await, 1, "no retry");
        assert_eq!(store.saves(), 0);
        assert!(!format!("{err} {err:?} {client:?}").contains("client-secret"));
    }
}

/// A token store whose first `failures` saves fail.
#[derive(Debug)]
struct FlakyStore {
    inner: MemoryTokenStore,
    failures: std::sync::atomic::AtomicUsize,
    attempts: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl hubspot_client::auth::TokenStore for FlakyStore {
    async fn load(&self) -> Result<Option<TokenSet>, hubspot_client::auth::TokenStoreError> {
        self.inner.load().await
    }
    async fn save(&self, tokens: &TokenSet) -> Result<(), hubspot_client::auth::TokenStoreError> {
        use std::sync::atomic::Ordering;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err("the store is down".into());
        }
        self.inner.save(tokens).await
    }
}

fn client_on(server: &MockServer, store: Arc<dyn hubspot_client::auth::TokenStore>) -> Client {
    Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(OAuthConfig::new("client-id", "client-secret-XYZ", store))
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .build()
        .unwrap()
}

/// Issue #15, case 4: a failed refresh is single-flight too: every call waiting on it shares
/// its outcome (one refresh with its retries, not one per waiter in series).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_refresh_is_shared_by_every_call_waiting_on_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(error_body("INTERNAL_ERROR", "try later"))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    let client = client_on(&server, store);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            async move { get(&c).await }
        })
        .collect();
    for result in join_all(calls).await {
        let err = result.unwrap_err();
        assert_eq!(err.status(), Some(503), "{err}");
    }
    // One refresh, retried by the policy: 5 attempts in all (fast_for_tests), not 50.
    assert_eq!(count(&server, "/oauth/v3/token").await, 5);
    assert_eq!(count(&server, "/crm/v3/objects/contacts/7").await, 0);
}

/// Issue #15, case 4: a token set the store would not take is still used by this process
/// (its refresh token may be the only valid one now), and saved once the store is back.
#[tokio::test]
async fn a_token_the_store_refuses_is_used_and_saved_later() {
    let server = MockServer::start().await;
    mount_token_endpoint(&server, "access-new", Duration::ZERO).await;
    mount_contact_for(&server, "access-new").await;
    let store = Arc::new(FlakyStore {
        inner: MemoryTokenStore::with_tokens(expired_tokens()),
        failures: 1.into(),
        attempts: 0.into(),
    });
    let client = client_on(&server, store.clone());
    for _ in 0..3 {
        get(&client).await.unwrap();
    }
    assert_eq!(count(&server, "/oauth/v3/token").await, 1);
    assert_eq!(
        store.inner.get().unwrap().access_token.expose_secret(),
        "access-new",
        "saved on a later call"
    );
    assert_eq!(store.attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// Issue #15, case 5: a huge `expires_in` does not panic (it is capped), and a token that
/// lives less than the refresh skew is refreshed at most once per half its lifetime instead
/// of before every call.
#[tokio::test]
async fn hostile_and_short_token_lifetimes() {
    for (expires_in, calls, refreshes) in [(u64::MAX, 3, 1), (60, 5, 1)] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/v3/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "access-new", "refresh_token": "refresh-1",
                "expires_in": expires_in, "token_type": "bearer"
            })))
            .mount(&server)
            .await;
        mount_contact_for(&server, "access-new").await;
        // The default skew (5 minutes) is longer than a 60 s token lives.
        let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
        let client = client_on(&server, store);
        for _ in 0..calls {
            get(&client).await.unwrap();
        }
        assert_eq!(
            count(&server, "/oauth/v3/token").await,
            refreshes,
            "expires_in {expires_in}"
        );
    }
    // A stored set whose times no clock can add never panics either.
    let absurd = TokenSet::new("a", "r", Duration::MAX, SystemTime::now());
    assert!(!absurd.is_fresh(SystemTime::now(), Duration::MAX));
    assert!(absurd.expires_at() > SystemTime::now());
}

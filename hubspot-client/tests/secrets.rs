//! Secrets never reach `Debug`, `Display`, errors or tracing output.
//!
//! Its own test binary, not a module of `tests/it`: the test captures tracing with a
//! thread-local subscriber (`set_default`), and tracing caches each callsite's interest
//! process-wide. In a binary whose other tests ran on other threads without a subscriber,
//! the `hubspot.request` span was now and then cached as uninteresting and not captured (a
//! CI failure: "tracing was not captured"). Alone in its process, the callsites register
//! only after the subscriber is set.

// Test helpers outside #[test] functions unwrap freely: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot_client::auth::{MemoryTokenStore, OAuthConfig};
use hubspot_client::ids::ObjectId;
use hubspot_client::{Client, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "it/common.rs"]
#[allow(dead_code)]
mod common;

use common::{error_body, expired_tokens};

const SECRETS: [&str; 5] = [
    "client-secret-XYZ",
    "access-expired",
    "refresh-1",
    "ACCESS-NEW-SECRET",
    "static-SECRET-token",
];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

#[tokio::test]
async fn no_secret_in_debug_display_errors_or_traces() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v3/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ACCESS-NEW-SECRET",
            "refresh_token": "refresh-1",
            "expires_in": 1800,
            "token_type": "bearer"
        })))
        .mount(&server)
        .await;
    // The first use of the new token is refused (forcing a second refresh), then the call
    // fails for good with a 400.
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/7"))
        .and(header("authorization", "Bearer ACCESS-NEW-SECRET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(error_body("EXPIRED_AUTHENTICATION", "expired")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/7"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(error_body("VALIDATION_ERROR", "bad")),
        )
        .mount(&server)
        .await;

    let store = Arc::new(MemoryTokenStore::with_tokens(expired_tokens()));
    let config = OAuthConfig::new("client-id", "client-secret-XYZ", store.clone())
        .refresh_token("refresh-1");
    assert_clean("OAuthConfig", &format!("{config:?}"));
    let client = Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(config)
        .retry_policy(RetryPolicy::fast_for_tests())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = client
        .contacts()
        .get(&ObjectId::from("7"), &[])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/oauth/v3/token")
            .count(),
        2
    );

    assert_clean("client", &format!("{client:?}"));
    assert_clean("error debug", &format!("{err:?}"));
    assert_clean("error display", &format!("{err}"));
    assert_clean("token set", &format!("{:?}", store.get().unwrap()));
    assert_clean("store", &format!("{store:?}"));
    let tokens = client.oauth().token_set().await.unwrap();
    assert_clean("current tokens", &format!("{tokens:?}"));

    let builder = Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .static_token("static-SECRET-token");
    assert_clean("builder", &format!("{builder:?}"));
    let static_client = builder.base_url(server.uri()).build().unwrap();
    assert_clean("static client", &format!("{static_client:?}"));

    let traces = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        traces.contains("hubspot.request"),
        "tracing was not captured: {traces}"
    );
    assert!(traces.contains("refreshing"), "{traces}");
    assert_clean("traces", &traces);
}

//! No secret anywhere: a full run with OAuth refreshes (proactive and after a 401), with all
//! tracing output captured at TRACE and the `Debug`/`Display` of the stack, token sets,
//! reports and errors collected; no access token, refresh token, client secret or API key
//! appears in any of it.
//!
//! Its own test binary, not a module of `tests/it`: the test captures tracing with a
//! thread-local subscriber (`set_default`), and tracing caches each callsite's interest
//! process-wide, so in a binary whose other tests run on other threads without a subscriber
//! a span can be cached as uninteresting and go uncaptured (seen in CI with hubspot-client's
//! twin of this test).

// Test helpers outside #[test] functions unwrap freely: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crm_testkit::core::FakeCore;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use hubspot_client::auth::{MemoryTokenStore, OAuthConfig, TokenSet};
use hubspot_client::{Client, RetryPolicy};
use secrecy::ExposeSecret;
use thiscovery_crm::directory::http::HttpDirectory;
use thiscovery_crm::testing;
use thiscovery_crm::{Crm, CrmConfig, Stores};

#[path = "it/common.rs"]
#[allow(dead_code, unused_macros)]
mod common;

use common::{ENV, envelope};

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

#[tokio::test]
async fn no_secret_in_traces_debug_or_errors_during_a_full_run() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let hubspot = FakeHubSpot::start().await;
    let core = FakeCore::start().await;
    let issued = hubspot.issue_token_set();
    // Obtained an hour ago: expired, so the first call refreshes proactively.
    let stale = TokenSet::new(
        issued.access_token.clone(),
        issued.refresh_token.clone(),
        Duration::from_secs(issued.expires_in),
        SystemTime::now() - Duration::from_secs(3600),
    );
    let store = Arc::new(MemoryTokenStore::with_tokens(stale));
    let client = Client::builder()
        .base_url(hubspot.base_url())
        .oauth(OAuthConfig::new(
            FakeHubSpot::CLIENT_ID,
            FakeHubSpot::CLIENT_SECRET,
            store.clone(),
        ))
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .build()
        .unwrap();
    let stores = Stores::memory();
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID)
        .await
        .unwrap();
    let directory = Arc::new(HttpDirectory::new(&core.base_url(), core.api_key()).unwrap());
    let crm = Crm::builder()
        .hubspot(client.clone())
        .stores(stores)
        .directory(directory)
        .config(CrmConfig::for_env(ENV))
        .build()
        .unwrap();

    let mut shown = Vec::new();
    let first = crm.handle(&envelope("auth0-registration")).await.unwrap();
    shown.push(format!("{first:?}"));
    // Access tokens expire behind the client's back: the next call gets a 401 and refreshes.
    hubspot.expire_access_tokens();
    shown.push(format!(
        "{:?}",
        crm.handle(&envelope("auth0-login")).await.unwrap()
    ));
    // A failing call, to see the errors too.
    hubspot.inject(Endpoint::SingleSend, Fault::status(400).times(1));
    let failed = crm
        .handle(&envelope("transactional-email-to-address"))
        .await
        .unwrap();
    shown.push(format!("{failed:?}"));
    assert!(failed.reason.is_some());
    let err = client
        .contacts()
        .get(&hubspot_client::ids::ObjectId::from("999999"), &[])
        .await
        .unwrap_err();
    shown.push(format!("{err:?}"));
    shown.push(err.to_string());
    shown.push(format!("{crm:?}"));
    shown.push(format!("{client:?}"));
    shown.push(format!("{store:?}"));
    let current = store.get().unwrap();
    shown.push(format!("{current:?}"));
    assert!(
        hubspot.tokens_issued() >= 2,
        "the run refreshed proactively and after a 401"
    );

    let mut secrets = vec![
        FakeHubSpot::CLIENT_SECRET.to_owned(),
        issued.access_token,
        issued.refresh_token,
        current.access_token.expose_secret().to_owned(),
        current.refresh_token.expose_secret().to_owned(),
        core.api_key(),
    ];
    secrets.dedup();
    let traces = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        traces.contains("hubspot.request"),
        "tracing was not captured"
    );
    shown.push(traces);
    for text in &shown {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into: {text}"
            );
        }
    }
}

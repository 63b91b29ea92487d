//! Shared helpers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hubspot_client::auth::{MemoryTokenStore, OAuthConfig, TokenSet};
use hubspot_client::{Client, RetryPolicy};
use serde_json::{Value, json};
use wiremock::{MockServer, Request, ResponseTemplate};

pub const TOKEN: &str = "test-static-token";

/// A client with a static token, fast retries and no client-side limiter.
pub fn client(server: &MockServer) -> Client {
    Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .static_token(TOKEN)
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// An OAuth client whose store holds `tokens`.
pub fn oauth_client(server: &MockServer, store: Arc<MemoryTokenStore>) -> Client {
    Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .oauth(OAuthConfig::new("client-id", "client-secret-XYZ", store).refresh_token("refresh-0"))
        .retry_policy(RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .build()
        .unwrap()
}

/// A token set that expired an hour ago.
pub fn expired_tokens() -> TokenSet {
    TokenSet::new(
        "access-expired",
        "refresh-1",
        Duration::from_secs(1800),
        SystemTime::now() - Duration::from_secs(3600),
    )
}

/// A token set valid for half an hour.
pub fn fresh_tokens(access: &str) -> TokenSet {
    TokenSet::new(
        access,
        "refresh-1",
        Duration::from_secs(1800),
        SystemTime::now(),
    )
}

/// HubSpot's error body.
pub fn error_body(category: &str, message: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": "5c2b4ab5-0d1f-4a09-8c3f-1c5e2b1f0000",
        "category": category,
    })
}

/// HubSpot's 429 for a policy, with its rate-limit headers.
pub fn rate_limited(policy: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("X-HubSpot-RateLimit-Max", "100")
        .insert_header("X-HubSpot-RateLimit-Remaining", "0")
        .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "20")
        .set_body_json(json!({
            "status": "error",
            "message": format!("You have reached your {} limit.", policy.to_lowercase()),
            "errorType": "RATE_LIMIT",
            "correlationId": "c0ffee00-0000-0000-0000-000000000000",
            "policyName": policy,
            "groupName": "publicapi",
        }))
}

/// The JSON body of a received request.
pub fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

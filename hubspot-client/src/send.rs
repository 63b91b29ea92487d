//! The one request path every call goes through, in order:
//!
//! 1. wait for the rate limiter (every attempt, retries included);
//! 2. attach a valid access token (proactive, single-flight refresh);
//! 3. send with the per-attempt timeout and read the whole body;
//! 4. classify the outcome ([`Error::class`]);
//! 5. on a 401, refresh once and resend; on a retryable failure, wait (server-given
//!    `Retry-After`, else exponential backoff with full jitter) and go to 1, while attempts and
//!    the overall deadline allow and the call is safe to repeat;
//! 6. decode the body into a typed model, or return a typed error.

use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::auth::{TokenEndpoint, TokenResponse};
use crate::client::{Auth, Inner};
use crate::error::{ApiError, Error, ErrorClass, Result, TransportKind};
use crate::policy::{next_daily_reset, parse_retry_after};

/// Whether a call may be repeated after an outcome that leaves its effect unknown (a timeout,
/// a 5xx, a connection dropped mid-request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Reads and idempotent writes (upsert by email, timeline event with an id, single-send
    /// with a `sendId`): retried on every retryable failure.
    Idempotent,
    /// Creates: retried only when the request certainly had no effect (429, 423, a refused
    /// connection, a 401 before refresh).
    NotIdempotent,
}

/// A request body, serialized once and reused by every attempt.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Bytes),
    Form(Bytes),
}

/// One logical call.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) endpoint: &'static str,
    pub(crate) method: Method,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Body>,
    pub(crate) idempotency: Idempotency,
    /// Send a bearer token (false for the OAuth token endpoint).
    pub(crate) authenticated: bool,
}

impl Request {
    /// A request to the `/`-separated `path` (static segments only; dynamic segments are added
    /// with [`Request::segment`] so they are percent-encoded).
    pub(crate) fn new(endpoint: &'static str, method: Method, path: &str) -> Self {
        Request {
            endpoint,
            method,
            segments: path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            authenticated: true,
        }
    }

    pub(crate) fn segment(mut self, segment: impl Into<String>) -> Self {
        self.segments.push(segment.into());
        self
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidRequest(format!("could not serialize the body: {e}")))?;
        self.body = Some(Body::Json(Bytes::from(bytes)));
        Ok(self)
    }

    pub(crate) fn not_idempotent(mut self) -> Self {
        self.idempotency = Idempotency::NotIdempotent;
        self
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Response {
    pub(crate) fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        decode(&self.body)
    }
}

/// Decodes JSON, naming the path where it failed.
///
/// The body is decoded with plain `serde_json` first; only a body that fails is decoded a
/// second time through `serde_path_to_error` to find the path. Tracking the path on every
/// response cost about as much CPU as the rest of the client's per-call work (B2's first
/// run, in benches/HISTORY.md), and successful responses are the common case.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(fast) => {
            let de = &mut serde_json::Deserializer::from_slice(body);
            match serde_path_to_error::deserialize::<_, T>(de) {
                Err(e) => Err(Error::Decode {
                    path: e.path().to_string(),
                    source: e.into_inner(),
                }),
                // Unreachable for a deterministic `Deserialize`; keep the first error.
                Ok(_) => Err(Error::Decode {
                    path: ".".to_owned(),
                    source: fast,
                }),
            }
        }
    }
}

/// What one attempt produced.
enum Outcome {
    Success(Response),
    Failed(Error),
}

impl Inner {
    /// Sends `request` and decodes a JSON response.
    pub(crate) async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T> {
        self.execute(request).await?.decode()
    }

    /// Sends `request` through the whole attempt loop.
    pub(crate) async fn execute(&self, request: Request) -> Result<Response> {
        let span = tracing::debug_span!(
            "hubspot.request",
            endpoint = request.endpoint,
            method = %request.method,
            attempts = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        self.attempt_loop(request).instrument(span).await
    }

    async fn attempt_loop(&self, request: Request) -> Result<Response> {
        let started = Instant::now();
        let policy = &self.retry;
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            // The token first, then the slot: a caller that took its slot and then waited on
            // a refresh would send late, bunched with the others that waited (more than the
            // window allows). The token endpoint is not an API call: it does not count
            // against the API's rate limit, so it takes no slot.
            let token = self.bearer(&request).await?;
            if request.authenticated {
                self.limiter.acquire().await;
            }
            let outcome = self.send_once(&request, token.as_ref()).await;
            if request.authenticated {
                metrics::counter!("hubspot.requests").increment(1);
            }
            let error = match outcome {
                Outcome::Success(response) => {
                    record(attempt, response.status.as_u16());
                    return Ok(response);
                }
                Outcome::Failed(error) => error,
            };
            if let Some(status) = error.status() {
                tracing::Span::current().record("status", status);
            }
            if error.status() == Some(429) {
                metrics::counter!("hubspot.responses_429").increment(1);
            }
            let class = error.class();
            if class == ErrorClass::RefreshAuth {
                if let (Auth::OAuth(manager), Some(token), false) =
                    (&self.auth, token.as_ref(), refreshed)
                {
                    tracing::debug!("access token refused; refreshing once and resending");
                    refreshed = true;
                    manager.refresh_after_401(self, token).await?;
                    attempt -= 1;
                    continue;
                }
                record(attempt, error.status().unwrap_or(0));
                return Err(error);
            }
            let ErrorClass::Retry { retry_after } = class else {
                record(attempt, error.status().unwrap_or(0));
                return Err(error);
            };
            if !safe_to_repeat(&error, request.idempotency) {
                tracing::debug!(
                    "not retrying: the call is not idempotent and its effect is unknown"
                );
                return Err(error);
            }
            if attempt >= policy.max_attempts {
                return Err(exhausted(attempt, error));
            }
            let mut wait = policy.wait(attempt, retry_after, rand::random::<f64>());
            if error.status() == Some(423) {
                wait = wait.max(policy.locked_min_wait);
            }
            if let Some(deadline) = policy.overall_deadline
                && started.elapsed().saturating_add(wait) > deadline
            {
                // Not waited: so no other call is held back by it either.
                return Err(exhausted(attempt, error));
            }
            if error.status() == Some(429) {
                // Everyone sharing this client backs off, not just this call, for the wait
                // this call honours (never more than `max_retry_after`).
                self.limiter.hold_for(wait);
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying");
            metrics::counter!("hubspot.retries").increment(1);
            tokio::time::sleep(wait).await;
        }
    }

    async fn bearer(&self, request: &Request) -> Result<Option<SecretString>> {
        if !request.authenticated {
            return Ok(None);
        }
        Ok(Some(match &self.auth {
            Auth::Static(token) => token.clone(),
            Auth::OAuth(manager) => manager.token(self).await?.access_token,
        }))
    }

    fn url(&self, request: &Request) -> Result<url::Url> {
        let mut url = self.base_url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| Error::Config("base URL cannot take a path".into()))?;
            segments.pop_if_empty();
            for segment in &request.segments {
                segments.push(segment);
            }
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn send_once(&self, request: &Request, token: Option<&SecretString>) -> Outcome {
        let url = match self.url(request) {
            Ok(url) => url,
            Err(e) => return Outcome::Failed(e),
        };
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .timeout(self.timeout);
        if let Some(token) = token {
            let mut value =
                match HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())) {
                    Ok(v) => v,
                    Err(_) => {
                        return Outcome::Failed(Error::Config(
                            "the access token is not a valid header value".into(),
                        ));
                    }
                };
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        match &request.body {
            Some(Body::Json(bytes)) => {
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
            }
            Some(Body::Form(bytes)) => {
                builder = builder
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(bytes.clone());
            }
            None => {}
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(self.transport_error(e)),
        };
        let status = response.status();
        self.limiter.observe(response.headers());
        // Only an error needs a header after the body is read: copy that one, not the map.
        let retry_after = if status.is_success() {
            None
        } else {
            response.headers().get(RETRY_AFTER).cloned()
        };
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(self.transport_error(e)),
        };
        if status.is_success() {
            return Outcome::Success(Response { status, body });
        }
        Outcome::Failed(self.api_error(status.as_u16(), retry_after.as_ref(), &body))
    }

    fn transport_error(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout(self.timeout, e)
        } else if e.is_connect() {
            Error::Transport {
                kind: TransportKind::Connect,
                source: e,
            }
        } else {
            Error::Transport {
                kind: TransportKind::Other,
                source: e,
            }
        }
    }

    /// Turns an error response into the most specific error.
    fn api_error(&self, status: u16, retry_after: Option<&HeaderValue>, body: &[u8]) -> Error {
        let retry_after = retry_after
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let error = ApiError::from_body(status, retry_after, body);
        if status == 429
            && error
                .policy_name
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("DAILY"))
        {
            return Error::DailyLimitExceeded {
                retry_after: next_daily_reset(SystemTime::now(), self.account_utc_offset_minutes),
                error: Box::new(error),
            };
        }
        if status == 409
            && let Some(existing_id) = error.existing_id()
        {
            return Error::Conflict {
                existing_id,
                error: Box::new(error),
            };
        }
        Error::Api(Box::new(error))
    }
}

#[async_trait]
impl TokenEndpoint for Inner {
    async fn request_token(&self, form: Vec<(&'static str, String)>) -> Result<TokenResponse> {
        let Auth::OAuth(manager) = &self.auth else {
            return Err(Error::Config("OAuth is not configured".into()));
        };
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut request = Request::new("oauth.token", Method::POST, &manager.config.token_path);
        request.body = Some(Body::Form(Bytes::from(encoded)));
        request.authenticated = false;
        match self.call::<TokenResponse>(request).await {
            Err(error) if is_dead_refresh_token(&error) => {
                let api = error.api_error().cloned().map(Box::new);
                match api {
                    Some(api) => Err(Error::ReauthorizationRequired(api)),
                    None => Err(error),
                }
            }
            other => other,
        }
    }
}

/// `invalid_grant` / `BAD_REFRESH_TOKEN` (and the other OAuth 400s that a retry cannot fix).
fn is_dead_refresh_token(error: &Error) -> bool {
    let Some(api) = error.api_error() else {
        return false;
    };
    if api.status != 400 && api.status != 401 {
        return false;
    }
    let code = api.error_code.as_deref().unwrap_or_default();
    [
        "invalid_grant",
        "BAD_REFRESH_TOKEN",
        "invalid_client",
        "BAD_CLIENT_ID",
    ]
    .iter()
    .any(|c| code.eq_ignore_ascii_case(c))
}

/// May this call be repeated after `error`?
fn safe_to_repeat(error: &Error, idempotency: Idempotency) -> bool {
    if idempotency == Idempotency::Idempotent {
        return true;
    }
    match error {
        // The server refused before doing anything.
        Error::Api(api) => matches!(api.status, 429 | 423),
        // The request never reached the server.
        Error::Transport {
            kind: TransportKind::Connect,
            ..
        } => true,
        _ => false,
    }
}

fn exhausted(attempts: u32, last: Error) -> Error {
    tracing::Span::current().record("attempts", attempts);
    if attempts <= 1 {
        last
    } else {
        Error::RetriesExhausted {
            attempts,
            last: Box::new(last),
        }
    }
}

fn record(attempts: u32, status: u16) {
    let span = tracing::Span::current();
    span.record("attempts", attempts);
    span.record("status", status);
}

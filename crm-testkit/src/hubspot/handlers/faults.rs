//! The fault mocks in front of the router: they match while a fault is armed for the
//! request's endpoint and answer with it, counting it down.

use std::sync::Arc;
use std::time::Instant;

use wiremock::{Match, Request, Respond, ResponseTemplate};

use super::super::endpoint::{Route, classify};
use super::super::state::{Shared, State};
use super::super::{Endpoint, Fault, FaultKind, RateLimitPolicy};
use super::auth::{ANONYMOUS_APP, authenticate};
use super::reply::{ApiError, Failure, Headers, Reply, category};
use super::request::Incoming;
use super::serve;

/// Which endpoint a request is for, for fault matching (`None` for the admin API).
fn endpoint_of(request: &Request) -> Option<Endpoint> {
    match classify(request.method.as_str(), request.url.path()) {
        Route::Api(e, _) => Some(e),
        Route::Admin(_) => None,
    }
}

/// Index of the first armed fault covering `endpoint`.
fn armed(st: &State, endpoint: Endpoint) -> Option<usize> {
    st.faults
        .iter()
        .position(|(target, f)| f.times > 0 && target.covers(endpoint))
}

/// Takes one hit from the first armed fault for the endpoint.
fn take_fault(st: &mut State, endpoint: Endpoint) -> Option<Fault> {
    let i = armed(st, endpoint)?;
    let fault = st.faults[i].1.clone();
    st.faults[i].1.times -= 1;
    if st.faults[i].1.times == 0 {
        st.faults.remove(i);
    }
    Some(fault)
}

/// Matches while the first armed fault for the request's endpoint is (`drops`) or is not a
/// dropped connection. Runs in front of the router at a higher priority.
pub(crate) struct FaultArmed {
    pub shared: Arc<Shared>,
    pub drops: bool,
}

impl Match for FaultArmed {
    fn matches(&self, request: &Request) -> bool {
        let Some(endpoint) = endpoint_of(request) else {
            return false;
        };
        let st = self.shared.lock();
        armed(&st, endpoint)
            .is_some_and(|i| (st.faults[i].1.kind == FaultKind::DropConnection) == self.drops)
    }
}

/// Answers a request an armed (non-drop) fault took: a canned response that changes nothing
/// in the fake, or for [`FaultKind::Latency`] the router's own, late.
pub(crate) struct FaultResponder(pub Arc<Shared>);

impl Respond for FaultResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let req = Incoming::new(request);
        let endpoint = req.endpoint.unwrap_or(Endpoint::Unmatched);
        let mut st = self.0.lock();
        let Some(fault) = take_fault(&mut st, endpoint) else {
            // Disarmed between match and respond: behave normally.
            drop(st);
            return serve(&self.0, &req, false).into_template();
        };
        let mut reply = match fault.kind {
            FaultKind::Latency(delay) => {
                drop(st);
                let mut reply = serve(&self.0, &req, true);
                reply.delay = Some(delay);
                return reply.into_template();
            }
            FaultKind::Status(status) => {
                let (_, headers) = caller(&mut st, endpoint, &req);
                let message = format!("fake-hubspot: injected fault {status}");
                Failure::Api(ApiError::new(status, category_of(status), message))
                    .into_reply(&mut st.ids)
                    .with_headers(headers)
            }
            FaultKind::RateLimited {
                policy,
                retry_after,
            } => {
                let (app, headers) = caller(&mut st, endpoint, &req);
                let app = app.unwrap_or_else(|| ANONYMOUS_APP.into());
                Failure::RateLimited { policy, app }
                    .into_reply(&mut st.ids)
                    .with_headers(rate_limited_headers(headers, policy, retry_after))
            }
            FaultKind::Body {
                status,
                content_type,
                body,
            } => Reply::raw(status, content_type, body),
            // The drop mock answers these; but the fault first in line can change between
            // match and respond (another request used one up), and a drop cannot be done here.
            FaultKind::DropConnection => Failure::Api(ApiError::new(
                500,
                category::INTERNAL_ERROR,
                "fake-hubspot: unexpected fault state",
            ))
            .into_reply(&mut st.ids),
        };
        reply = reply.overriding_headers(&fault.headers);
        reply.delay = fault.delay;
        let app = super::auth::journal_app(&st, endpoint, &req);
        st.record(
            endpoint,
            req.method,
            req.path,
            Some(reply.status),
            true,
            app,
        );
        reply.into_template()
    }
}

/// The caller's app (if the request authenticates) and its rate-limit headers, without
/// counting this request.
fn caller(st: &mut State, endpoint: Endpoint, req: &Incoming<'_>) -> (Option<String>, Headers) {
    let now = Instant::now();
    let app = if endpoint.is_api() {
        authenticate(st, req, now).ok()
    } else {
        None
    };
    let headers = app
        .as_deref()
        .map(|a| st.rate_headers(a, now))
        .unwrap_or_default();
    (app, headers)
}

/// The `category` of an injected status.
fn category_of(status: u16) -> &'static str {
    match status {
        400 => category::VALIDATION_ERROR,
        401 => category::INVALID_AUTHENTICATION,
        403 => category::MISSING_SCOPES,
        404 => category::OBJECT_NOT_FOUND,
        409 => category::CONFLICT,
        429 => category::RATE_LIMITS,
        500..=599 => category::INTERNAL_ERROR,
        _ => category::ERROR,
    }
}

/// The headers of an injected 429: the caller's with the policy's remaining count at 0 (with
/// no limit configured, HubSpot's usual burst policy), and `Retry-After` if asked for.
fn rate_limited_headers(
    headers: Headers,
    policy: RateLimitPolicy,
    retry_after: Option<u64>,
) -> Headers {
    let zeroed = match policy {
        RateLimitPolicy::Daily => "X-HubSpot-RateLimit-Daily-Remaining",
        _ => "X-HubSpot-RateLimit-Remaining",
    };
    let mut headers: Headers = headers
        .into_iter()
        .map(|(k, v)| {
            if k == zeroed {
                (k, "0".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    if headers.is_empty() {
        headers.push(("X-HubSpot-RateLimit-Max".into(), "100".into()));
        headers.push(("X-HubSpot-RateLimit-Remaining".into(), "0".into()));
        headers.push((
            "X-HubSpot-RateLimit-Interval-Milliseconds".into(),
            "10000".into(),
        ));
    }
    if let Some(secs) = retry_after {
        headers.push(("Retry-After".into(), secs.to_string()));
    }
    headers
}

/// The error a dropping fault hands to hyper, which then closes the connection unanswered.
pub(crate) fn drop_connection(shared: &Shared, request: &Request) -> std::io::Error {
    let endpoint = endpoint_of(request).unwrap_or(Endpoint::Unmatched);
    let mut st = shared.lock();
    let _ = take_fault(&mut st, endpoint);
    st.record(
        endpoint,
        request.method.as_str(),
        request.url.path(),
        None,
        true,
        None,
    );
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "fake-hubspot: injected dropped connection",
    )
}

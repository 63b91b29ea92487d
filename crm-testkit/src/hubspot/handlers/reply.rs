//! What a handler answers: a [`Reply`] on success, a [`Failure`] otherwise, and the one place a
//! failure becomes HubSpot's error body ([`Failure::into_reply`]).
//!
//! Response bodies are `#[derive(Serialize)]` structs whose fields are declared in the sorted
//! order of their wire names: the fake used to build them as `serde_json::Value`s, whose maps
//! sort their keys, and it keeps answering the same bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::super::RateLimitPolicy;
pub(crate) use super::super::state::Headers;
use super::super::util::IdGen;

/// What every handler returns.
pub(crate) type Outcome = Result<Reply, Failure>;

/// `category` values the fake answers with.
pub(crate) mod category {
    pub(crate) const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    pub(crate) const OBJECT_NOT_FOUND: &str = "OBJECT_NOT_FOUND";
    pub(crate) const CONFLICT: &str = "CONFLICT";
    pub(crate) const NOT_IMPLEMENTED: &str = "NOT_IMPLEMENTED";
    pub(crate) const INVALID_AUTHENTICATION: &str = "INVALID_AUTHENTICATION";
    pub(crate) const EXPIRED_AUTHENTICATION: &str = "EXPIRED_AUTHENTICATION";
    pub(crate) const RATE_LIMITS: &str = "RATE_LIMITS";
    pub(crate) const MISSING_SCOPES: &str = "MISSING_SCOPES";
    pub(crate) const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
    /// An injected status the fake has no category for.
    pub(crate) const ERROR: &str = "ERROR";
}

/// The `status` of every error body but the token endpoint's.
const ERROR_STATUS: &str = "error";
/// The header that repeats an error body's `correlationId`.
const CORRELATION_HEADER: &str = "X-HubSpot-Correlation-Id";

/// A response before it becomes a wiremock `ResponseTemplate`.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub headers: Headers,
    pub delay: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(crate) enum ReplyBody {
    /// Serialized JSON, sent as `application/json;charset=utf-8`.
    Json(Vec<u8>),
    Raw {
        content_type: String,
        body: String,
    },
    Empty,
}

impl Reply {
    fn new(status: u16, body: ReplyBody) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
            delay: None,
        }
    }

    pub(crate) fn json(status: u16, body: &impl Serialize) -> Self {
        Self::new(
            status,
            ReplyBody::Json(serde_json::to_vec(body).unwrap_or_default()),
        )
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self::new(status, ReplyBody::Empty)
    }

    pub(crate) fn raw(status: u16, content_type: String, body: String) -> Self {
        Self::new(status, ReplyBody::Raw { content_type, body })
    }

    pub(crate) fn with_headers(mut self, headers: Headers) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Sets each header, replacing any of the same name (case-insensitively).
    pub(crate) fn overriding_headers(mut self, headers: &[(String, String)]) -> Self {
        for (name, value) in headers {
            self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            self.headers.push((name.clone(), value.clone()));
        }
        self
    }

    pub(crate) fn into_template(self) -> wiremock::ResponseTemplate {
        use wiremock::http::{HeaderName, HeaderValue};
        let status = if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        };
        let mut t = wiremock::ResponseTemplate::new(status);
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                t = t.append_header(k, v);
            }
        }
        t = match self.body {
            ReplyBody::Json(bytes) => t.set_body_raw(bytes, "application/json;charset=utf-8"),
            ReplyBody::Raw { content_type, body } => {
                let ct = if HeaderValue::from_str(&content_type).is_ok() {
                    content_type
                } else {
                    "text/plain".to_owned()
                };
                t.set_body_raw(body.into_bytes(), &ct)
            }
            ReplyBody::Empty => t,
        };
        if let Some(d) = self.delay {
            t = t.set_delay(d);
        }
        t
    }
}

/// HubSpot's usual error: a status, a `category` and a message. A top-level answer through
/// [`Failure::Api`], or one entry of a batch's `errors` ([`ApiError::into_item`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub category: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, category: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            category,
            message: message.into(),
        }
    }

    /// 400 `VALIDATION_ERROR`.
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(400, category::VALIDATION_ERROR, message)
    }

    /// 404 `OBJECT_NOT_FOUND`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, category::OBJECT_NOT_FOUND, message)
    }

    /// 409 `CONFLICT`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, category::CONFLICT, message)
    }

    /// 501 `NOT_IMPLEMENTED`.
    pub(crate) fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(501, category::NOT_IMPLEMENTED, message)
    }

    /// The entry for this error in a batch answer's `errors`, about the input `id`.
    pub(crate) fn into_item(self, id: String, ids: &mut IdGen) -> ItemErrorBody {
        ItemErrorBody {
            category: self.category,
            context: ItemContext { ids: vec![id] },
            correlation_id: ids.uuid(),
            errors: Vec::new(),
            links: BTreeMap::new(),
            message: self.message,
            status: ERROR_STATUS,
        }
    }
}

/// Why a request is refused. Handlers return it; [`Failure::into_reply`] renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `{category, correlationId, message, status: "error"}`, with the correlation id header.
    Api(ApiError),
    /// The token endpoint's 400: HubSpot's error body whose `status` is the OAuth status
    /// (`BAD_REFRESH_TOKEN`), plus `error` and `error_description` (the message again).
    OAuth {
        status: &'static str,
        error: &'static str,
        message: &'static str,
    },
    /// A 429 for `policy`, naming `app` in its `groupName`.
    RateLimited {
        policy: RateLimitPolicy,
        app: String,
    },
    /// The admin API's errors: `{category, message, status: "error"}`, no correlation id.
    Admin(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl Failure {
    /// An admin API 400.
    pub(crate) fn admin_bad_request(message: impl Into<String>) -> Self {
        Failure::Admin(ApiError::validation(message))
    }

    /// The response for this failure; `ids` mints the correlation id.
    pub(crate) fn into_reply(self, ids: &mut IdGen) -> Reply {
        match self {
            Failure::Api(e) => {
                let correlation_id = ids.uuid();
                let body = ErrorBody {
                    category: e.category,
                    correlation_id: &correlation_id,
                    message: &e.message,
                    status: ERROR_STATUS,
                };
                Reply::json(e.status, &body).with_correlation_id(correlation_id)
            }
            Failure::OAuth {
                status,
                error,
                message,
            } => {
                let correlation_id = ids.uuid();
                let body = OAuthErrorBody {
                    category: category::VALIDATION_ERROR,
                    correlation_id: &correlation_id,
                    error,
                    error_description: message,
                    message,
                    status,
                };
                Reply::json(400, &body).with_correlation_id(correlation_id)
            }
            Failure::RateLimited { policy, app } => {
                let correlation_id = ids.uuid();
                let (message, group) = match policy {
                    RateLimitPolicy::TenSecondlyRolling => (
                        "You have reached your ten_secondly_rolling limit.",
                        format!("publicapi:{app}:ten-secondly-rolling"),
                    ),
                    RateLimitPolicy::Daily => (
                        "You have reached your daily limit.",
                        format!("publicapi:{app}:daily"),
                    ),
                };
                let body = RateLimitBody {
                    category: category::RATE_LIMITS,
                    correlation_id: &correlation_id,
                    error_type: "RATE_LIMIT",
                    group_name: &group,
                    message,
                    policy_name: policy.policy_name(),
                    status: ERROR_STATUS,
                };
                Reply::json(429, &body).with_correlation_id(correlation_id)
            }
            Failure::Admin(e) => {
                let body = AdminErrorBody {
                    category: e.category,
                    message: &e.message,
                    status: ERROR_STATUS,
                };
                Reply::json(e.status, &body)
            }
        }
    }
}

impl Reply {
    fn with_correlation_id(mut self, id: String) -> Self {
        self.headers.push((CORRELATION_HEADER.into(), id));
        self
    }
}

/// The reply for an outcome: the handler's, or its failure rendered.
pub(crate) fn settle(outcome: Outcome, ids: &mut IdGen) -> Reply {
    outcome.unwrap_or_else(|failure| failure.into_reply(ids))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    category: &'a str,
    correlation_id: &'a str,
    message: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    category: &'a str,
    #[serde(rename = "correlationId")]
    correlation_id: &'a str,
    error: &'a str,
    error_description: &'a str,
    message: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitBody<'a> {
    category: &'a str,
    correlation_id: &'a str,
    error_type: &'a str,
    group_name: &'a str,
    message: &'a str,
    policy_name: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
struct AdminErrorBody<'a> {
    category: &'a str,
    message: &'a str,
    status: &'a str,
}

/// One entry of a batch answer's `errors`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemErrorBody {
    category: &'static str,
    context: ItemContext,
    correlation_id: String,
    /// HubSpot's `StandardError` has these two, if empty.
    errors: Vec<Value>,
    links: BTreeMap<String, String>,
    message: String,
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct ItemContext {
    ids: Vec<String>,
}

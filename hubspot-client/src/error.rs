//! Errors returned by the client, and the one classification that drives every retry decision.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::ids::ObjectId;

/// The `Result` type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many bytes of an unparsed error body are kept in [`ApiError::raw_body`].
pub const RAW_BODY_LIMIT: usize = 2048;

/// Everything that can go wrong when calling HubSpot.
///
/// `Display` never shows tokens, headers or request bodies. Use [`Error::class`] to decide
/// what to do next; the client's own retry loop uses the same method.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// HubSpot answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),

    /// A create was refused because the object already exists (409 `CONFLICT`); HubSpot names
    /// the existing object's id in its message.
    #[error("HubSpot object already exists (existing id {existing_id}): {error}")]
    Conflict {
        /// The id of the object that already exists.
        existing_id: ObjectId,
        /// The full error HubSpot returned.
        error: Box<ApiError>,
    },

    /// HubSpot processed a batch and rejected this input (an item error of a 207 answer).
    #[error("HubSpot rejected the input: {}", .0.message.as_deref().unwrap_or("no message"))]
    Rejected(Box<ErrorDetail>),

    /// The account's daily request limit is used up (429 with `policyName: DAILY`). Never
    /// retried by the client: try again after `retry_after`.
    #[error("HubSpot daily rate limit reached; try again after {}: {error}", httpdate::fmt_http_date(*.retry_after))]
    DailyLimitExceeded {
        /// When the daily limit resets (midnight in the account's time zone, see
        /// [`ClientBuilder::account_utc_offset`](crate::ClientBuilder::account_utc_offset)).
        retry_after: SystemTime,
        /// The full error HubSpot returned.
        error: Box<ApiError>,
    },

    /// The token refresh this call waited for failed (another call of the same client ran
    /// it): the same outcome, shared, rather than a second refresh of its own.
    #[error("the HubSpot token refresh this call waited for failed: {reason}")]
    RefreshFailed {
        /// What the refresh's own error said.
        reason: String,
        /// How its error was classified.
        class: ErrorClass,
        /// HubSpot's error, if the token endpoint answered with one.
        error: Option<Box<ApiError>>,
    },

    /// The refresh token was rejected (`invalid_grant` / `BAD_REFRESH_TOKEN`): a person must
    /// authorize the app again. Never retried.
    #[error("HubSpot re-authorization required: the refresh token was rejected ({0})")]
    ReauthorizationRequired(Box<ApiError>),

    /// OAuth is configured but no token set is available: the token store is empty and no
    /// initial refresh token was given.
    #[error(
        "no HubSpot OAuth token available: the token store is empty and no refresh token was configured"
    )]
    NoToken,

    /// The request timed out (per-attempt timeout).
    #[error("HubSpot request timed out after {0:?}")]
    Timeout(Duration, #[source] reqwest::Error),

    /// The request could not be sent or its response could not be read (connection refused,
    /// reset, TLS, ...).
    #[error("HubSpot request failed: {kind}")]
    Transport {
        /// What kind of failure this was.
        kind: TransportKind,
        /// The underlying HTTP error.
        #[source]
        source: reqwest::Error,
    },

    /// A successful response did not decode into the expected model.
    #[error("could not decode HubSpot response at `{path}`: {source}")]
    Decode {
        /// The JSON path at which decoding failed (e.g. `results[3].id`).
        path: String,
        /// The underlying JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// The retry loop gave up because the overall deadline would be exceeded; carries the
    /// last error.
    #[error("gave up after {attempts} attempt(s) within the retry deadline: {last}")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last error seen.
        #[source]
        last: Box<Error>,
    },

    /// The token store failed to load or save the token set.
    #[error("token store failed: {0}")]
    TokenStore(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The client was configured wrongly (reported by [`ClientBuilder::build`](crate::ClientBuilder::build)).
    #[error("invalid client configuration: {0}")]
    Config(String),

    /// A request argument was invalid before anything was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be established: the request never reached HubSpot, so it is
    /// safe to retry even a non-idempotent call.
    Connect,
    /// The request may have reached HubSpot (reset mid-flight, body read failed, ...).
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Other => "connection failed during the request",
        })
    }
}

/// What a caller should do about an error. One method ([`Error::class`]) computes it; the
/// client's retry loop and the thiscovery stack's retrying-versus-dead-letter decision both use
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Transient: retry, after `retry_after` if the server said so, else after a backoff.
    Retry {
        /// The wait the server asked for (`Retry-After`, or the rate-limit interval).
        retry_after: Option<Duration>,
    },
    /// The access token was refused: refresh it once and resend.
    RefreshAuth,
    /// Retry much later (a daily limit): not before the given instant. This is not a failure
    /// of the work itself, so it should not count against a retry budget.
    RetryLater {
        /// The earliest time a retry can succeed.
        not_before: SystemTime,
    },
    /// Retrying cannot help (bad request, not found, conflict, bad credentials, decode error).
    Permanent,
}

impl ErrorClass {
    /// `true` for [`ErrorClass::Retry`] and [`ErrorClass::RefreshAuth`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, ErrorClass::Retry { .. } | ErrorClass::RefreshAuth)
    }
}

impl Error {
    /// Classifies this error: retry (after how long), refresh auth, retry much later, or
    /// permanent.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Api(e) => crate::policy::classify_status(e.status, e.policy_name.as_deref())
                .with_retry_after(e.retry_after),
            Error::DailyLimitExceeded { retry_after, .. } => ErrorClass::RetryLater {
                not_before: *retry_after,
            },
            Error::Timeout(..) | Error::Transport { .. } => ErrorClass::Retry { retry_after: None },
            Error::RetriesExhausted { last, .. } => last.class(),
            Error::RefreshFailed { class, .. } => *class,
            Error::TokenStore(_) => ErrorClass::Retry { retry_after: None },
            Error::Rejected(detail) => crate::batch::ItemFailure::Rejected(detail.clone()).class(),
            Error::Conflict { .. }
            | Error::ReauthorizationRequired(_)
            | Error::NoToken
            | Error::Decode { .. }
            | Error::Config(_)
            | Error::InvalidRequest(_) => ErrorClass::Permanent,
        }
    }

    /// The HubSpot error behind this error, if HubSpot answered.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e)
            | Error::Conflict { error: e, .. }
            | Error::DailyLimitExceeded { error: e, .. }
            | Error::ReauthorizationRequired(e) => Some(e),
            Error::RefreshFailed { error, .. } => error.as_deref(),
            Error::RetriesExhausted { last, .. } => last.api_error(),
            _ => None,
        }
    }

    /// The HTTP status HubSpot answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        self.api_error().map(|e| e.status)
    }

    /// `true` when HubSpot answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// `true` when HubSpot answered 409 (the object, event or send already exists).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// HubSpot's `correlationId`, to quote to HubSpot support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.api_error().and_then(|e| e.correlation_id.as_deref())
    }
}

impl ErrorClass {
    pub(crate) fn with_retry_after(self, retry_after: Option<Duration>) -> ErrorClass {
        match self {
            ErrorClass::Retry { retry_after: None } => ErrorClass::Retry { retry_after },
            other => other,
        }
    }
}

/// An error response from HubSpot, with every field HubSpot documents kept (all optional: a
/// proxy in front of HubSpot may answer with HTML or nothing at all).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// HubSpot's `category` (e.g. `VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, `RATE_LIMITS`).
    pub category: Option<String>,
    /// HubSpot's `subCategory` (a string or an object, kept as JSON).
    pub sub_category: Option<serde_json::Value>,
    /// HubSpot's human-readable `message`.
    pub message: Option<String>,
    /// HubSpot's `correlationId`, for support requests.
    pub correlation_id: Option<String>,
    /// The rate-limit policy for 429s (`TEN_SECONDLY_ROLLING`, `SECONDLY`, `DAILY`, ...).
    pub policy_name: Option<String>,
    /// OAuth-style `error` code (`invalid_grant`, ...) or HubSpot's top-level `status` when it is
    /// not `"error"` (e.g. `BAD_REFRESH_TOKEN`).
    pub error_code: Option<String>,
    /// Per-item errors (batch endpoints, validation).
    pub errors: Vec<ErrorDetail>,
    /// HubSpot's `context` object.
    pub context: Option<serde_json::Value>,
    /// The wait the server asked for (`Retry-After`), if any.
    pub retry_after: Option<Duration>,
    /// The body as received, truncated to [`RAW_BODY_LIMIT`] bytes. Not shown by `Display` or
    /// `Debug` (bodies can hold personal data); read it deliberately when debugging.
    pub raw_body: String,
}

/// One entry of an error's `errors` array.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ErrorDetail {
    /// Error message.
    #[serde(default)]
    pub message: Option<String>,
    /// Machine-readable code, when given.
    #[serde(default)]
    pub code: Option<String>,
    /// Category of this item's error.
    #[serde(default)]
    pub category: Option<String>,
    /// Sub-category of this item's error.
    #[serde(default)]
    pub sub_category: Option<serde_json::Value>,
    /// Status of this item (batch responses), e.g. `"error"` or `"404"`.
    #[serde(default)]
    pub status: Option<String>,
    /// Where the error is (e.g. the property name).
    #[serde(default)]
    pub r#in: Option<String>,
    /// Context of this item's error (e.g. `{"ids": ["..."]}`).
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    /// The errors behind this one (HubSpot's `StandardError.errors`): for the validation
    /// rules HubSpot enforces on CRM writes from 2026-09, each names its rule in `code`
    /// (`MISSING_CONDITIONAL_REQUIRED_PROPERTY`) and its property in
    /// `context.propertyName`.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    /// HubSpot's `links` (documentation for the error), when given.
    #[serde(default)]
    pub links: Option<serde_json::Value>,
}

/// `code` and `context.propertyName` of each entry, e.g.
/// `MISSING_REQUIRED_PROPERTY (property lifecyclestage)`: what a validation error says it
/// refused, in a form a dead-letter reason can carry.
pub(crate) fn describe_rules(errors: &[ErrorDetail]) -> Option<String> {
    let parts: Vec<String> = errors
        .iter()
        .filter_map(|e| {
            let properties: Vec<String> = e
                .context
                .as_ref()
                .and_then(|c| c.get("propertyName"))
                .map(|p| {
                    let mut out = Vec::new();
                    collect_strings(p, &mut out);
                    out
                })
                .unwrap_or_default();
            let code = e.code.clone();
            match (code, properties.is_empty()) {
                (None, true) => e.message.clone(),
                (Some(code), true) => Some(code),
                (code, false) => Some(format!(
                    "{}(property {})",
                    code.map(|c| format!("{c} ")).unwrap_or_default(),
                    properties.join(", ")
                )),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl ErrorDetail {
    /// The ids this item error names in its `context` (`ids`, `id`, `email`, ...), as strings.
    pub fn context_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(serde_json::Value::Object(map)) = &self.context {
            for value in map.values() {
                collect_strings(value, &mut out);
            }
        }
        out
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    status: Option<String>,
    message: Option<String>,
    correlation_id: Option<String>,
    category: Option<String>,
    sub_category: Option<serde_json::Value>,
    policy_name: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorDetail>,
    context: Option<serde_json::Value>,
    error: Option<String>,
    #[serde(rename = "error_description")]
    error_description: Option<String>,
}

impl ApiError {
    /// Builds an error from a status, the `Retry-After` wait and a raw body. The body may be
    /// HubSpot's JSON, an OAuth error, HTML from a proxy, or empty.
    pub fn from_body(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let error_code = parsed
            .error
            .or_else(|| parsed.status.filter(|s| !s.eq_ignore_ascii_case("error")));
        ApiError {
            status,
            category: parsed.category,
            sub_category: parsed.sub_category,
            message: parsed.message.or(parsed.error_description),
            correlation_id: parsed.correlation_id,
            policy_name: parsed.policy_name,
            error_code,
            errors: parsed.errors,
            context: parsed.context,
            retry_after,
            raw_body: truncate(body, RAW_BODY_LIMIT),
        }
    }

    /// For a 409 `CONFLICT`, the existing object's id from "... Existing ID: 123".
    pub fn existing_id(&self) -> Option<ObjectId> {
        let message = self.message.as_deref()?;
        let at = message.find("Existing ID:")? + "Existing ID:".len();
        let digits: String = message[at..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        (!digits.is_empty()).then(|| ObjectId::from(digits))
    }
}

fn truncate(body: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= limit {
        return text.into_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], body.len())
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubSpot answered {}", self.status)?;
        if let Some(category) = &self.category {
            write!(f, " {category}")?;
        }
        if let Some(policy) = &self.policy_name {
            write!(f, " (policy {policy})")?;
        }
        if let Some(code) = &self.error_code {
            write!(f, " [{code}]")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if !self.errors.is_empty() {
            match describe_rules(&self.errors) {
                Some(rules) => write!(f, " [{rules}]")?,
                None => write!(f, " ({} item error(s))", self.errors.len())?,
            }
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlationId {id})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("category", &self.category)
            .field("sub_category", &self.sub_category)
            .field("message", &self.message)
            .field("correlation_id", &self.correlation_id)
            .field("policy_name", &self.policy_name)
            .field("error_code", &self.error_code)
            .field("errors", &self.errors.len())
            .field("retry_after", &self.retry_after)
            .field("raw_body", &format_args!("<{} bytes>", self.raw_body.len()))
            .finish()
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hubspot_error_body() {
        let body = br#"{"status":"error","message":"Contact already exists. Existing ID: 74701","correlationId":"abc-123","category":"CONFLICT"}"#;
        let e = ApiError::from_body(409, None, body);
        assert_eq!(e.category.as_deref(), Some("CONFLICT"));
        assert_eq!(e.correlation_id.as_deref(), Some("abc-123"));
        assert_eq!(e.error_code, None);
        assert_eq!(e.existing_id(), Some(ObjectId::from("74701")));
    }

    #[test]
    fn parses_oauth_error_body() {
        let body = br#"{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token","correlationId":"c1"}"#;
        let e = ApiError::from_body(400, None, body);
        assert_eq!(e.error_code.as_deref(), Some("BAD_REFRESH_TOKEN"));
        let body = br#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#;
        let e = ApiError::from_body(400, None, body);
        assert_eq!(e.error_code.as_deref(), Some("invalid_grant"));
        assert_eq!(e.message.as_deref(), Some("refresh token revoked"));
    }

    #[test]
    fn keeps_html_and_empty_bodies() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = ApiError::from_body(502, None, html);
        assert_eq!(e.category, None);
        assert!(e.raw_body.contains("502 Bad Gateway"));
        let e = ApiError::from_body(503, None, b"");
        assert_eq!(e.raw_body, "");
        assert_eq!(e.to_string(), "HubSpot answered 503");
    }

    #[test]
    fn truncates_long_bodies_on_a_char_boundary() {
        let body = "é".repeat(RAW_BODY_LIMIT);
        let e = ApiError::from_body(500, None, body.as_bytes());
        assert!(e.raw_body.len() < body.len());
        assert!(e.raw_body.ends_with("bytes in all)"));
    }

    #[test]
    fn display_and_debug_omit_the_body() {
        let body = br#"{"status":"error","message":"bad","category":"VALIDATION_ERROR","correlationId":"x","context":{"email":["secret@example.com"]}}"#;
        let e = ApiError::from_body(400, None, body);
        assert!(!format!("{e}").contains("secret@example.com"));
        assert!(!format!("{e:?}").contains("secret@example.com"));
        assert_eq!(
            e.to_string(),
            "HubSpot answered 400 VALIDATION_ERROR: bad (correlationId x)"
        );
    }

    #[test]
    fn context_ids_collects_strings_and_numbers() {
        let detail: ErrorDetail =
            serde_json::from_str(r#"{"message":"m","context":{"ids":["a@b", 12], "other": "x"}}"#)
                .unwrap();
        let mut ids = detail.context_ids();
        ids.sort();
        assert_eq!(ids, vec!["12", "a@b", "x"]);
    }

    #[test]
    fn existing_id_absent_when_message_has_none() {
        let e = ApiError::from_body(409, None, br#"{"message":"conflict"}"#);
        assert_eq!(e.existing_id(), None);
    }
}

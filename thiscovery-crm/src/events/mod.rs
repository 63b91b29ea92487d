//! EventBridge events this stack consumes, and their payloads.
//!
//! Unknown fields are tolerated everywhere; required fields are enforced with an
//! [`EventError`] that names the field by its JSON path (e.g.
//! `detail.data.details.body.email`). Payloads parse from the event's `detail` alone, so a
//! notification item (which stores the `detail`) can be parsed again when it is processed,
//! including items the Python stack wrote.
//!
//! This module holds the envelope, the `detail-type` constants and [`EventError`]; the
//! payloads live one family a file (`auth0`, `task_signup`, `email`), all read with the
//! JSON-path reader in `reader`, and are re-exported here.
//!
//! # What each event looks like
//!
//! Whole events as EventBridge delivers them (the samples this crate's tests use); the
//! payload types read their `detail`.
//!
//! An Auth0 signup (`detail.data.type` `ss`): becomes a `user-registration` notification (a contact upserted, its id written back to thiscovery-core):
//!
//! ```json
#![doc = include_str!("../../tests/fixtures/events/auth0-registration.json")]
//! ```
//!
//! An Auth0 login (`s`): a `user-login` notification (the contact's last login date):
//!
//! ```json
#![doc = include_str!("../../tests/fixtures/events/auth0-login.json")]
//! ```
//!
//! A task signup from thiscovery-core: a `task-signup` notification (a timeline event on the contact):
//!
//! ```json
#![doc = include_str!("../../tests/fixtures/events/task-signup.json")]
//! ```
//!
//! A transactional email to a user (by thiscovery user id): a `transactional-email` notification (a single-send):
//!
//! ```json
#![doc = include_str!("../../tests/fixtures/events/transactional-email-to-user.json")]
//! ```
//!
//! A transactional email to an address:
//!
//! ```json
#![doc = include_str!("../../tests/fixtures/events/transactional-email-to-address.json")]
//! ```
//!
//! A Qualtrics custom email (`custom_email`): handled as a transactional email:
//!
//! ```json
#![doc = include_str!("../../tests/fixtures/events/custom-email.json")]
//! ```
//!
//! Each parses and is recorded as the notification type named above:
//!
//! ```
//! use thiscovery_crm::events::Envelope;
//!
//! for json in [
//!     include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/auth0-registration.json")),
//!     include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/auth0-login.json")),
//!     include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/task-signup.json")),
//!     include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/transactional-email-to-user.json")),
//!     include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/transactional-email-to-address.json")),
//!     include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events/custom-email.json")),
//! ] {
//!     let envelope = Envelope::from_slice(json.as_bytes()).unwrap();
//!     assert!(envelope.id.is_some(), "{}", envelope.detail_type);
//! }
//! ```

mod auth0;
mod email;
mod reader;
mod task_signup;

use serde_json::Value;

pub use auth0::{LOGIN_DROPPED_KEYS, Login, Registration, auth0_log_type};
pub use email::{MAX_NAME_CHARS, PROJECT_TASK_ID, Recipient, TransactionalEmail};
pub use reader::validate_email;
pub use task_signup::TaskSignup;

use reader::At;

/// The largest `detail` accepted (a DynamoDB item holds at most 400 KB).
pub const MAX_DETAIL_BYTES: usize = 300_000;

/// `detail-type` of Auth0 log events.
pub const AUTH0_LOG: &str = "Auth0 log";
/// `detail-type` of thiscovery-core's task signups.
pub const TASK_SIGNUP: &str = "task_signup";
/// `detail-type` of transactional email requests.
pub const TRANSACTIONAL_EMAIL: &str = "transactional_email";
/// `detail-type` of Qualtrics' custom email requests (handled as transactional emails).
pub const CUSTOM_EMAIL: &str = "custom_email";

/// Why an event (or a stored payload) could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The input is not JSON.
    #[error("event is not valid JSON: {0}")]
    NotJson(String),
    /// A required field is absent or null.
    #[error("missing field `{0}`")]
    Missing(String),
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field's path.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A field's value is not acceptable.
    #[error("field `{field}` is invalid: {reason}")]
    Invalid {
        /// The field's path.
        field: String,
        /// Why.
        reason: String,
    },
    /// The event's `detail-type` is not one this stack handles.
    #[error("unsupported detail-type {0:?}")]
    UnsupportedDetailType(String),
}

impl EventError {
    /// The path of the field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::Missing(f) => Some(f),
            EventError::WrongType { field, .. } | EventError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// An EventBridge event as received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// EventBridge's event id (unique per event; a redelivery keeps it).
    pub id: Option<String>,
    /// The event's `detail-type`.
    pub detail_type: String,
    /// The event's source.
    pub source: Option<String>,
    /// When EventBridge received the event.
    pub time: Option<String>,
    /// The payload.
    pub detail: Value,
}

impl Envelope {
    /// Parses an envelope from JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, EventError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| EventError::NotJson(e.to_string()))?;
        Envelope::from_value(value)
    }

    /// Parses an envelope from a JSON value.
    pub fn from_value(value: Value) -> Result<Envelope, EventError> {
        let root = At::root(&value, "");
        root.object().map_err(|_| EventError::WrongType {
            field: "(event)".into(),
            expected: "a JSON object",
        })?;
        let detail_type = root.req("detail-type")?.string()?;
        let id = root.opt("id")?.map(|a| a.id()).transpose()?;
        let source = root.opt("source")?.map(|a| a.string()).transpose()?;
        let time = root.opt("time")?.map(|a| a.string()).transpose()?;
        let detail = root.req("detail")?;
        detail.object()?;
        let size = serde_json::to_vec(detail.value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_DETAIL_BYTES {
            return Err(EventError::Invalid {
                field: "detail".into(),
                reason: format!(
                    "{size} bytes is more than the {MAX_DETAIL_BYTES} a notification item can hold"
                ),
            });
        }
        let detail = detail.value.clone();
        Ok(Envelope {
            id,
            detail_type,
            source,
            time,
            detail,
        })
    }

    /// The EventBridge id, required for events whose notification id derives from it.
    pub fn require_id(&self) -> Result<&str, EventError> {
        self.id
            .as_deref()
            .ok_or_else(|| EventError::Missing("id".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_requires_detail_type_and_object_detail() {
        assert_eq!(
            Envelope::from_value(json!({"detail": {}})).unwrap_err(),
            EventError::Missing("detail-type".into())
        );
        assert!(matches!(
            Envelope::from_value(json!({"detail-type": "x", "detail": []})).unwrap_err(),
            EventError::WrongType { .. }
        ));
        assert!(matches!(
            Envelope::from_slice(b"{nope").unwrap_err(),
            EventError::NotJson(_)
        ));
        assert!(matches!(
            Envelope::from_value(json!([1, 2])).unwrap_err(),
            EventError::WrongType { .. }
        ));
    }
}

//! EventBridge events this stack consumes, and their payloads.
//!
//! Unknown fields are tolerated everywhere; required fields are enforced with an
//! [`EventError`] that names the field by its JSON path (e.g.
//! `detail.data.details.body.email`). Payloads parse from the event's `detail` alone, so a
//! notification item (which stores the `detail`) can be parsed again when it is processed,
//! including items the Python stack wrote.

use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::timestamp;

/// The largest `detail` accepted (a DynamoDB item holds at most 400 KB).
pub const MAX_DETAIL_BYTES: usize = 300_000;

/// The longest template name accepted.
pub const MAX_NAME_CHARS: usize = 256;

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

/// A JSON value with its path, for precise errors.
#[derive(Clone, Copy)]
struct Node<'a> {
    value: &'a Value,
    path: &'a str,
}

/// Owned-path variant used while walking.
struct At<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> At<'a> {
    fn root(value: &'a Value, path: &str) -> Self {
        At {
            value,
            path: path.to_owned(),
        }
    }

    fn node(&self) -> Node<'_> {
        Node {
            value: self.value,
            path: &self.path,
        }
    }

    fn object(&self) -> Result<&'a Map<String, Value>, EventError> {
        self.value.as_object().ok_or_else(|| EventError::WrongType {
            field: self.path.clone(),
            expected: "an object",
        })
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field, or `None` if absent or null.
    fn opt(&self, key: &str) -> Result<Option<At<'a>>, EventError> {
        Ok(self
            .object()?
            .get(key)
            .filter(|v| !v.is_null())
            .map(|value| At {
                value,
                path: self.child_path(key),
            }))
    }

    /// The field; an error naming it if absent or null.
    fn req(&self, key: &str) -> Result<At<'a>, EventError> {
        self.opt(key)?
            .ok_or_else(|| EventError::Missing(self.child_path(key)))
    }

    fn string(&self) -> Result<String, EventError> {
        self.node().string()
    }

    /// A non-empty string (numbers are accepted and written out: ids arrive as both).
    fn id(&self) -> Result<String, EventError> {
        let s = match self.value {
            Value::Number(n) => n.to_string(),
            _ => self.string()?,
        };
        if s.trim().is_empty() {
            return Err(EventError::Invalid {
                field: self.path.clone(),
                reason: "must not be empty".into(),
            });
        }
        Ok(s.trim().to_owned())
    }

    fn time(&self) -> Result<OffsetDateTime, EventError> {
        let s = self.string()?;
        timestamp::parse(&s).map_err(|reason| EventError::Invalid {
            field: self.path.clone(),
            reason,
        })
    }

    fn email(&self) -> Result<String, EventError> {
        let s = self.string()?;
        validate_email(&s).map_err(|reason| EventError::Invalid {
            field: self.path.clone(),
            reason,
        })?;
        Ok(s.trim().to_owned())
    }

    fn map(&self) -> Result<Map<String, Value>, EventError> {
        self.object().cloned()
    }
}

impl Node<'_> {
    fn string(&self) -> Result<String, EventError> {
        self.value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| EventError::WrongType {
                field: self.path.to_owned(),
                expected: "a string",
            })
    }
}

/// Checks that `email` is a plausible single address: one `@`, a non-empty local part, a
/// domain with a dot, no spaces, at most 254 characters.
pub fn validate_email(email: &str) -> Result<(), String> {
    let email = email.trim();
    if email.is_empty() {
        return Err("email address is empty".into());
    }
    if email.len() > 254 {
        return Err("email address is longer than 254 characters".into());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{email:?} is not an email address (contains spaces)"
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(format!("{email:?} is not an email address (no @)"));
    };
    if local.is_empty() || domain.contains('@') {
        return Err(format!("{email:?} is not an email address"));
    }
    if !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(format!("{email:?} is not an email address (bad domain)"));
    }
    Ok(())
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

/// Auth0 signup (`ss`): a new thiscovery user.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Registration {
    /// The thiscovery user id (`user_metadata.citsci_uuid`).
    pub user_id: String,
    /// The user's email.
    pub email: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// ISO 3166 country code (`GB`).
    pub country_code: Option<String>,
    /// When the signup happened (`detail.data.date`).
    pub registered_at: OffsetDateTime,
}

/// Auth0 successful login (`s`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Login {
    /// The user's email (`detail.data.user_name`).
    pub email: String,
    /// When the login happened (`detail.data.date`).
    pub logged_in_at: OffsetDateTime,
}

/// The Auth0 log type of an `Auth0 log` event's detail (`ss`, `s`, `sv`, `f`, ...).
pub fn auth0_log_type(detail: &Value) -> Result<String, EventError> {
    At::root(detail, "detail")
        .req("data")?
        .req("type")?
        .string()
}

impl Registration {
    /// The thiscovery user id alone (the notification id), so a registration can be recorded
    /// even when other fields are bad.
    pub fn user_id_from_detail(detail: &Value) -> Result<String, EventError> {
        At::root(detail, "detail")
            .req("data")?
            .req("details")?
            .req("body")?
            .req("user_metadata")?
            .req("citsci_uuid")?
            .id()
    }

    /// Parses an Auth0 `ss` log's detail.
    pub fn from_detail(detail: &Value) -> Result<Registration, EventError> {
        let data = At::root(detail, "detail").req("data")?;
        let body = data.req("details")?.req("body")?;
        let meta = body.req("user_metadata")?;
        let opt_string = |key: &str| -> Result<Option<String>, EventError> {
            meta.opt(key)?
                .map(|a| a.string())
                .transpose()
                .map(|s| s.filter(|s| !s.trim().is_empty()))
        };
        Ok(Registration {
            user_id: meta.req("citsci_uuid")?.id()?,
            email: body.req("email")?.email()?,
            first_name: opt_string("first_name")?,
            last_name: opt_string("last_name")?,
            country_code: opt_string("country")?,
            registered_at: data.req("date")?.time()?,
        })
    }
}

impl Login {
    /// Parses an Auth0 `s` log's detail.
    pub fn from_detail(detail: &Value) -> Result<Login, EventError> {
        let data = At::root(detail, "detail").req("data")?;
        Ok(Login {
            email: data.req("user_name")?.email()?,
            logged_in_at: data.req("date")?.time()?,
        })
    }

    /// The email alone (the label), when it is a string.
    pub fn label_from_detail(detail: &Value) -> Option<String> {
        detail
            .pointer("/data/user_name")?
            .as_str()
            .map(str::to_owned)
    }
}

/// A user signed up for a task (thiscovery-core's user-task record).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskSignup {
    /// The user-task id (`detail.id`): the timeline event id.
    pub user_task_id: String,
    /// The thiscovery user id.
    pub user_id: String,
    /// The project task id.
    pub project_task_id: String,
    /// When the signup was created.
    pub created: OffsetDateTime,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// Task id.
    pub task_id: String,
    /// Task name.
    pub task_name: String,
    /// Task type id.
    pub task_type_id: String,
    /// Task type name.
    pub task_type_name: String,
    /// The user's HubSpot contact id, when thiscovery-core knows it.
    pub crm_id: Option<String>,
}

impl TaskSignup {
    /// The user-task id alone (the notification id).
    pub fn id_from_detail(detail: &Value) -> Result<String, EventError> {
        At::root(detail, "detail").req("id")?.id()
    }

    /// Parses a `task_signup` detail.
    pub fn from_detail(detail: &Value) -> Result<TaskSignup, EventError> {
        let d = At::root(detail, "detail");
        let extra = d.req("extra_data")?;
        Ok(TaskSignup {
            user_task_id: d.req("id")?.id()?,
            user_id: d.req("user_id")?.id()?,
            project_task_id: d.req("project_task_id")?.id()?,
            created: d.req("created")?.time()?,
            project_id: extra.req("project_id")?.id()?,
            project_name: extra.req("project_name")?.string()?,
            task_id: extra.req("task_id")?.id()?,
            task_name: extra.req("task_name")?.string()?,
            task_type_id: extra.req("task_type_id")?.id()?,
            task_type_name: extra.req("task_type_name")?.string()?,
            crm_id: extra
                .opt("crm_id")?
                .map(|a| a.id())
                .transpose()?
                .filter(|s| !s.is_empty()),
        })
    }
}

/// Who a transactional email goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recipient {
    /// A thiscovery user, by user id (`to_recipient_id`).
    UserId(String),
    /// A thiscovery user, by anonymous project-specific user id
    /// (`anon_project_specific_user_id`).
    AnonProjectSpecificUserId(String),
    /// An email address (`to_recipient_email`).
    Email(String),
}

impl Recipient {
    /// The recipient as written in labels (`{template}_{recipient}`).
    pub fn label(&self) -> &str {
        match self {
            Recipient::UserId(s)
            | Recipient::AnonProjectSpecificUserId(s)
            | Recipient::Email(s) => s,
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::UserId(id) => write!(f, "user {id}"),
            Recipient::AnonProjectSpecificUserId(id) => write!(f, "anonymous project user {id}"),
            Recipient::Email(_) => write!(f, "an email address"),
        }
    }
}

/// Fields of a `custom_email` detail that are not custom properties.
const CUSTOM_EMAIL_RESERVED: [&str; 5] = [
    "template_name",
    "anon_project_specific_user_id",
    "to_recipient_email",
    "to_recipient_id",
    "project_task_id",
];

/// A transactional email request (from `transactional_email` or Qualtrics' `custom_email`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TransactionalEmail {
    /// The template's name (the `HubspotEmailTemplates` item id).
    pub template_name: String,
    /// Who it goes to.
    pub recipient: Recipient,
    /// Values for the template's custom properties.
    pub custom_properties: Map<String, Value>,
    /// Values for the template's contact properties.
    pub contact_properties: Map<String, Value>,
    /// The project task, when given (used to look up `project_name`).
    pub project_task_id: Option<String>,
}

impl TransactionalEmail {
    /// Parses a `transactional_email` detail (or a normalized `custom_email` one).
    pub fn from_detail(detail: &Value) -> Result<TransactionalEmail, EventError> {
        let d = At::root(detail, "detail");
        let template = d.req("template_name")?;
        let template_name = template.id()?;
        if template_name.chars().count() > MAX_NAME_CHARS {
            return Err(EventError::Invalid {
                field: template.path.clone(),
                reason: format!("longer than {MAX_NAME_CHARS} characters"),
            });
        }
        let recipient = Self::recipient(&d)?;
        let custom_properties = match d.opt("custom_properties")? {
            Some(a) => a.map()?,
            None => Map::new(),
        };
        let contact_properties = match d.opt("contact_properties")? {
            Some(a) => a.map()?,
            None => Map::new(),
        };
        let project_task_id = d.opt("project_task_id")?.map(|a| a.id()).transpose()?;
        Ok(TransactionalEmail {
            template_name,
            recipient,
            custom_properties,
            contact_properties,
            project_task_id,
        })
    }

    fn recipient(d: &At<'_>) -> Result<Recipient, EventError> {
        if let Some(id) = d.opt("to_recipient_id")? {
            return Ok(Recipient::UserId(id.id()?));
        }
        if let Some(id) = d.opt("anon_project_specific_user_id")? {
            return Ok(Recipient::AnonProjectSpecificUserId(id.id()?));
        }
        if let Some(email) = d.opt("to_recipient_email")? {
            return Ok(Recipient::Email(email.email()?));
        }
        Err(EventError::Missing(
            "detail.to_recipient_id (or detail.to_recipient_email, detail.anon_project_specific_user_id)"
                .into(),
        ))
    }

    /// Turns a Qualtrics `custom_email` detail into the `transactional_email` shape: every
    /// field other than the template, recipient and project task becomes a custom property.
    pub fn normalize_custom_email(detail: &Value) -> Result<Value, EventError> {
        let d = At::root(detail, "detail");
        let fields = d.object()?;
        let mut custom = Map::new();
        let mut out = Map::new();
        for (key, value) in fields {
            if CUSTOM_EMAIL_RESERVED.contains(&key.as_str()) {
                out.insert(key.clone(), value.clone());
            } else if key != "custom_properties" && key != "contact_properties" {
                custom.insert(key.clone(), value.clone());
            }
        }
        if let Some(Value::Object(given)) = fields.get("custom_properties") {
            custom.extend(given.clone());
        }
        if let Some(contact) = fields.get("contact_properties") {
            out.insert("contact_properties".into(), contact.clone());
        }
        out.insert("custom_properties".into(), Value::Object(custom));
        let normalized = Value::Object(out);
        // Validate now so a bad custom_email names its own fields.
        TransactionalEmail::from_detail(&normalized)?;
        Ok(normalized)
    }

    /// The notification label: `{template}_{recipient}`.
    pub fn label(&self) -> String {
        format!("{}_{}", self.template_name, self.recipient.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn email_validation() {
        for ok in ["a@b.co", "altha@email.co.uk", "x+tag@sub.example.org"] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "a@b",
            "@b.org",
            "a@@b.org",
            "a b@c.org",
            "a@.org",
            "a@b.org.",
            "a@b..org",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert!(validate_email(&format!("{}@b.org", "a".repeat(260))).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let detail = json!({"data": {"type": "ss", "date": "2022-02-25T10:48:31.036Z", "details": {"body": {
            "user_metadata": {"citsci_uuid": "u1"}
        }}}});
        assert_eq!(
            Registration::from_detail(&detail).unwrap_err(),
            EventError::Missing("detail.data.details.body.email".into())
        );
        let detail = json!({"data": {"type": "s", "date": 5, "user_name": "a@b.org"}});
        assert_eq!(
            Login::from_detail(&detail).unwrap_err(),
            EventError::WrongType {
                field: "detail.data.date".into(),
                expected: "a string"
            }
        );
        let detail =
            json!({"data": {"type": "s", "date": "2021-01-16T12:12:30.147Z", "user_name": "nope"}});
        let err = Login::from_detail(&detail).unwrap_err();
        assert_eq!(err.field(), Some("detail.data.user_name"));
        assert!(err.to_string().contains("not an email address"));
    }

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

    #[test]
    fn custom_email_becomes_a_transactional_email() {
        let detail = json!({
            "template_name": "t",
            "file_name": "Interview form",
            "anon_project_specific_user_id": "anon-1",
            "project_task_id": "pt-1"
        });
        let normalized = TransactionalEmail::normalize_custom_email(&detail).unwrap();
        let email = TransactionalEmail::from_detail(&normalized).unwrap();
        assert_eq!(
            email.recipient,
            Recipient::AnonProjectSpecificUserId("anon-1".into())
        );
        assert_eq!(email.custom_properties["file_name"], "Interview form");
        assert!(!email.custom_properties.contains_key("project_task_id"));
        assert_eq!(email.project_task_id.as_deref(), Some("pt-1"));
        assert_eq!(email.label(), "t_anon-1");
    }

    #[test]
    fn transactional_email_needs_a_recipient() {
        let err = TransactionalEmail::from_detail(&json!({"template_name": "t"})).unwrap_err();
        assert!(err.to_string().contains("detail.to_recipient_id"));
        let err = TransactionalEmail::from_detail(
            &json!({"template_name": "t", "to_recipient_email": "x"}),
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("detail.to_recipient_email"));
    }
}

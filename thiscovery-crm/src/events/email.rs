//! Transactional email requests (`detail-type` `transactional_email`), and Qualtrics'
//! `custom_email` requests, normalized into the same shape: a template, a [`Recipient`] and
//! the properties to fill in.

use std::fmt;

use serde_json::{Map, Value};

use super::EventError;
use super::reader::At;

/// The longest template name accepted.
pub const MAX_NAME_CHARS: usize = 256;

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

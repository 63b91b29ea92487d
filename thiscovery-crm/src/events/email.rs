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

/// The custom property that names a project task, read to look up `project_name` (the
/// Python stack and its Qualtrics path carry it inside `custom_properties`).
pub const PROJECT_TASK_ID: &str = "project_task_id";

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
    /// The project task, when given (used to look up `project_name`):
    /// `custom_properties.project_task_id`, else a top-level `project_task_id`.
    pub project_task_id: Option<String>,
}

/// A field that counts only when it is a non-empty string (or a number): what the Python
/// stack's "truthy" test admits for ids and addresses.
fn present<'a>(d: &At<'a>, key: &str) -> Result<Option<At<'a>>, EventError> {
    Ok(d.opt(key)?
        .filter(|a| a.value.as_str().is_none_or(|s| !s.trim().is_empty())))
}

impl TransactionalEmail {
    /// Parses a `transactional_email` detail (or a normalized `custom_email` one), as the
    /// Python stack stores it.
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
        let project_task_id = match d.opt("custom_properties")? {
            Some(custom) => present(&custom, PROJECT_TASK_ID)?,
            None => None,
        };
        let project_task_id = match project_task_id {
            Some(a) => Some(a),
            None => present(&d, PROJECT_TASK_ID)?,
        }
        .map(|a| a.id())
        .transpose()?;
        Ok(TransactionalEmail {
            template_name,
            recipient,
            custom_properties,
            contact_properties,
            project_task_id,
        })
    }

    /// `to_recipient_id` when it is given (a user id or, failing that, an anonymous
    /// project-specific id: the processor tries both, as the Python stack does), else
    /// `anon_project_specific_user_id`, else `to_recipient_email`.
    fn recipient(d: &At<'_>) -> Result<Recipient, EventError> {
        if let Some(id) = present(d, "to_recipient_id")? {
            return Ok(Recipient::UserId(id.id()?));
        }
        if let Some(id) = present(d, "anon_project_specific_user_id")? {
            return Ok(Recipient::AnonProjectSpecificUserId(id.id()?));
        }
        if let Some(email) = present(d, "to_recipient_email")? {
            return Ok(Recipient::Email(email.email()?));
        }
        Err(EventError::Missing(
            "detail.to_recipient_id (or detail.to_recipient_email)".into(),
        ))
    }

    /// Turns a Qualtrics `custom_email` detail into the `transactional_email` detail the
    /// Python stack re-publishes for it: `template_name`; `anon_project_specific_user_id`
    /// as `to_recipient_id` (else `to_recipient_email`, else a `to_recipient_id` given as
    /// such); and every other field, `project_task_id` included, as `custom_properties`. A
    /// `custom_properties` map in the detail is merged in, and `contact_properties` stays
    /// contact properties (the Python stack nested both inside `custom_properties`, where no
    /// template can use them).
    pub fn normalize_custom_email(detail: &Value) -> Result<Value, EventError> {
        let d = At::root(detail, "detail");
        let fields = d.object()?;
        let template = d.req("template_name")?.id()?;
        let mut rest = fields.clone();
        rest.remove("template_name");
        let mut out = Map::new();
        if present(&d, "anon_project_specific_user_id")?.is_some() {
            let anon = rest
                .remove("anon_project_specific_user_id")
                .unwrap_or_default();
            out.insert("to_recipient_id".into(), anon);
        } else if present(&d, "to_recipient_email")?.is_some() {
            let email = rest.remove("to_recipient_email").unwrap_or_default();
            out.insert("to_recipient_email".into(), email);
        } else if present(&d, "to_recipient_id")?.is_some() {
            let id = rest.remove("to_recipient_id").unwrap_or_default();
            out.insert("to_recipient_id".into(), id);
        }
        out.insert("template_name".into(), Value::String(template));
        let given = rest.remove("custom_properties");
        if let Some(contact) = rest.remove("contact_properties") {
            out.insert("contact_properties".into(), contact);
        }
        let mut custom = rest;
        if let Some(Value::Object(given)) = given {
            custom.extend(given);
        }
        out.insert("custom_properties".into(), Value::Object(custom));
        let normalized = Value::Object(out);
        // Validate now so a bad custom_email names its own fields.
        TransactionalEmail::from_detail(&normalized)?;
        Ok(normalized)
    }

    /// The notification label as the Python stack builds it from the stored detail:
    /// `{template}_{to_recipient_id}` when that key is there (`None` for a null), else
    /// `{template}_{to_recipient_email}`.
    pub fn python_label(detail: &Value) -> String {
        let text = |v: Option<&Value>| match v {
            None | Some(Value::Null) => "None".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let template = detail.get("template_name").and_then(Value::as_str);
        let recipient = match detail.get("to_recipient_id") {
            Some(id) => text(Some(id)),
            None => text(detail.get("to_recipient_email")),
        };
        format!("{}_{recipient}", template.unwrap_or("unknown-template"))
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
        // The Python stack's transform, exactly.
        assert_eq!(
            normalized,
            json!({"to_recipient_id": "anon-1", "template_name": "t",
                   "custom_properties": {"file_name": "Interview form", "project_task_id": "pt-1"}})
        );
        let email = TransactionalEmail::from_detail(&normalized).unwrap();
        assert_eq!(email.recipient, Recipient::UserId("anon-1".into()));
        assert_eq!(email.custom_properties["file_name"], "Interview form");
        assert_eq!(email.project_task_id.as_deref(), Some("pt-1"));
        assert_eq!(TransactionalEmail::python_label(&normalized), "t_anon-1");
        // A to_recipient_email is used only without an anonymous id.
        let detail = json!({"template_name": "t", "to_recipient_email": "a@b.org", "x": "1"});
        let normalized = TransactionalEmail::normalize_custom_email(&detail).unwrap();
        assert_eq!(
            normalized,
            json!({"to_recipient_email": "a@b.org", "template_name": "t", "custom_properties": {"x": "1"}})
        );
        assert_eq!(TransactionalEmail::python_label(&normalized), "t_a@b.org");
    }

    #[test]
    fn project_task_id_inside_custom_properties_or_at_the_top() {
        let inside = json!({"template_name": "t", "to_recipient_id": "u",
                            "custom_properties": {"project_task_id": "pt-1"}});
        let top = json!({"template_name": "t", "to_recipient_id": "u", "project_task_id": "pt-2"});
        let read = |v: &Value| TransactionalEmail::from_detail(v).unwrap().project_task_id;
        assert_eq!(read(&inside).as_deref(), Some("pt-1"));
        assert_eq!(read(&top).as_deref(), Some("pt-2"));
        // A null id counts as absent (Python's truthiness), and the label still says None.
        let null_id =
            json!({"template_name": "t", "to_recipient_id": null, "to_recipient_email": "a@b.org"});
        assert_eq!(
            TransactionalEmail::from_detail(&null_id).unwrap().recipient,
            Recipient::Email("a@b.org".into())
        );
        assert_eq!(TransactionalEmail::python_label(&null_id), "t_None");
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

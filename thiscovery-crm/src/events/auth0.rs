//! Auth0 log events (`detail-type` `Auth0 log`): the log type that picks the notification,
//! and the two payloads this stack acts on, a signup ([`Registration`]) and a successful
//! login ([`Login`]).

use serde_json::Value;
use time::OffsetDateTime;

use super::EventError;
use super::reader::At;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}

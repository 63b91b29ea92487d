//! Auth0 log events (`detail-type` `Auth0 log`): the log type that picks the notification,
//! and the two payloads this stack acts on, a signup ([`Registration`]) and a successful
//! login ([`Login`]).
//!
//! Each is read from an event's `detail` (`from_detail`) and from a stored notification's
//! `details` (`from_stored`). Stored details come in two shapes: the Python stack's derived
//! map (what it writes, and what this stack writes too: [`Registration::python_details`],
//! [`Login::python_details`]), and the raw Auth0 detail earlier versions of this stack wrote.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::EventError;
use super::reader::At;
use crate::timestamp;

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
    /// The country name the contact's `country` is set to (the Python stack's name for the
    /// code, see [`country_name`](crate::country::country_name)).
    pub country_name: Option<String>,
    /// When the signup happened: `detail.data.date` in an event; in a Python-shaped item its
    /// `details.created` to the whole second (the value the Python stack sends HubSpot).
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
        let country_code = opt_string("country")?;
        Ok(Registration {
            user_id: meta.req("citsci_uuid")?.id()?,
            email: body.req("email")?.email()?,
            first_name: opt_string("first_name")?,
            last_name: opt_string("last_name")?,
            country_name: country_code
                .as_deref()
                .and_then(crate::country::country_name)
                .map(str::to_owned),
            country_code,
            registered_at: data.req("date")?.time()?,
        })
    }

    /// Parses a stored notification's `details`: the Python stack's derived map (keys
    /// `id`, `email`, `first_name`, `last_name`, `created`, `country_name`, ...) or the raw
    /// Auth0 detail (it has `data`).
    pub fn from_stored(details: &Value) -> Result<Registration, EventError> {
        if details.get("data").is_some() {
            return Registration::from_detail(details);
        }
        let d = At::root(details, "details");
        let opt = |key: &str| -> Result<Option<String>, EventError> {
            d.opt(key)?
                .map(|a| a.string())
                .transpose()
                .map(|s| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
        };
        // The 6-key shape the Python stack wrote from 2022-06-22 to 2022-07-06 has no
        // `created` (its `event_time` is the same moment, near enough) and no
        // `country_code`, and holds the code in `country_name`.
        let created = match d.opt("created")? {
            Some(created) => created,
            None => d
                .opt("event_time")?
                .ok_or_else(|| EventError::Missing("details.created".into()))?,
        };
        let millis = timestamp::python_epoch_millis(&created.string()?).map_err(|reason| {
            EventError::Invalid {
                field: created.path.clone(),
                reason,
            }
        })?;
        let mut country_code = opt("country_code")?;
        let mut country_name = opt("country_name")?;
        if country_code.is_none()
            && let Some(name) = country_name
                .as_deref()
                .and_then(crate::country::country_name)
        {
            country_code = country_name.take();
            country_name = Some(name.to_owned());
        }
        Ok(Registration {
            user_id: d.req("id")?.id()?,
            email: d.req("email")?.email()?,
            first_name: opt("first_name")?,
            last_name: opt("last_name")?,
            country_code,
            country_name,
            registered_at: OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        })
    }

    /// The `details` the Python stack stores for this signup: exactly its eight keys, all
    /// strings but a `null` `country_name` for a code it has no name for (names it lacks
    /// are stored as empty strings, as a key the Python stack reads must be there).
    /// `created` is when the item is recorded; `event_time` the EventBridge envelope's time.
    pub fn python_details(&self, created: OffsetDateTime, event_time: Option<&str>) -> Value {
        json!({
            "created": timestamp::format(created),
            "email": self.email,
            "event_time": event_time.unwrap_or_default(),
            "first_name": self.first_name.clone().unwrap_or_default(),
            "last_name": self.last_name.clone().unwrap_or_default(),
            "country_code": self.country_code.clone().unwrap_or_default(),
            "country_name": self.country_name,
            "id": self.user_id,
        })
    }
}

/// The keys of thiscovery-core's user record the Python stack drops from a login's
/// `details` (it fails without them; this stack drops them when present).
pub const LOGIN_DROPPED_KEYS: [&str; 3] = ["has_demo_project", "has_live_project", "title"];

impl Login {
    /// Parses an Auth0 `s` log's detail.
    pub fn from_detail(detail: &Value) -> Result<Login, EventError> {
        let data = At::root(detail, "detail").req("data")?;
        Ok(Login {
            email: data.req("user_name")?.email()?,
            logged_in_at: data.req("date")?.time()?,
        })
    }

    /// Parses a stored notification's `details`: the Python stack's shape (thiscovery-core's
    /// user record plus `login_datetime`, of which `email` and `login_datetime` are read) or
    /// the raw Auth0 detail (it has `data`).
    pub fn from_stored(details: &Value) -> Result<Login, EventError> {
        if details.get("data").is_some() {
            return Login::from_detail(details);
        }
        let d = At::root(details, "details");
        Ok(Login {
            email: d.req("email")?.email()?,
            logged_in_at: d.req("login_datetime")?.time()?,
        })
    }

    /// `login_datetime` as the Python stack writes it: Auth0's `data.date` with the `T`
    /// turned into a space and the `Z` removed (`2021-01-16T12:12:30.147Z` becomes
    /// `2021-01-16 12:12:30.147`).
    pub fn python_login_datetime(detail: &Value) -> Option<String> {
        let date = detail.pointer("/data/date")?.as_str()?;
        Some(date.replace('T', " ").replace('Z', ""))
    }

    /// The `details` the Python stack stores for a login: thiscovery-core's user record
    /// (`user`, the answer to `GET v1/user?email=`) without [`LOGIN_DROPPED_KEYS`], plus
    /// `login_datetime`. With no record (core could not answer), the two keys processing
    /// reads: `email` (the Auth0 `user_name`) and `login_datetime`.
    pub fn python_details(
        detail: &Value,
        user: Option<Map<String, Value>>,
    ) -> Result<Value, EventError> {
        let login = Login::from_detail(detail)?;
        let mut details = user.unwrap_or_default();
        for key in LOGIN_DROPPED_KEYS {
            details.remove(key);
        }
        if !details.get("email").is_some_and(Value::is_string) {
            details.insert("email".into(), Value::String(login.email));
        }
        let login_datetime = Login::python_login_datetime(detail)
            .unwrap_or_else(|| timestamp::format(login.logged_in_at));
        details.insert("login_datetime".into(), Value::String(login_datetime));
        Ok(Value::Object(details))
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
        let err = Registration::from_stored(&json!({"id": "u1", "email": "a@b.org"})).unwrap_err();
        assert_eq!(err, EventError::Missing("details.created".into()));
    }

    #[test]
    fn both_stored_shapes_read_the_same() {
        let raw = json!({"data": {"type": "ss", "date": "2022-02-25T10:48:31.036Z", "details": {"body": {
            "email": "altha@email.co.uk",
            "user_metadata": {"citsci_uuid": "u1", "first_name": "Altha", "last_name": "Alcorn", "country": "GB-ENG"}
        }}}});
        let from_event = Registration::from_detail(&raw).unwrap();
        assert_eq!(
            from_event.country_name.as_deref(),
            Some("United Kingdom - England")
        );
        let recorded = timestamp::parse("2022-02-25 10:48:44.498211+00:00").unwrap();
        let python = from_event.python_details(recorded, Some("2022-02-25T10:48:43Z"));
        assert_eq!(
            python,
            json!({"created": "2022-02-25 10:48:44.498211+00:00", "email": "altha@email.co.uk",
                   "event_time": "2022-02-25T10:48:43Z", "first_name": "Altha", "last_name": "Alcorn",
                   "country_code": "GB-ENG", "country_name": "United Kingdom - England", "id": "u1"})
        );
        let stored = Registration::from_stored(&python).unwrap();
        assert_eq!(stored.email, from_event.email);
        assert_eq!(stored.country_name, from_event.country_name);
        assert_eq!(
            timestamp::epoch_millis(stored.registered_at),
            1_645_786_124_000
        );
        assert_eq!(Registration::from_stored(&raw).unwrap(), from_event);
        // The older 6-key shape.
        let old = json!({"email": "a@b.org", "event_time": "2022-06-23T10:00:00Z", "first_name": "A",
                         "last_name": "B", "country_name": "GB", "id": "u2"});
        let old = Registration::from_stored(&old).unwrap();
        assert_eq!(old.country_name.as_deref(), Some("United Kingdom"));
        assert_eq!(old.country_code.as_deref(), Some("GB"));
        assert_eq!(
            timestamp::epoch_millis(old.registered_at),
            1_655_978_400_000
        );

        let login = json!({"data": {"type": "s", "date": "2021-01-16T12:12:30.147Z", "user_name": "Altha@email.co.uk"}});
        let user = json!({"id": "u1", "email": "altha@email.co.uk", "title": "Mrs", "has_demo_project": true,
                          "has_live_project": false, "crm_id": null});
        let details = Login::python_details(&login, user.as_object().cloned()).unwrap();
        assert_eq!(
            details,
            json!({"id": "u1", "email": "altha@email.co.uk", "crm_id": null,
                   "login_datetime": "2021-01-16 12:12:30.147"})
        );
        let stored = Login::from_stored(&details).unwrap();
        assert_eq!(stored.email, "altha@email.co.uk");
        assert_eq!(
            timestamp::epoch_millis(stored.logged_in_at),
            1_610_799_150_147
        );
        let minimal = Login::python_details(&login, None).unwrap();
        assert_eq!(
            minimal,
            json!({"email": "Altha@email.co.uk", "login_datetime": "2021-01-16 12:12:30.147"})
        );
    }
}

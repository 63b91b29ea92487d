//! The JSON-path reader every payload is parsed with: a value together with its path from
//! the event (`detail.data.user_name`), so each required field, wrong type or bad value is
//! reported by where it is; and the checks its typed getters apply (ids, timestamps, email
//! addresses).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::EventError;
use crate::timestamp;

/// A JSON value with its path, for precise errors.
#[derive(Clone, Copy)]
struct Node<'a> {
    value: &'a Value,
    path: &'a str,
}

/// Owned-path variant used while walking.
pub(super) struct At<'a> {
    pub(super) value: &'a Value,
    pub(super) path: String,
}

impl<'a> At<'a> {
    pub(super) fn root(value: &'a Value, path: &str) -> Self {
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

    pub(super) fn object(&self) -> Result<&'a Map<String, Value>, EventError> {
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
    pub(super) fn opt(&self, key: &str) -> Result<Option<At<'a>>, EventError> {
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
    pub(super) fn req(&self, key: &str) -> Result<At<'a>, EventError> {
        self.opt(key)?
            .ok_or_else(|| EventError::Missing(self.child_path(key)))
    }

    pub(super) fn string(&self) -> Result<String, EventError> {
        self.node().string()
    }

    /// A non-empty string (numbers are accepted and written out: ids arrive as both).
    pub(super) fn id(&self) -> Result<String, EventError> {
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

    pub(super) fn time(&self) -> Result<OffsetDateTime, EventError> {
        let s = self.string()?;
        timestamp::parse(&s).map_err(|reason| EventError::Invalid {
            field: self.path.clone(),
            reason,
        })
    }

    pub(super) fn email(&self) -> Result<String, EventError> {
        let s = self.string()?;
        validate_email(&s).map_err(|reason| EventError::Invalid {
            field: self.path.clone(),
            reason,
        })?;
        Ok(s.trim().to_owned())
    }

    pub(super) fn map(&self) -> Result<Map<String, Value>, EventError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

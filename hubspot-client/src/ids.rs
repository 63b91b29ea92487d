//! Identifier newtypes. HubSpot sends ids sometimes as JSON strings and sometimes as numbers;
//! these types accept both and always serialize as strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<u64> for $name {
            fn from(n: u64) -> Self {
                $name(n.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_string_or_number(d).map($name)
            }
        }
    };
}

string_id!(
    /// A CRM object id (a contact's `hs_object_id`, for example).
    ObjectId
);
string_id!(
    /// A timeline event template id.
    EventTemplateId
);
string_id!(
    /// The id of a transactional send's status, for [`TransactionalApi::status`](crate::transactional::TransactionalApi::status).
    StatusId
);

/// Deserializes a JSON string or number into a `String`.
pub(crate) fn deserialize_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrNumber {
        S(String),
        U(u64),
        I(i64),
        F(f64),
    }
    Ok(match StringOrNumber::deserialize(d)? {
        StringOrNumber::S(s) => s,
        StringOrNumber::U(n) => n.to_string(),
        StringOrNumber::I(n) => n.to_string(),
        StringOrNumber::F(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_strings_and_numbers() {
        let a: ObjectId = serde_json::from_str("\"74701\"").unwrap();
        let b: ObjectId = serde_json::from_str("74701").unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"74701\"");
        assert!(serde_json::from_str::<ObjectId>("null").is_err());
        assert_eq!(format!("{a:?}"), "ObjectId(\"74701\")");
    }
}

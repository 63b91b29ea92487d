//! Items and JSON: the codec every DynamoDB store reads and writes its items with.
//!
//! `details` maps round-trip as boto3 writes them (numbers as `N`, null as `NULL`);
//! [`ItemReader`] reads an item's attributes and names the attribute that is wrong; a
//! notification maps to and from its item in the production format, and a sweep's
//! [`PendingKey`] from the few attributes the keys query projects.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use super::attr::{
    CREATED, DETAILS, ID, LABEL, LEASE_EXPIRES, LEASE_OWNER, MODIFIED, PROCESSING_ERROR_MESSAGE,
    PROCESSING_FAIL_COUNT, PROCESSING_STATUS, TYPE, UNFINISHED_ATTEMPTS,
};
use crate::notification::Notification;
use crate::store::{PendingKey, StoreError};

/// JSON to a DynamoDB attribute, as boto3 writes it (numbers as `N`, null as `NULL`).
pub fn json_to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(json_to_attr).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_attr(v)))
                .collect(),
        ),
    }
}

/// A DynamoDB attribute to JSON. Sets become arrays; binary values are not supported.
pub fn attr_to_json(attr: &AttributeValue) -> Result<Value, String> {
    Ok(match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::L(items) => {
            Value::Array(items.iter().map(attr_to_json).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| attr_to_json(v).map(|v| (k.clone(), v)))
                .collect::<Result<Map<_, _>, _>>()?,
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => {
            Value::Array(items.iter().map(|n| number(n)).collect::<Result<_, _>>()?)
        }
        _ => return Err("binary and unknown attribute types are not supported".into()),
    })
}

fn number(n: &str) -> Result<Value, String> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(Value::Number(u.into()));
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| format!("number {n:?} is out of range"))
}

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads string, number and map attributes of an item, naming what is wrong.
pub(super) struct ItemReader<'a> {
    table: &'a str,
    item: &'a Item,
    id: String,
}

impl<'a> ItemReader<'a> {
    pub(super) fn new(table: &'a str, item: &'a Item) -> Self {
        let id = match item.get(ID) {
            Some(AttributeValue::S(id)) => id.clone(),
            _ => "(no id)".to_owned(),
        };
        ItemReader { table, item, id }
    }

    pub(super) fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.table.to_owned(),
            id: self.id.clone(),
            reason: reason.into(),
        }
    }

    pub(super) fn opt_string(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(AttributeValue::N(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(format!("attribute {name} is not a string"))),
        }
    }

    pub(super) fn string(&self, name: &str) -> Result<String, StoreError> {
        self.opt_string(name)?
            .ok_or_else(|| self.corrupt(format!("attribute {name} is missing")))
    }

    pub(super) fn opt_i64(&self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) | Some(AttributeValue::S(v)) => v
                .parse::<f64>()
                .map(|f| Some(f as i64))
                .map_err(|_| self.corrupt(format!("attribute {name} is not a number"))),
            Some(_) => Err(self.corrupt(format!("attribute {name} is not a number"))),
        }
    }

    /// A claim's lease (epoch milliseconds). Only a number is a lease: anything else (a
    /// string, `NULL`, a value written by hand) reads as none, which is what the claim's
    /// condition says of it too, so such an item is claimable instead of failing every
    /// listing.
    pub(super) fn lease(&self) -> Option<i64> {
        match self.item.get(LEASE_EXPIRES) {
            Some(AttributeValue::N(v)) => match v.parse::<f64>() {
                Ok(f) if f.is_finite() => Some(f as i64),
                _ => None,
            },
            None => None,
            Some(other) => {
                tracing::warn!(
                    attribute = LEASE_EXPIRES,
                    value = ?other,
                    "a lease that is not a number is ignored"
                );
                None
            }
        }
    }

    /// A string attribute parsed (a type or a status); a value that does not parse is corrupt.
    pub(super) fn parsed<T: FromStr<Err = String>>(&self, name: &str) -> Result<T, StoreError> {
        self.string(name)?.parse().map_err(|e| self.corrupt(e))
    }

    pub(super) fn json(&self, name: &str) -> Result<Value, StoreError> {
        match self.item.get(name) {
            None => Ok(Value::Null),
            Some(attr) => attr_to_json(attr).map_err(|e| self.corrupt(format!("{name}: {e}"))),
        }
    }
}

/// Reads a notification from its DynamoDB item (`table` names the table in errors).
pub fn notification_from_item(table: &str, item: &Item) -> Result<Notification, StoreError> {
    let r = ItemReader::new(table, item);
    let kind = r.parsed(TYPE)?;
    let status = r.parsed(PROCESSING_STATUS)?;
    let created = r.string(CREATED)?;
    Ok(Notification {
        id: r.string(ID)?,
        kind,
        label: r.opt_string(LABEL)?.unwrap_or_default(),
        details: r.json(DETAILS)?,
        status,
        fail_count: r.opt_i64(PROCESSING_FAIL_COUNT)?.unwrap_or(0).max(0) as u32,
        error_message: r.opt_string(PROCESSING_ERROR_MESSAGE)?,
        modified: r.opt_string(MODIFIED)?.unwrap_or_else(|| created.clone()),
        created,
        lease_expires_ms: r.lease(),
        lease_owner: r.opt_string(LEASE_OWNER)?,
        unfinished_attempts: r
            .opt_i64(UNFINISHED_ATTEMPTS)
            .ok()
            .flatten()
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32,
    })
}

/// A notification as its DynamoDB item, in the production format.
pub fn notification_to_item(notification: &Notification) -> Item {
    let mut item = Item::from([
        (ID.to_owned(), s(&notification.id)),
        (TYPE.to_owned(), s(notification.kind.as_str())),
        (LABEL.to_owned(), s(&notification.label)),
        (DETAILS.to_owned(), json_to_attr(&notification.details)),
        (
            PROCESSING_STATUS.to_owned(),
            s(notification.status.as_str()),
        ),
        (PROCESSING_FAIL_COUNT.to_owned(), n(notification.fail_count)),
        (CREATED.to_owned(), s(&notification.created)),
        (MODIFIED.to_owned(), s(&notification.modified)),
    ]);
    if let Some(message) = &notification.error_message {
        item.insert(PROCESSING_ERROR_MESSAGE.into(), s(message));
    }
    if let Some(lease) = notification.lease_expires_ms {
        item.insert(LEASE_EXPIRES.into(), n(lease));
    }
    if let Some(owner) = &notification.lease_owner {
        item.insert(LEASE_OWNER.into(), s(owner));
    }
    if notification.unfinished_attempts > 0 {
        item.insert(
            UNFINISHED_ATTEMPTS.into(),
            n(notification.unfinished_attempts),
        );
    }
    item
}

/// Reads a [`PendingKey`] from an item of the keys query, projected to [`ID`], [`CREATED`],
/// [`PROCESSING_STATUS`], [`LEASE_EXPIRES`] and [`TYPE`].
pub(super) fn pending_key_from_item(table: &str, item: &Item) -> Result<PendingKey, StoreError> {
    let r = ItemReader::new(table, item);
    let key = PendingKey::new(
        r.string(ID)?,
        r.string(CREATED)?,
        r.parsed(PROCESSING_STATUS)?,
        r.lease(),
    );
    Ok(match r.opt_string(TYPE)? {
        Some(kind) => key.with_type(&kind),
        None => key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_attributes() {
        let value = json!({
            "a": 1, "b": -2, "c": 1.5, "d": null, "e": true, "f": "x",
            "g": [1, "two", {"h": null}], "i": {}, "big": 18446744073709551615u64
        });
        assert_eq!(attr_to_json(&json_to_attr(&value)).unwrap(), value);
        assert_eq!(json_to_attr(&json!(null)), AttributeValue::Null(true));
        assert_eq!(
            json_to_attr(&json!(1610799117840u64)),
            AttributeValue::N("1610799117840".into())
        );
    }

    #[test]
    fn items_round_trip() {
        let mut n = Notification::new(
            "id-1",
            crate::notification::NotificationType::TaskSignup,
            "label",
            json!({"x": [1, null]}),
            time::OffsetDateTime::now_utc(),
        );
        n.lease_owner = Some("me".into());
        n.lease_expires_ms = Some(5);
        n.error_message = Some("oops".into());
        let item = notification_to_item(&n);
        assert_eq!(notification_from_item("t", &item).unwrap(), n);
    }

    #[test]
    fn corrupt_items_name_the_attribute() {
        let item = Item::from([
            (ID.to_owned(), s("x")),
            (TYPE.to_owned(), s("user-login")),
            (PROCESSING_STATUS.to_owned(), s("weird")),
            (CREATED.to_owned(), s("2022-01-01 00:00:00.000000+00:00")),
        ]);
        let err = notification_from_item("t", &item).unwrap_err();
        assert!(err.to_string().contains("weird"), "{err}");
    }
}

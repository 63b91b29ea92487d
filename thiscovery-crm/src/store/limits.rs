//! DynamoDB's limits on an item, checked before a notification is written, so that an event
//! DynamoDB would refuse (a `ValidationException`, retried by EventBridge until it drops the
//! event) is rejected at once with the field and the limit named.
//!
//! The figures are DynamoDB's documented ones: an item of at most 400 KB counted DynamoDB's
//! way (attribute names plus values: strings by UTF-8 length, numbers about one byte per two
//! significant digits plus one, maps and lists 3 bytes plus one per element plus their
//! contents), a partition key of at most 2,048 bytes, numbers of magnitude between 1E-130
//! and 1E+126 (or zero) with at most 38 significant digits, and documents nested at most
//! 32 levels deep. `Crm::record` applies them whatever the store, so tests on the memory
//! store see what production sees.

use serde_json::{Number, Value};

#[cfg(feature = "dynamodb")]
use aws_sdk_dynamodb::types::AttributeValue;

use crate::notification::Notification;
#[cfg(feature = "dynamodb")]
use crate::store::dynamodb::notification_to_item;

/// The largest item DynamoDB stores (400 KB).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// The longest partition key DynamoDB stores.
pub const MAX_KEY_BYTES: usize = 2048;
/// The deepest a document (map or list) may nest.
pub const MAX_DEPTH: usize = 32;
/// The most significant digits of a DynamoDB number.
pub const MAX_DIGITS: usize = 38;
/// Room kept in an item for what the outbox adds after it is recorded (lease, owner, an
/// error message of at most [`MAX_MESSAGE_BYTES`], counters, timestamps).
pub const OUTBOX_HEADROOM_BYTES: usize = 4 * 1024;
/// The longest error message written to an item; longer ones are cut (see
/// [`bound_message`]).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// An item DynamoDB would refuse: which field, and which limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} cannot be stored in DynamoDB: {problem}")]
#[non_exhaustive]
pub struct LimitError {
    /// The field, as a path in the event (`detail.data.user_id`) or the item attribute.
    pub field: String,
    /// What limit it breaks, with the figures.
    pub problem: String,
}

impl LimitError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        LimitError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Checks that `n` can be written as a DynamoDB item with room for the outbox's attributes.
/// `id_field` names where the id came from (e.g. `detail.id`), `details_field` where the
/// details came from (e.g. `detail`), for the message.
pub fn check_notification(
    n: &Notification,
    id_field: &str,
    details_field: &str,
) -> Result<(), LimitError> {
    if n.id.len() > MAX_KEY_BYTES {
        return Err(LimitError::new(
            id_field,
            format!(
                "the notification id is {} bytes; a DynamoDB key holds at most {MAX_KEY_BYTES}",
                n.id.len()
            ),
        ));
    }
    if n.id.is_empty() {
        return Err(LimitError::new(id_field, "the notification id is empty"));
    }
    check_value(&n.details, details_field, 1)?;
    // The item's size is counted on the item the DynamoDB codec writes: without the
    // `dynamodb` feature there is no such item, and no 400 KB limit to keep to.
    #[cfg(feature = "dynamodb")]
    check_size(n, details_field)?;
    Ok(())
}

/// The 400 KB item limit, with room for the outbox's attributes.
#[cfg(feature = "dynamodb")]
fn check_size(n: &Notification, details_field: &str) -> Result<(), LimitError> {
    let size = item_size(n);
    if size + OUTBOX_HEADROOM_BYTES > MAX_ITEM_BYTES {
        return Err(LimitError::new(
            details_field,
            format!(
                "the item would be {size} bytes as DynamoDB counts them (plus {OUTBOX_HEADROOM_BYTES} for the outbox); an item holds at most {MAX_ITEM_BYTES}"
            ),
        ));
    }
    Ok(())
}

/// Checks numbers and nesting inside `value` (at `depth`, 1 for an attribute's own value).
fn check_value(value: &Value, path: &str, depth: usize) -> Result<(), LimitError> {
    match value {
        Value::Number(n) => check_number(n, path),
        Value::Array(_) | Value::Object(_) if depth > MAX_DEPTH => Err(LimitError::new(
            path,
            format!("it nests deeper than DynamoDB's {MAX_DEPTH} levels"),
        )),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, &format!("{path}[{i}]"), depth + 1)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                check_value(item, &format!("{path}.{key}"), depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_number(n: &Number, path: &str) -> Result<(), LimitError> {
    let (digits, exponent) = significant(&n.to_string());
    if digits == 0 {
        return Ok(());
    }
    if digits > MAX_DIGITS {
        return Err(LimitError::new(
            path,
            format!("{n} has {digits} significant digits; DynamoDB keeps at most {MAX_DIGITS}"),
        ));
    }
    // `exponent` is the power of ten of the leading digit: 1e125 is 125.
    if !(-130..=125).contains(&exponent) {
        return Err(LimitError::new(
            path,
            format!("{n} is outside DynamoDB's number range (1E-130 to 9.99E+125)"),
        ));
    }
    Ok(())
}

/// The count of significant digits of a decimal number's text and the power of ten of its
/// leading significant digit (`(0, 0)` for zero).
fn significant(text: &str) -> (usize, i64) {
    let text = text.trim_start_matches(['-', '+']);
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let leading = all.chars().take_while(|c| *c == '0').count();
    let trimmed = all[leading..].trim_end_matches('0');
    if trimmed.is_empty() {
        return (0, 0);
    }
    // The leading significant digit's position relative to the decimal point.
    let power = int.len() as i64 - 1 - leading as i64;
    (trimmed.len(), power.saturating_add(exp))
}

/// The item's size as DynamoDB counts it: the size of the item the DynamoDB codec writes
/// for `n` ([`notification_to_item`]), so no attribute is left out or named twice.
#[cfg(feature = "dynamodb")]
pub fn item_size(n: &Notification) -> usize {
    notification_to_item(n)
        .iter()
        .map(|(name, value)| name.len() + attr_size(value))
        .sum()
}

#[cfg(feature = "dynamodb")]
fn number_size(text: &str) -> usize {
    let (digits, _) = significant(text);
    digits.div_ceil(2) + 1
}

/// An attribute value's size as DynamoDB counts it (without its attribute name): lists and
/// maps 3 bytes plus 1 per element plus their contents (a map's keys included).
#[cfg(feature = "dynamodb")]
fn attr_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + attr_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + attr_size(v))
                .sum::<usize>()
        }
        // NULL, BOOL and any type added later: one byte.
        _ => 1,
    }
}

/// A message bounded for an item: email addresses replaced by `[email]` (messages are read
/// by operators and logged; addresses are personal data), and at most
/// [`MAX_MESSAGE_BYTES`], cut on a character boundary with a marker saying how much was cut.
pub fn bound_message(message: &str) -> String {
    let redacted = redact_emails(message);
    if redacted.len() <= MAX_MESSAGE_BYTES {
        return redacted;
    }
    const MARKER_ROOM: usize = 48;
    let mut cut = MAX_MESSAGE_BYTES - MARKER_ROOM;
    while !redacted.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}... [{} more bytes cut]",
        &redacted[..cut],
        redacted.len() - cut
    )
}

/// `text` with every word that looks like an email address (`local@domain.tld`) replaced by
/// `[email]`.
pub fn redact_emails(text: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || "._%+-@".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_email(word) {
            out.push_str("[email]");
            // A full stop after an address ends the sentence, not the address.
            out.push_str(&word[word.trim_end_matches('.').len()..]);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_word(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn looks_like_email(word: &str) -> bool {
    let word = word.trim_end_matches('.');
    match word.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain
                    .split_once('.')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::NotificationType;
    use serde_json::json;
    use time::OffsetDateTime;

    fn notification(id: &str, details: Value) -> Notification {
        Notification::new(
            id,
            NotificationType::TaskSignup,
            "l",
            details,
            OffsetDateTime::now_utc(),
        )
    }

    #[test]
    fn significant_digits_and_powers() {
        assert_eq!(significant("0"), (0, 0));
        assert_eq!(significant("-0.0"), (0, 0));
        assert_eq!(significant("1"), (1, 0));
        assert_eq!(significant("1200"), (2, 3));
        assert_eq!(significant("0.00120"), (2, -3));
        assert_eq!(significant("1e200"), (1, 200));
        assert_eq!(significant("1.5e-131"), (2, -131));
        assert_eq!(significant("18446744073709551615"), (20, 19));
    }

    #[test]
    fn keys_numbers_depth_and_size() {
        assert!(
            check_notification(&notification("a", json!({"n": 1})), "detail.id", "detail").is_ok()
        );
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        let e =
            check_notification(&notification(&long, json!({})), "detail.id", "detail").unwrap_err();
        assert_eq!(e.field, "detail.id");
        assert!(
            e.problem.contains("2049 bytes") && e.problem.contains("2048"),
            "{e}"
        );
        assert!(
            check_notification(
                &notification(&"x".repeat(MAX_KEY_BYTES), json!({})),
                "detail.id",
                "detail"
            )
            .is_ok()
        );

        let e = check_notification(
            &notification("a", json!({"a": {"b": 1e200}})),
            "detail.id",
            "detail",
        )
        .unwrap_err();
        assert_eq!(e.field, "detail.a.b");
        assert!(e.to_string().contains("number range"), "{e}");
        for fine in [
            json!(9.9e125),
            json!(1e-130),
            json!(-1e125),
            json!(u64::MAX),
            json!(0.0),
        ] {
            assert!(
                check_notification(&notification("a", json!({"n": fine})), "i", "detail").is_ok(),
                "{fine}"
            );
        }
        assert!(
            check_notification(&notification("a", json!({"n": 1e126})), "i", "detail").is_err()
        );
        assert!(
            check_notification(&notification("a", json!({"n": 1e-131})), "i", "detail").is_err()
        );

        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        // `deep` is MAX_DEPTH lists; as the value of a key in `details` it is one level more.
        let e = check_notification(
            &notification("a", json!({"k": deep.clone()})),
            "i",
            "detail",
        )
        .unwrap_err();
        assert!(e.to_string().contains("32 levels"), "{e}");
        let mut fits = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            fits = json!([fits]);
        }
        assert!(check_notification(&notification("a", fits), "i", "detail").is_ok());

        let big = "x".repeat(MAX_ITEM_BYTES - OUTBOX_HEADROOM_BYTES);
        let e =
            check_notification(&notification("a", json!({"s": big})), "i", "detail").unwrap_err();
        assert_eq!(e.field, "detail");
        assert!(e.problem.contains("409600"), "{e}");
        let fits = "x".repeat(MAX_ITEM_BYTES - OUTBOX_HEADROOM_BYTES - 500);
        assert!(check_notification(&notification("a", json!({"s": fits})), "i", "detail").is_ok());
    }

    #[test]
    fn messages_are_bounded_and_redacted() {
        assert_eq!(
            bound_message("could not find recipient altha@email.co.uk."),
            "could not find recipient [email]."
        );
        assert_eq!(
            bound_message("\"altha-at-email.co.uk\" is not an email address (no @)"),
            "\"altha-at-email.co.uk\" is not an email address (no @)"
        );
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let bounded = bound_message(&long);
        assert!(bounded.len() <= MAX_MESSAGE_BYTES, "{}", bounded.len());
        assert!(bounded.ends_with("more bytes cut]"), "{bounded}");
        assert_eq!(bound_message("short"), "short");
    }
}

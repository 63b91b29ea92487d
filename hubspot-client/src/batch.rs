//! Shared machinery of HubSpot's batch endpoints: chunking, concurrent chunks under the
//! limiter, 200/207 responses with per-item errors.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Deserialize;

use crate::error::{Error, ErrorClass, ErrorDetail};
use crate::policy::classify_status;

/// HubSpot's maximum number of inputs in one batch request.
pub const MAX_BATCH: usize = 100;

/// Why one input of a batch failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ItemFailure {
    /// HubSpot processed the batch and rejected this input (a 207 multi-status item error).
    Rejected(Box<ErrorDetail>),
    /// The request carrying this input's chunk failed as a whole; the same error is shared by
    /// every input of the chunk.
    RequestFailed(Arc<Error>),
}

impl ItemFailure {
    /// Classifies the failure like [`Error::class`]: an item rejected in a 207 is permanent
    /// unless its own status says otherwise.
    pub fn class(&self) -> ErrorClass {
        match self {
            ItemFailure::Rejected(detail) => detail
                .status
                .as_deref()
                .and_then(|s| s.parse::<u16>().ok())
                .map(|s| classify_status(s, None))
                .unwrap_or(ErrorClass::Permanent),
            ItemFailure::RequestFailed(e) => e.class(),
        }
    }
}

impl fmt::Display for ItemFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemFailure::Rejected(detail) => {
                write!(f, "HubSpot rejected this input")?;
                if let Some(category) = &detail.category {
                    write!(f, " ({category})")?;
                }
                if let Some(message) = &detail.message {
                    write!(f, ": {message}")?;
                }
                if let Some(rules) = crate::error::describe_rules(&detail.errors) {
                    write!(f, " [{rules}]")?;
                }
                Ok(())
            }
            ItemFailure::RequestFailed(e) => write!(f, "{e}"),
        }
    }
}

/// The body of a batch response (200 or 207).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct BatchBody<T> {
    #[serde(default)]
    pub(crate) results: Vec<T>,
    #[serde(default)]
    pub(crate) errors: Vec<ErrorDetail>,
}

/// Runs `send` over `chunk_size` chunks of `items`, at most `concurrency` at once, and returns
/// each chunk with its result, in input order.
pub(crate) async fn run_chunks<I, T, F, Fut>(
    items: Vec<I>,
    chunk_size: usize,
    concurrency: usize,
    send: F,
) -> Vec<(Vec<I>, Result<T, Error>)>
where
    I: Clone,
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut chunks = Vec::new();
    let mut rest = items.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(chunk_size).collect::<Vec<_>>());
    }
    futures_util::stream::iter(chunks)
        .map(|chunk| {
            let fut = send(chunk.clone());
            async move { (chunk, fut.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The failure for an input `key` that has no result: the item error that names it in its
/// context or message, else the only error, else a generic rejection.
pub(crate) fn failure_for(key: &str, errors: &[ErrorDetail]) -> ItemFailure {
    let names_key = |d: &&ErrorDetail| {
        d.context_ids()
            .iter()
            .any(|id| id.eq_ignore_ascii_case(key))
            || d.message
                .as_deref()
                .is_some_and(|m| m.to_lowercase().contains(&key.to_lowercase()))
    };
    if let Some(detail) = errors.iter().find(names_key) {
        return ItemFailure::Rejected(Box::new(detail.clone()));
    }
    if let [only] = errors {
        return ItemFailure::Rejected(Box::new(only.clone()));
    }
    ItemFailure::Rejected(Box::new(ErrorDetail {
        message: Some("HubSpot returned no result for this input".to_owned()),
        code: None,
        category: None,
        sub_category: None,
        status: None,
        r#in: None,
        context: None,
        errors: Vec::new(),
        links: None,
    }))
}

#[cfg(test)]
mod tests {
    /// A 2026-09 validation rule refusal (HubSpot's write validation enforcement): the
    /// failure names the rule and the property, not just "400".
    #[test]
    fn validation_rule_errors_name_the_rule_and_the_property() {
        let item = detail(
            r#"{"status":"error","category":"VALIDATION_ERROR",
                "message":"lifecyclestage is required because of a conditional property rule based on [country]",
                "context":{"ids":["ada@example.org"]},"links":{},
                "errors":[{"message":"lifecyclestage is required","code":"MISSING_CONDITIONAL_REQUIRED_PROPERTY",
                           "context":{"propertyName":["lifecyclestage"]}}]}"#,
        );
        let shown = ItemFailure::Rejected(Box::new(item)).to_string();
        assert!(shown.contains("VALIDATION_ERROR"), "{shown}");
        assert!(shown.contains("conditional property rule"), "{shown}");
        assert!(
            shown.contains("MISSING_CONDITIONAL_REQUIRED_PROPERTY (property lifecyclestage)"),
            "{shown}"
        );
    }

    use super::*;

    fn detail(json: &str) -> ErrorDetail {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn failure_is_matched_by_context_then_message() {
        let errors = vec![
            detail(r#"{"message":"bad one","context":{"ids":["a@x.org"]}}"#),
            detail(r#"{"message":"Email b@x.org is invalid"}"#),
        ];
        let ItemFailure::Rejected(a) = failure_for("A@x.org", &errors) else {
            panic!()
        };
        assert_eq!(a.message.as_deref(), Some("bad one"));
        let ItemFailure::Rejected(b) = failure_for("b@x.org", &errors) else {
            panic!()
        };
        assert_eq!(b.message.as_deref(), Some("Email b@x.org is invalid"));
        let ItemFailure::Rejected(c) = failure_for("c@x.org", &errors) else {
            panic!()
        };
        assert_eq!(
            c.message.as_deref(),
            Some("HubSpot returned no result for this input")
        );
        let ItemFailure::Rejected(d) = failure_for("c@x.org", &errors[..1]) else {
            panic!()
        };
        assert_eq!(d.message.as_deref(), Some("bad one"));
    }

    #[test]
    fn rejected_items_are_permanent_unless_their_status_says_otherwise() {
        assert_eq!(
            ItemFailure::Rejected(Box::new(detail(r#"{"message":"x"}"#))).class(),
            ErrorClass::Permanent
        );
        assert!(
            ItemFailure::Rejected(Box::new(detail(r#"{"status":"503"}"#)))
                .class()
                .is_retryable()
        );
    }

    #[tokio::test]
    async fn chunks_keep_input_order() {
        let items: Vec<u32> = (0..250).collect();
        let out = run_chunks(items, 100, 3, |chunk| async move {
            Ok::<usize, Error>(chunk.len())
        })
        .await;
        let sizes: Vec<usize> = out
            .iter()
            .map(|(c, r)| {
                assert_eq!(c.len(), *r.as_ref().unwrap());
                c.len()
            })
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        assert_eq!(out[2].0[0], 200);
    }
}

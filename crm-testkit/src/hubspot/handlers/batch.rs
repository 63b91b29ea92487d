//! What the batch endpoints share: reading `{"inputs": [...]}` and the 200/207 answer.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::super::util::{iso8601, property_string};
use super::reply::{ApiError, ItemErrorBody, Reply};
use super::request::parse_json;

/// The `inputs` of a batch body; more than `limit` is a 400.
pub(crate) fn inputs(body: &[u8], limit: Option<usize>) -> Result<Vec<Value>, ApiError> {
    let mut body = parse_json(body)?;
    let Some(Value::Array(inputs)) = body.get_mut("inputs").map(Value::take) else {
        return Err(ApiError::validation(
            "Invalid input JSON: `inputs` must be an array",
        ));
    };
    if let Some(limit) = limit
        && inputs.len() > limit
    {
        let n = inputs.len();
        return Err(ApiError::validation(format!(
            "Too many inputs in batch: {n}; the limit is {limit}"
        )));
    }
    Ok(inputs)
}

/// An input's `id`, as a string (`""` when absent): what its item error names.
pub(crate) fn input_id(input: &Value) -> String {
    input.get("id").map(property_string).unwrap_or_default()
}

/// `{status: "COMPLETE", results, startedAt, completedAt}`: 200, or with `numErrors` and
/// `errors` when some inputs failed (the others were still applied): a 207 in the legacy
/// paths and 2026-09, a 200 in 2026-03 (whose batch APIs declare no 207).
pub(crate) fn answer<T: Serialize>(
    req: &super::request::Incoming<'_>,
    started: SystemTime,
    results: Vec<T>,
    errors: Vec<ItemErrorBody>,
) -> Reply {
    let errors_in_200 = req.version.as_deref() == Some("2026-03");
    let status = if errors.is_empty() || errors_in_200 {
        200
    } else {
        207
    };
    let body = BatchBody {
        completed_at: iso8601(SystemTime::now()),
        num_errors: (!errors.is_empty()).then_some(errors.len()),
        errors,
        results,
        started_at: iso8601(started),
        status: "COMPLETE",
    };
    Reply::json(status, &body)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchBody<T> {
    completed_at: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ItemErrorBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_errors: Option<usize>,
    results: Vec<T>,
    started_at: String,
    status: &'static str,
}

//! The fake's own HTTP admin API under `/__fake/` (used by the `fake-hubspot` binary, and
//! available in-process too). Not journaled, not authenticated, not rate limited.

use serde::Serialize;
use serde_json::Value;

use super::super::fault::FaultSpec;
use super::super::state::State;
use super::super::util::string_map_at;
use super::reply::{ApiError, Failure, Outcome, Reply};
use super::request::Incoming;

/// Every admin route; the path after `/__fake/` is the request's first parameter.
pub(crate) fn handle(st: &mut State, req: &Incoming<'_>) -> Outcome {
    match (req.method, req.param(0)) {
        ("GET", "contacts") => Ok(sorted(&st.contacts.values().collect::<Vec<_>>())),
        ("POST", "contacts") => {
            let body: Value = serde_json::from_slice(req.body)
                .map_err(|e| Failure::admin_bad_request(format!("invalid JSON: {e}")))?;
            let email = body
                .get("email")
                .and_then(Value::as_str)
                .ok_or_else(|| Failure::admin_bad_request("a contact needs `email`"))?;
            let props = string_map_at(&body, "properties");
            let (id, created) = st.upsert_contact_by_email(email, props);
            let body = Upserted {
                id: id.to_string(),
                new: created,
            };
            Ok(Reply::json(200, &body))
        }
        ("GET", "timeline-events") => Ok(sorted(&st.events)),
        ("GET", "emails") => Ok(sorted(&st.emails)),
        ("GET", "journal") => Ok(sorted(&st.journal)),
        ("GET", "faults") => {
            // The JSON form `POST` accepts, so a listing can be armed again as it is.
            let faults: Vec<FaultSpec> = st
                .faults
                .iter()
                .map(|(endpoint, f)| FaultSpec::of(*endpoint, f))
                .collect();
            Ok(sorted(&faults))
        }
        ("POST", "faults") => {
            let spec: FaultSpec = serde_json::from_slice(req.body)
                .map_err(|e| Failure::admin_bad_request(format!("invalid fault: {e}")))?;
            let (endpoint, fault) = spec.into_fault().map_err(Failure::admin_bad_request)?;
            st.faults.push((endpoint, fault));
            Ok(Reply::json(
                201,
                &Armed {
                    armed: st.faults.len(),
                },
            ))
        }
        ("DELETE", "faults") => {
            st.faults.clear();
            Ok(Reply::empty(204))
        }
        ("POST", "reset") => {
            st.reset();
            Ok(Reply::empty(204))
        }
        ("POST", "tokens") => Ok(sorted(&st.issue_token_set())),
        ("POST", "expire-tokens") => {
            st.expire_access_tokens();
            Ok(Reply::empty(204))
        }
        (method, path) => Err(Failure::Admin(ApiError::not_implemented(format!(
            "fake-hubspot: no admin route for {method} /__fake/{path}"
        )))),
    }
}

/// A 200 with the fake's own state types, keys sorted at every level: the admin API has
/// always answered through `serde_json::Value`, whose maps sort their keys, while the types
/// declare their fields in reading order.
fn sorted(state: &impl Serialize) -> Reply {
    Reply::json(200, &serde_json::to_value(state).unwrap_or(Value::Null))
}

#[derive(Serialize)]
struct Upserted {
    id: String,
    new: bool,
}

#[derive(Serialize)]
struct Armed {
    armed: usize,
}

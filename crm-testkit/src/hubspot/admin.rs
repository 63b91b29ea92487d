//! The fake's own HTTP admin API under `/__fake/` (used by the `fake-hubspot` binary, and
//! available in-process too). Not journaled, not authenticated, not rate limited.

use serde_json::{Value, json};

use super::fault::FaultSpec;
use super::handlers::Incoming;
use super::state::{Reply, Shared};
use super::util::string_map_at;

pub(crate) fn handle(shared: &Shared, req: &Incoming<'_>, rest: &str) -> Reply {
    let mut st = shared.lock();
    let bad_request = |message: String| {
        Reply::json(
            400,
            json!({"status": "error", "category": "VALIDATION_ERROR", "message": message}),
        )
    };
    match (req.method, rest) {
        ("GET", "contacts") => Reply::json(200, json!(st.contacts.values().collect::<Vec<_>>())),
        ("POST", "contacts") => {
            let body: Value = match serde_json::from_slice(req.body) {
                Ok(v) => v,
                Err(e) => return bad_request(format!("invalid JSON: {e}")),
            };
            let Some(email) = body.get("email").and_then(Value::as_str) else {
                return bad_request("a contact needs `email`".into());
            };
            let props = string_map_at(&body, "properties");
            let (id, created) = st.upsert_contact_by_email(email, props);
            Reply::json(200, json!({"id": id.to_string(), "new": created}))
        }
        ("GET", "timeline-events") => Reply::json(200, json!(st.events)),
        ("GET", "emails") => Reply::json(200, json!(st.emails)),
        ("GET", "journal") => Reply::json(200, json!(st.journal)),
        ("GET", "faults") => {
            let faults: Vec<Value> = st
                .faults
                .iter()
                .map(|(e, f)| json!({"endpoint": e, "kind": format!("{:?}", f.kind), "remaining": f.times}))
                .collect();
            Reply::json(200, json!(faults))
        }
        ("POST", "faults") => {
            let spec: FaultSpec = match serde_json::from_slice(req.body) {
                Ok(s) => s,
                Err(e) => return bad_request(format!("invalid fault: {e}")),
            };
            match spec.into_fault() {
                Ok((endpoint, fault)) => {
                    st.faults.push((endpoint, fault));
                    Reply::json(201, json!({"armed": st.faults.len()}))
                }
                Err(message) => bad_request(message),
            }
        }
        ("DELETE", "faults") => {
            st.faults.clear();
            Reply::empty(204)
        }
        ("POST", "reset") => {
            st.reset();
            Reply::empty(204)
        }
        ("POST", "tokens") => Reply::json(200, json!(st.issue_token_set())),
        ("POST", "expire-tokens") => {
            st.expire_access_tokens();
            Reply::empty(204)
        }
        (method, path) => Reply::json(
            501,
            json!({
                "status": "error",
                "category": "NOT_IMPLEMENTED",
                "message": format!("fake-hubspot: no admin route for {method} /__fake/{path}"),
            }),
        ),
    }
}

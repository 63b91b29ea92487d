//! Transactional email: `POST /marketing/v3/transactional/single-email/send` and
//! `GET /marketing/v3/email/send-statuses/{statusId}`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::super::model::SentEmail;
use super::super::state::{SendStatus, State};
use super::super::util::{iso8601, plausible_email, property_string, string_map};
use super::reply::{ApiError, Outcome, Reply};
use super::request::Incoming;

/// How long after its request a send is reported complete.
const COMPLETION_TIME: std::time::Duration = std::time::Duration::from_millis(250);

/// `sendResult` of a send that went out.
const SENT: &str = "SENT";
/// `sendResult` of a repeated `(emailId, sendId)`: nothing is sent.
const IDEMPOTENT_IGNORE: &str = "IDEMPOTENT_IGNORE";

/// [`Endpoint::SingleSend`](super::super::Endpoint::SingleSend): needs an integer `emailId`
/// and a plausible `message.to`; a repeated `(emailId, sendId)` sends nothing.
pub(crate) fn single_send(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let body = req.json()?;
    // HubSpot's schema types emailId as an integer: a string ("123") is refused.
    let email_id = match body.get("emailId") {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| ApiError::validation("emailId is required and must be an integer"))?;
    let message = body.get("message").cloned().unwrap_or(Value::Null);
    let to = message.get("to").and_then(Value::as_str).unwrap_or("");
    if !plausible_email(to) {
        return Err(ApiError::validation(format!(
            "message.to must be a valid email address, got {to:?}"
        ))
        .into());
    }
    let send_id = message
        .get("sendId")
        .map(property_string)
        .filter(|s| !s.is_empty());
    let now = SystemTime::now();
    let status_id = st.ids.uuid();
    let event_id = st.ids.uuid();
    let duplicate = send_id
        .as_ref()
        .is_some_and(|s| st.send_keys.contains_key(&(email_id, s.clone())));
    let status = SendStatus {
        status_id: status_id.clone(),
        send_result: if duplicate { IDEMPOTENT_IGNORE } else { SENT },
        requested_at: now,
        event_id,
        pending_first: st.config.single_send_pending && !duplicate,
    };
    if !duplicate {
        if let Some(s) = &send_id {
            st.send_keys
                .insert((email_id, s.clone()), status_id.clone());
        }
        let props = |k: &str| -> BTreeMap<String, Value> {
            body.get(k)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        };
        st.emails.push(SentEmail {
            status_id: status_id.clone(),
            email_id,
            to: to.to_owned(),
            from: message
                .get("from")
                .and_then(Value::as_str)
                .map(str::to_owned),
            send_id,
            cc: string_list(message.get("cc")),
            bcc: string_list(message.get("bcc")),
            reply_to: string_list(message.get("replyTo")),
            contact_properties: string_map(&props("contactProperties")),
            custom_properties: props("customProperties"),
            requested_at: now,
        });
    }
    let reply = Reply::json(200, &StatusBody::of(&status, status.pending_first));
    st.statuses.insert(status_id, status);
    Ok(reply)
}

/// [`Endpoint::SendStatus`](super::super::Endpoint::SendStatus): always `COMPLETE`.
pub(crate) fn send_status(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let status = st
        .statuses
        .get(req.param(0))
        .ok_or_else(|| ApiError::not_found("resource not found"))?;
    Ok(Reply::json(200, &StatusBody::of(status, false)))
}

/// `message.cc` and the like: a string or a list on the wire.
fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().map(property_string).collect(),
        _ => Vec::new(),
    }
}

/// A send's status on the wire: `PENDING` has `statusId`, `status` and `requestedAt` only.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<EventId<'a>>,
    requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    status: &'a str,
    status_id: &'a str,
}

#[derive(Serialize)]
struct EventId<'a> {
    created: String,
    id: &'a str,
}

impl<'a> StatusBody<'a> {
    fn of(s: &'a SendStatus, pending: bool) -> Self {
        let requested = iso8601(s.requested_at);
        if pending {
            return Self {
                completed_at: None,
                event_id: None,
                requested_at: requested,
                send_result: None,
                started_at: None,
                status: "PENDING",
                status_id: &s.status_id,
            };
        }
        Self {
            // Fixed for the send, so every read of the status says the same.
            completed_at: Some(iso8601(s.requested_at + COMPLETION_TIME)),
            event_id: Some(EventId {
                created: requested.clone(),
                id: &s.event_id,
            }),
            requested_at: requested.clone(),
            send_result: Some(s.send_result),
            started_at: Some(requested),
            status: "COMPLETE",
            status_id: &s.status_id,
        }
    }
}

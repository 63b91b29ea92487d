//! `/integrators/timeline/v3/events`: timeline events on contacts, one or a batch, and reading
//! one back.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::super::model::TimelineEvent;
use super::super::state::State;
use super::super::util::{
    from_epoch_millis, iso8601, normalize_email, property_string, string_map_at,
};
use super::batch;
use super::reply::{ApiError, Outcome, Reply};
use super::request::Incoming;

/// [`Endpoint::TimelineEvent`](super::super::Endpoint::TimelineEvent).
pub(crate) fn create(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let event = create_event(st, &req.json()?)?;
    Ok(Reply::json(200, &event))
}

/// [`Endpoint::TimelineBatch`](super::super::Endpoint::TimelineBatch): each input as a single
/// event; the ones that fail are listed in `errors`.
pub(crate) fn create_batch(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let started = SystemTime::now();
    let inputs = batch::inputs(req.body, None)?;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &inputs {
        match create_event(st, input) {
            Ok(event) => results.push(event),
            Err(error) => errors.push(error.into_item(batch::input_id(input), &mut st.ids)),
        }
    }
    Ok(batch::answer(req, started, results, errors))
}

/// [`Endpoint::TimelineGet`](super::super::Endpoint::TimelineGet): `{templateId}/{eventId}`.
pub(crate) fn get(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let key = (req.param(0).to_owned(), req.param(1).to_owned());
    let event = st
        .event_index
        .get(&key)
        .and_then(|i| st.events.get(*i))
        .ok_or_else(|| ApiError::not_found("resource not found"))?;
    Ok(Reply::json(200, &EventBody::of(event)))
}

/// Records one event input: its template must be registered (or any accepted), its contact
/// found by `objectId`, `email` or `utk`, and its `(template, id)` new.
fn create_event(st: &mut State, input: &Value) -> Result<EventBody, ApiError> {
    let template = input
        .get("eventTemplateId")
        .map(property_string)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::validation("eventTemplateId is required"))?;
    if !st.config.accept_any_template && !st.templates.contains(&template) {
        return Err(ApiError::not_found(format!(
            "Event template {template} not found"
        )));
    }
    let email = input
        .get("email")
        .and_then(Value::as_str)
        .map(normalize_email);
    let object_id = input.get("objectId").map(property_string);
    let utk = input.get("utk").and_then(Value::as_str);
    let contact = if let Some(oid) = &object_id {
        oid.parse().ok().filter(|n| st.active_contact(*n).is_some())
    } else if let Some(email) = &email {
        st.contact_id_by_email(email)
    } else if let Some(utk) = utk {
        st.contacts
            .values()
            .find(|c| !c.archived && c.property("hubspotutk") == Some(utk))
            .and_then(|c| c.id.parse().ok())
    } else {
        return Err(ApiError::validation(
            "an event needs one of objectId, email or utk",
        ));
    };
    let Some(contact) = contact else {
        let who = object_id
            .or(email.clone())
            .unwrap_or_else(|| utk.unwrap_or_default().to_owned());
        return Err(ApiError::not_found(format!("No contact found for {who}")));
    };
    let id = match input
        .get("id")
        .map(property_string)
        .filter(|s| !s.is_empty())
    {
        Some(id) => id,
        None => st.ids.uuid(),
    };
    let key = (template.clone(), id.clone());
    if st.event_index.contains_key(&key) {
        return Err(ApiError::conflict(format!(
            "An event with id {id} already exists for event template {template}"
        )));
    }
    let timestamp = match input.get("timestamp") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => iso8601(from_epoch_millis(n.as_u64().unwrap_or(0))),
        _ => iso8601(SystemTime::now()),
    };
    let event = TimelineEvent {
        id,
        event_template_id: template,
        object_id: contact.to_string(),
        email,
        tokens: string_map_at(input, "tokens"),
        extra_data: input.get("extraData").cloned().filter(|v| !v.is_null()),
        timestamp,
        created_at: SystemTime::now(),
    };
    let body = EventBody::of(&event);
    st.event_index.insert(key, st.events.len());
    st.events.push(event);
    Ok(body)
}

/// A timeline event on the wire.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    event_template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_data: Option<Value>,
    id: String,
    object_id: String,
    object_type: &'static str,
    timestamp: String,
    tokens: BTreeMap<String, String>,
}

impl EventBody {
    fn of(e: &TimelineEvent) -> Self {
        Self {
            created_at: iso8601(e.created_at),
            email: e.email.clone(),
            event_template_id: e.event_template_id.clone(),
            extra_data: e.extra_data.clone(),
            id: e.id.clone(),
            object_id: e.object_id.clone(),
            object_type: "contacts",
            timestamp: e.timestamp.clone(),
            tokens: e.tokens.clone(),
        }
    }
}

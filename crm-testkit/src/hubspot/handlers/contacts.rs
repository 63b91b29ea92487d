//! `/crm/v3/objects/contacts`: create, get, update, archive, batch upsert by email and batch
//! read.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::super::model::Contact;
use super::super::state::State;
use super::super::util::{iso8601, normalize_email, plausible_email, string_map, string_map_at};
use super::batch;
use super::reply::{ApiError, Outcome, Reply};
use super::request::Incoming;

/// HubSpot's batch limit for contacts.
const BATCH_LIMIT: usize = 100;

/// Properties `GET` returns when the caller asks for none.
const DEFAULT_PROPERTIES: [&str; 6] = [
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];

/// [`Endpoint::ContactsCreate`](super::super::Endpoint::ContactsCreate).
pub(crate) fn create(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let props = properties(&req.json()?)?;
    if let Some(existing) = props.get("email").and_then(|e| st.contact_id_by_email(e)) {
        return Err(already_exists(existing).into());
    }
    let id = st.create_contact(props);
    contact_reply(st, 201, id, None)
}

/// [`Endpoint::ContactsGet`](super::super::Endpoint::ContactsGet): default properties unless
/// `?properties=a,b` names others.
pub(crate) fn get(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let id = resolve(st, req)?;
    let wanted: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let only = if wanted.is_empty() {
        DEFAULT_PROPERTIES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        wanted
    };
    contact_reply(st, 200, id, Some(&only))
}

/// [`Endpoint::ContactsUpdate`](super::super::Endpoint::ContactsUpdate).
pub(crate) fn update(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let id = resolve(st, req)?;
    let props = properties(&req.json()?)?;
    if let Some(other) = props
        .get("email")
        .and_then(|e| st.contact_id_by_email(e))
        .filter(|other| *other != id)
    {
        return Err(already_exists(other).into());
    }
    st.update_contact(id, props);
    contact_reply(st, 200, id, None)
}

/// [`Endpoint::ContactsArchive`](super::super::Endpoint::ContactsArchive).
pub(crate) fn archive(st: &mut State, req: &Incoming<'_>) -> Outcome {
    // HubSpot answers 204 whether or not the object existed.
    if let Ok(id) = resolve(st, req)
        && let Some(c) = st.contacts.get_mut(&id)
    {
        c.archived = true;
        c.updated_at = SystemTime::now();
        if let Some(email) = c.properties.get("email") {
            st.email_index.remove(email);
        }
    }
    Ok(Reply::empty(204))
}

/// [`Endpoint::ContactsBatchUpsert`](super::super::Endpoint::ContactsBatchUpsert): by email
/// only. The batch's shape is checked before anything is written; a malformed email fails
/// its own input only.
pub(crate) fn batch_upsert(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let started = SystemTime::now();
    let inputs = batch::inputs(req.body, Some(BATCH_LIMIT))?;
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    for input in &inputs {
        if input.get("idProperty").and_then(Value::as_str) != Some("email") {
            return Err(ApiError::validation(
                "fake-hubspot: batch upsert needs \"idProperty\": \"email\" on every input",
            )
            .into());
        }
        let id = batch::input_id(input);
        if !seen.insert(normalize_email(&id)) {
            duplicates.push(id);
        }
    }
    if !duplicates.is_empty() {
        return Err(ApiError::validation(format!(
            "Duplicate IDs found in batch input: {duplicates:?}"
        ))
        .into());
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &inputs {
        let id = batch::input_id(input);
        if !plausible_email(&id) {
            let error = ApiError::validation(invalid_email_message(&id));
            errors.push(error.into_item(id, &mut st.ids));
            continue;
        }
        let props = string_map_at(input, "properties");
        let (cid, created) = st.upsert_contact_by_email(&id, props);
        if let Some(c) = st.contacts.get(&cid) {
            results.push(ContactBody {
                new: Some(created),
                ..ContactBody::of(c, None)
            });
        }
    }
    Ok(batch::answer(req, started, results, errors))
}

/// [`Endpoint::ContactsBatchRead`](super::super::Endpoint::ContactsBatchRead): by id, or by
/// email with `"idProperty": "email"`; `properties` names what each result carries (the
/// default properties when absent). An input that matches no active contact is an item
/// error (`OBJECT_NOT_FOUND`, 207), as HubSpot answers.
pub(crate) fn batch_read(st: &mut State, req: &Incoming<'_>) -> Outcome {
    let started = SystemTime::now();
    let body = req.json()?;
    let inputs = batch::inputs(req.body, Some(BATCH_LIMIT))?;
    let by_email = match body.get("idProperty") {
        None | Some(Value::Null) => false,
        Some(Value::String(p)) if p == "email" => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "fake-hubspot: batch read by idProperty {other} is not supported (email or none)"
            ))
            .into());
        }
    };
    let wanted: Vec<String> = match body.get("properties") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => DEFAULT_PROPERTIES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &inputs {
        let id = batch::input_id(input);
        let found = if by_email {
            st.contact_id_by_email(&normalize_email(&id))
        } else {
            id.parse().ok().filter(|n| st.active_contact(*n).is_some())
        };
        match found.and_then(|cid| st.contacts.get(&cid)) {
            Some(c) => results.push(ContactBody::of(c, Some(&wanted))),
            None => {
                let error = ApiError::not_found(
                    "Could not get some CONTACT objects, they may be deleted or not exist.",
                );
                errors.push(error.into_item(id, &mut st.ids));
            }
        }
    }
    Ok(batch::answer(req, started, results, errors))
}

/// `{"properties": {...}}` as strings; the email, if present, validated and normalized.
fn properties(body: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(props) = body.get("properties").and_then(Value::as_object) else {
        return Err(ApiError::validation(
            "Invalid input JSON: `properties` must be an object",
        ));
    };
    let mut out = string_map(props);
    if let Some(email) = out.get_mut("email") {
        if !plausible_email(email) {
            return Err(ApiError::validation(invalid_email_message(email)));
        }
        *email = normalize_email(email);
    }
    Ok(out)
}

fn invalid_email_message(email: &str) -> String {
    format!(
        "Property values were not valid: [{{\"isValid\":false,\"message\":\"Email address {email} \
         is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}}]"
    )
}

fn already_exists(id: u64) -> ApiError {
    ApiError::conflict(format!("Contact already exists. Existing ID: {id}"))
}

/// Resolves the `{id}` path parameter (or the email with `?idProperty=email`) to an active
/// contact.
fn resolve(st: &State, req: &Incoming<'_>) -> Result<u64, ApiError> {
    let id = req.param(0);
    let found = match req.query("idProperty") {
        Some("email") => st.contact_id_by_email(id),
        Some("hs_object_id") | None => id.parse().ok().filter(|n| st.active_contact(*n).is_some()),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "fake-hubspot supports idProperty=email only, not {other}"
            )));
        }
    };
    found.ok_or_else(|| ApiError::not_found("resource not found"))
}

/// The contact `id` as the answer, with only the properties in `only` if given.
fn contact_reply(st: &State, status: u16, id: u64, only: Option<&[String]>) -> Outcome {
    let contact = st
        .contacts
        .get(&id)
        .ok_or_else(|| ApiError::not_found("resource not found"))?;
    Ok(Reply::json(status, &ContactBody::of(contact, only)))
}

/// A contact on the wire.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    archived: bool,
    created_at: String,
    id: String,
    /// Batch upsert only: whether the input created the contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
    properties: BTreeMap<String, String>,
    updated_at: String,
}

impl ContactBody {
    fn of(c: &Contact, only: Option<&[String]>) -> Self {
        Self {
            archived: c.archived,
            created_at: iso8601(c.created_at),
            id: c.id.clone(),
            new: None,
            properties: c
                .properties
                .iter()
                .filter(|(k, _)| only.is_none_or(|only| only.iter().any(|o| o == *k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            updated_at: iso8601(c.updated_at),
        }
    }
}

//! The stateful router: one handler per HubSpot endpoint, behind authentication and the
//! rate limiter, plus the fault responders that run in front of it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::{Map, Value, json};
use wiremock::{Match, Request, Respond, ResponseTemplate};

use super::endpoint::{Route, classify};
use super::model::{SentEmail, TimelineEvent};
use super::state::{Reply, ReplyBody, SendStatus, Shared, State};
use super::util::{
    from_epoch_millis, iso8601, normalize_email, plausible_email, property_string, string_map,
    string_map_at,
};
use super::{Endpoint, FaultKind};

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

/// What a handler needs from the request.
pub(crate) struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: &'a wiremock::http::HeaderMap,
    pub body: &'a [u8],
}

impl<'a> Incoming<'a> {
    pub(crate) fn new(req: &'a Request) -> Self {
        Self {
            method: req.method.as_str(),
            path: req.url.path(),
            query: req.url.query_pairs().into_owned().collect(),
            headers: &req.headers,
            body: &req.body,
        }
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The low-priority mock that serves everything no armed fault takes.
pub(crate) struct Router(pub Arc<Shared>);

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        serve(&self.0, &Incoming::new(request), false).into_template()
    }
}

/// Handles one request statefully and journals it (admin requests are not journaled).
pub(crate) fn serve(shared: &Shared, req: &Incoming<'_>, faulted: bool) -> Reply {
    let mut st = shared.lock();
    match classify(req.method, req.path) {
        Route::Admin(rest) if st.config.admin_api => {
            drop(st);
            super::admin::handle(shared, req, &rest)
        }
        Route::Admin(_) => {
            let reply = unmatched(&mut st, req);
            st.record(
                Endpoint::Unmatched,
                req.method,
                req.path,
                Some(reply.status),
                faulted,
            );
            reply
        }
        Route::Api(endpoint, params) => {
            let reply = dispatch(&mut st, endpoint, &params, req);
            st.record(endpoint, req.method, req.path, Some(reply.status), faulted);
            reply
        }
    }
}

fn unmatched(st: &mut State, req: &Incoming<'_>) -> Reply {
    st.error(
        501,
        "NOT_IMPLEMENTED",
        format!("fake-hubspot: no route for {} {}", req.method, req.path),
    )
}

fn dispatch(st: &mut State, endpoint: Endpoint, params: &[String], req: &Incoming<'_>) -> Reply {
    match endpoint {
        Endpoint::Unmatched | Endpoint::Any => return unmatched(st, req),
        Endpoint::OAuthToken => return oauth_token(st, req),
        _ => {}
    }
    let now = Instant::now();
    let app = match authenticate(st, req, now) {
        Ok(app) => app,
        Err(reply) => return reply,
    };
    let headers = match st.admit(&app, now) {
        Ok(h) => h,
        Err((policy, headers)) => return st.rate_limit_error(policy, &app).with_headers(headers),
    };
    let param = |i: usize| params.get(i).map_or("", String::as_str);
    let reply = match endpoint {
        Endpoint::ContactsCreate => contacts_create(st, req),
        Endpoint::ContactsGet => contacts_get(st, req, param(0)),
        Endpoint::ContactsUpdate => contacts_update(st, req, param(0)),
        Endpoint::ContactsArchive => contacts_archive(st, req, param(0)),
        Endpoint::ContactsBatchUpsert => contacts_batch_upsert(st, req),
        Endpoint::TimelineEvent => timeline_event(st, req),
        Endpoint::TimelineBatch => timeline_batch(st, req),
        Endpoint::TimelineGet => timeline_get(st, param(0), param(1)),
        Endpoint::SingleSend => single_send(st, req),
        Endpoint::SendStatus => send_status(st, param(0)),
        Endpoint::OAuthToken | Endpoint::Unmatched | Endpoint::Any => unmatched(st, req),
    };
    reply.with_headers(headers)
}

// ----- auth ---------------------------------------------------------------------------------

/// The app a request counts against, or the 401 to answer.
pub(crate) fn authenticate(
    st: &mut State,
    req: &Incoming<'_>,
    now: Instant,
) -> Result<String, Reply> {
    let token = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    if !st.config.require_auth {
        return Ok("anonymous".into());
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(st.error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication \
             and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ));
    };
    if st.static_tokens.contains(&token) {
        return Ok(format!("private-app:{token}"));
    }
    match st.access.get(&token).cloned() {
        Some(t) if now < t.expires_at => Ok(t.app),
        Some(t) => {
            let ago = now.saturating_duration_since(t.expires_at).as_secs();
            Err(st.error(
                401,
                "EXPIRED_AUTHENTICATION",
                format!("The OAuth token used to make this call expired {ago} second(s) ago."),
            ))
        }
        None => Err(st.error(
            401,
            "INVALID_AUTHENTICATION",
            "The access token provided is not valid: unknown token.",
        )),
    }
}

// ----- oauth --------------------------------------------------------------------------------

fn oauth_token(st: &mut State, req: &Incoming<'_>) -> Reply {
    // v3 takes form fields in the body; v1 also accepted them as query parameters.
    let mut form: BTreeMap<String, String> = req.query.iter().cloned().collect();
    form.extend(url::form_urlencoded::parse(req.body).into_owned());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let oauth_error = |st: &mut State, status: &str, error: &str, message: &str| {
        let mut extra = Map::new();
        extra.insert("status".into(), json!(status));
        extra.insert("error".into(), json!(error));
        extra.insert("error_description".into(), json!(message));
        st.error_with(400, "VALIDATION_ERROR", message, extra)
    };
    if field("grant_type") != "refresh_token" {
        return oauth_error(
            st,
            "BAD_GRANT_TYPE",
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    let client_id = field("client_id").to_owned();
    match st.clients.get(&client_id) {
        Some(secret) if secret == field("client_secret") => {}
        _ => {
            return oauth_error(
                st,
                "BAD_CLIENT_ID",
                "invalid_client",
                "missing or unknown client id, or wrong client secret",
            );
        }
    }
    let refresh_token = field("refresh_token").to_owned();
    let valid = st
        .refresh
        .get(&refresh_token)
        .is_some_and(|r| !r.revoked && r.client_id == client_id);
    if !valid {
        return oauth_error(
            st,
            "BAD_REFRESH_TOKEN",
            "invalid_grant",
            "missing or unknown refresh token",
        );
    }
    let refresh_token = if st.config.rotate_refresh_tokens {
        if let Some(old) = st.refresh.get_mut(&refresh_token) {
            old.revoked = true;
        }
        st.mint_refresh_token(&client_id)
    } else {
        refresh_token
    };
    let access_token = st.mint_access_token(&client_id);
    st.tokens_issued += 1;
    Reply::json(
        200,
        json!({
            "token_type": "bearer",
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": st.config.token_ttl.as_secs(),
        }),
    )
}

// ----- contacts -----------------------------------------------------------------------------

fn parse_json(st: &mut State, body: &[u8]) -> Result<Value, Reply> {
    serde_json::from_slice(body)
        .map_err(|e| st.error(400, "VALIDATION_ERROR", format!("Invalid input JSON: {e}")))
}

/// `{"properties": {...}}` as strings; the email, if present, validated and normalized.
fn parse_properties(st: &mut State, v: &Value) -> Result<BTreeMap<String, String>, Reply> {
    let Some(props) = v.get("properties").and_then(Value::as_object) else {
        return Err(st.error(
            400,
            "VALIDATION_ERROR",
            "Invalid input JSON: `properties` must be an object",
        ));
    };
    let mut out: BTreeMap<String, String> = string_map(props);
    if let Some(email) = out.get_mut("email") {
        if !plausible_email(email) {
            let message = invalid_email_message(email);
            return Err(st.error(400, "VALIDATION_ERROR", message));
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

fn contact_json(st: &State, id: u64, only: Option<&[String]>) -> Value {
    let Some(c) = st.contacts.get(&id) else {
        return Value::Null;
    };
    let properties: Map<String, Value> = c
        .properties
        .iter()
        .filter(|(k, _)| only.is_none_or(|only| only.iter().any(|o| o == *k)))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "id": c.id,
        "properties": properties,
        "createdAt": iso8601(c.created_at),
        "updatedAt": iso8601(c.updated_at),
        "archived": c.archived,
    })
}

/// Resolves `{id}` (or the email with `?idProperty=email`) to an active contact.
fn resolve_contact(st: &mut State, req: &Incoming<'_>, id: &str) -> Result<u64, Reply> {
    let found = match req.query("idProperty") {
        Some("email") => st.contact_id_by_email(id),
        Some("hs_object_id") | None => id.parse().ok().filter(|n| st.active_contact(*n).is_some()),
        Some(other) => {
            let other = other.to_owned();
            return Err(st.error(
                400,
                "VALIDATION_ERROR",
                format!("fake-hubspot supports idProperty=email only, not {other}"),
            ));
        }
    };
    found.ok_or_else(|| st.error(404, "OBJECT_NOT_FOUND", "resource not found"))
}

fn contacts_create(st: &mut State, req: &Incoming<'_>) -> Reply {
    let result = (|| {
        let body = parse_json(st, req.body)?;
        let props = parse_properties(st, &body)?;
        if let Some(existing) = props.get("email").and_then(|e| st.contact_id_by_email(e)) {
            return Err(st.error(
                409,
                "CONFLICT",
                format!("Contact already exists. Existing ID: {existing}"),
            ));
        }
        let id = st.create_contact(props);
        Ok(Reply::json(201, contact_json(st, id, None)))
    })();
    result.unwrap_or_else(|e| e)
}

fn contacts_get(st: &mut State, req: &Incoming<'_>, id: &str) -> Reply {
    match resolve_contact(st, req, id) {
        Ok(id) => {
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
            Reply::json(200, contact_json(st, id, Some(&only)))
        }
        Err(e) => e,
    }
}

fn contacts_update(st: &mut State, req: &Incoming<'_>, id: &str) -> Reply {
    let result = (|| {
        let id = resolve_contact(st, req, id)?;
        let body = parse_json(st, req.body)?;
        let props = parse_properties(st, &body)?;
        if let Some(other) = props
            .get("email")
            .and_then(|e| st.contact_id_by_email(e))
            .filter(|other| *other != id)
        {
            return Err(st.error(
                409,
                "CONFLICT",
                format!("Contact already exists. Existing ID: {other}"),
            ));
        }
        st.update_contact(id, props);
        Ok(Reply::json(200, contact_json(st, id, None)))
    })();
    result.unwrap_or_else(|e| e)
}

fn contacts_archive(st: &mut State, req: &Incoming<'_>, id: &str) -> Reply {
    // HubSpot answers 204 whether or not the object existed.
    if let Ok(id) = resolve_contact(st, req, id)
        && let Some(c) = st.contacts.get_mut(&id)
    {
        c.archived = true;
        c.updated_at = SystemTime::now();
        if let Some(email) = c.properties.get("email") {
            st.email_index.remove(email);
        }
    }
    Reply::empty(204)
}

fn batch_inputs(
    st: &mut State,
    req: &Incoming<'_>,
    limit: Option<usize>,
) -> Result<Vec<Value>, Reply> {
    let body = parse_json(st, req.body)?;
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        return Err(st.error(
            400,
            "VALIDATION_ERROR",
            "Invalid input JSON: `inputs` must be an array",
        ));
    };
    if let Some(limit) = limit
        && inputs.len() > limit
    {
        let n = inputs.len();
        return Err(st.error(
            400,
            "VALIDATION_ERROR",
            format!("Too many inputs in batch: {n}; the limit is {limit}"),
        ));
    }
    Ok(inputs.clone())
}

fn batch_reply(
    st: &mut State,
    started: SystemTime,
    results: Vec<Value>,
    errors: Vec<Value>,
) -> Reply {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso8601(started),
        "completedAt": iso8601(SystemTime::now()),
    });
    if errors.is_empty() {
        return Reply::json(200, body);
    }
    if let Value::Object(map) = &mut body {
        map.insert("numErrors".into(), json!(errors.len()));
        map.insert("errors".into(), Value::Array(errors));
    }
    let _ = st;
    Reply::json(207, body)
}

fn item_error(st: &mut State, category: &str, message: String, context: Value) -> Value {
    json!({
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "correlationId": st.ids.uuid(),
    })
}

fn contacts_batch_upsert(st: &mut State, req: &Incoming<'_>) -> Reply {
    let started = SystemTime::now();
    let inputs = match batch_inputs(st, req, Some(BATCH_LIMIT)) {
        Ok(i) => i,
        Err(e) => return e,
    };
    // Validate the whole batch before writing anything, as HubSpot does for its shape.
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = Vec::new();
    for input in &inputs {
        let id_property = input.get("idProperty").and_then(Value::as_str);
        if id_property != Some("email") {
            return st.error(
                400,
                "VALIDATION_ERROR",
                "fake-hubspot: batch upsert needs \"idProperty\": \"email\" on every input",
            );
        }
        let id = input.get("id").map(property_string).unwrap_or_default();
        if !seen.insert(normalize_email(&id)) {
            duplicates.push(id);
        }
    }
    if !duplicates.is_empty() {
        return st.error(
            400,
            "VALIDATION_ERROR",
            format!("Duplicate IDs found in batch input: {duplicates:?}"),
        );
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &inputs {
        let id = input.get("id").map(property_string).unwrap_or_default();
        if !plausible_email(&id) {
            let e = item_error(
                st,
                "VALIDATION_ERROR",
                invalid_email_message(&id),
                json!({ "ids": [id] }),
            );
            errors.push(e);
            continue;
        }
        let props: BTreeMap<String, String> = string_map_at(input, "properties");
        let (cid, created) = st.upsert_contact_by_email(&id, props);
        let mut result = contact_json(st, cid, None);
        if let Value::Object(map) = &mut result {
            map.insert("new".into(), json!(created));
        }
        results.push(result);
    }
    batch_reply(st, started, results, errors)
}

// ----- timeline -----------------------------------------------------------------------------

/// An error for one event input: `(status, category, message)`.
type ItemError = (u16, &'static str, String);

fn create_event(st: &mut State, input: &Value) -> Result<Value, ItemError> {
    let template = input
        .get("eventTemplateId")
        .map(property_string)
        .filter(|s| !s.is_empty())
        .ok_or((
            400,
            "VALIDATION_ERROR",
            "eventTemplateId is required".to_owned(),
        ))?;
    if !st.config.accept_any_template && !st.templates.contains(&template) {
        return Err((
            404,
            "OBJECT_NOT_FOUND",
            format!("Event template {template} not found"),
        ));
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
        return Err((
            400,
            "VALIDATION_ERROR",
            "an event needs one of objectId, email or utk".to_owned(),
        ));
    };
    let Some(contact) = contact else {
        let who = object_id
            .or(email.clone())
            .unwrap_or_else(|| utk.unwrap_or_default().to_owned());
        return Err((
            404,
            "OBJECT_NOT_FOUND",
            format!("No contact found for {who}"),
        ));
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
        return Err((
            409,
            "CONFLICT",
            format!("An event with id {id} already exists for event template {template}"),
        ));
    }
    let timestamp = match input.get("timestamp") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => iso8601(from_epoch_millis(n.as_u64().unwrap_or(0))),
        _ => iso8601(SystemTime::now()),
    };
    let tokens: BTreeMap<String, String> = string_map_at(input, "tokens");
    let event = TimelineEvent {
        id,
        event_template_id: template,
        object_id: contact.to_string(),
        email,
        tokens,
        extra_data: input.get("extraData").cloned().filter(|v| !v.is_null()),
        timestamp,
        created_at: SystemTime::now(),
    };
    let json = event_json(&event);
    st.event_index.insert(key, st.events.len());
    st.events.push(event);
    Ok(json)
}

fn event_json(e: &TimelineEvent) -> Value {
    let mut v = json!({
        "objectType": "contacts",
        "id": e.id,
        "eventTemplateId": e.event_template_id,
        "objectId": e.object_id,
        "timestamp": e.timestamp,
        "tokens": e.tokens,
        "createdAt": iso8601(e.created_at),
    });
    if let Value::Object(map) = &mut v {
        if let Some(email) = &e.email {
            map.insert("email".into(), json!(email));
        }
        if let Some(extra) = &e.extra_data {
            map.insert("extraData".into(), extra.clone());
        }
    }
    v
}

fn timeline_event(st: &mut State, req: &Incoming<'_>) -> Reply {
    let body = match parse_json(st, req.body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    match create_event(st, &body) {
        Ok(v) => Reply::json(200, v),
        Err((status, category, message)) => st.error(status, category, message),
    }
}

fn timeline_batch(st: &mut State, req: &Incoming<'_>) -> Reply {
    let started = SystemTime::now();
    let inputs = match batch_inputs(st, req, None) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &inputs {
        match create_event(st, input) {
            Ok(v) => results.push(v),
            Err((_, category, message)) => {
                let id = input.get("id").map(property_string).unwrap_or_default();
                let e = item_error(st, category, message, json!({ "ids": [id] }));
                errors.push(e);
            }
        }
    }
    batch_reply(st, started, results, errors)
}

fn timeline_get(st: &mut State, template: &str, id: &str) -> Reply {
    match st
        .event_index
        .get(&(template.to_owned(), id.to_owned()))
        .and_then(|i| st.events.get(*i))
    {
        Some(e) => Reply::json(200, event_json(e)),
        None => st.error(404, "OBJECT_NOT_FOUND", "resource not found"),
    }
}

// ----- transactional email ------------------------------------------------------------------

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().map(property_string).collect(),
        _ => Vec::new(),
    }
}

fn single_send(st: &mut State, req: &Incoming<'_>) -> Reply {
    let body = match parse_json(st, req.body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let email_id = match body.get("emailId") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let Some(email_id) = email_id else {
        return st.error(
            400,
            "VALIDATION_ERROR",
            "emailId is required and must be an integer",
        );
    };
    let message = body.get("message").cloned().unwrap_or(Value::Null);
    let to = message.get("to").and_then(Value::as_str).unwrap_or("");
    if !plausible_email(to) {
        return st.error(
            400,
            "VALIDATION_ERROR",
            format!("message.to must be a valid email address, got {to:?}"),
        );
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
        send_result: if duplicate {
            "IDEMPOTENT_IGNORE"
        } else {
            "SENT"
        },
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
    let json = status_json(&status, status.pending_first);
    st.statuses.insert(status_id, status);
    Reply::json(200, json)
}

fn status_json(s: &SendStatus, pending: bool) -> Value {
    let requested = iso8601(s.requested_at);
    if pending {
        return json!({
            "statusId": s.status_id,
            "status": "PENDING",
            "requestedAt": requested,
        });
    }
    json!({
        "statusId": s.status_id,
        "status": "COMPLETE",
        "sendResult": s.send_result,
        "requestedAt": requested,
        "startedAt": requested,
        "completedAt": iso8601(SystemTime::now().max(s.requested_at)),
        "eventId": { "id": s.event_id, "created": requested },
    })
}

fn send_status(st: &mut State, id: &str) -> Reply {
    match st.statuses.get(id) {
        Some(s) => Reply::json(200, status_json(s, false)),
        None => st.error(404, "OBJECT_NOT_FOUND", "resource not found"),
    }
}

// ----- faults -------------------------------------------------------------------------------

/// Which endpoint a request is for, for fault matching (`None` for the admin API).
fn endpoint_of(request: &Request) -> Option<Endpoint> {
    match classify(request.method.as_str(), request.url.path()) {
        Route::Api(e, _) => Some(e),
        Route::Admin(_) => None,
    }
}

/// Index of the first armed fault covering `endpoint`.
fn armed(st: &State, endpoint: Endpoint) -> Option<usize> {
    st.faults
        .iter()
        .position(|(target, f)| f.times > 0 && target.covers(endpoint))
}

/// Matches while the first armed fault for the request's endpoint is (`drops`) or is not a
/// dropped connection. Runs in front of the router at a higher priority.
pub(crate) struct FaultArmed {
    pub shared: Arc<Shared>,
    pub drops: bool,
}

impl Match for FaultArmed {
    fn matches(&self, request: &Request) -> bool {
        let Some(endpoint) = endpoint_of(request) else {
            return false;
        };
        let st = self.shared.lock();
        armed(&st, endpoint)
            .is_some_and(|i| (st.faults[i].1.kind == FaultKind::DropConnection) == self.drops)
    }
}

/// Takes one hit from the first armed fault for the endpoint.
fn take_fault(st: &mut State, endpoint: Endpoint) -> Option<super::Fault> {
    let i = armed(st, endpoint)?;
    let fault = st.faults[i].1.clone();
    st.faults[i].1.times -= 1;
    if st.faults[i].1.times == 0 {
        st.faults.remove(i);
    }
    Some(fault)
}

/// Answers a request an armed (non-drop) fault took.
pub(crate) struct FaultResponder(pub Arc<Shared>);

impl Respond for FaultResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let req = Incoming::new(request);
        let endpoint = endpoint_of(request).unwrap_or(Endpoint::Unmatched);
        let mut st = self.0.lock();
        let Some(fault) = take_fault(&mut st, endpoint) else {
            // Disarmed between match and respond: behave normally.
            drop(st);
            return serve(&self.0, &req, false).into_template();
        };
        if let FaultKind::Latency(delay) = fault.kind {
            drop(st);
            let mut reply = serve(&self.0, &req, true);
            reply.delay = Some(delay);
            return reply.into_template();
        }
        let mut reply = canned(&mut st, &fault.kind, endpoint, &req);
        reply.delay = fault.delay;
        st.record(endpoint, req.method, req.path, Some(reply.status), true);
        reply.into_template()
    }
}

/// The canned response of a fault (never touches contacts, events or emails).
fn canned(st: &mut State, kind: &FaultKind, endpoint: Endpoint, req: &Incoming<'_>) -> Reply {
    let now = Instant::now();
    // Rate-limit headers describe the caller's app, without counting this request.
    let app = if endpoint.is_api() {
        authenticate(st, req, now).ok()
    } else {
        None
    };
    let headers = app
        .as_deref()
        .map(|a| st.rate_headers(a, now))
        .unwrap_or_default();
    match kind {
        FaultKind::Status(status) => {
            let category = match status {
                400 => "VALIDATION_ERROR",
                401 => "INVALID_AUTHENTICATION",
                403 => "MISSING_SCOPES",
                404 => "OBJECT_NOT_FOUND",
                409 => "CONFLICT",
                429 => "RATE_LIMITS",
                500..=599 => "INTERNAL_ERROR",
                _ => "ERROR",
            };
            st.error(
                *status,
                category,
                format!("fake-hubspot: injected fault {status}"),
            )
            .with_headers(headers)
        }
        FaultKind::RateLimited {
            policy,
            retry_after,
        } => {
            let app = app.unwrap_or_else(|| "anonymous".into());
            let zeroed = match policy {
                super::RateLimitPolicy::Daily => "X-HubSpot-RateLimit-Daily-Remaining",
                _ => "X-HubSpot-RateLimit-Remaining",
            };
            let mut headers: Vec<(String, String)> = headers
                .into_iter()
                .map(|(k, v)| {
                    if k == zeroed {
                        (k, "0".to_owned())
                    } else {
                        (k, v)
                    }
                })
                .collect();
            if headers.is_empty() {
                // No limit configured: describe HubSpot's usual burst policy.
                headers.push(("X-HubSpot-RateLimit-Max".into(), "100".into()));
                headers.push(("X-HubSpot-RateLimit-Remaining".into(), "0".into()));
                headers.push((
                    "X-HubSpot-RateLimit-Interval-Milliseconds".into(),
                    "10000".into(),
                ));
            }
            if let Some(secs) = retry_after {
                headers.push(("Retry-After".into(), secs.to_string()));
            }
            st.rate_limit_error(*policy, &app).with_headers(headers)
        }
        FaultKind::Body {
            status,
            content_type,
            body,
        } => Reply {
            status: *status,
            body: ReplyBody::Raw {
                content_type: content_type.clone(),
                body: body.clone(),
            },
            headers: Vec::new(),
            delay: None,
        },
        // Handled by the caller / the drop mock; answer as a 500 if ever reached.
        FaultKind::Latency(_) | FaultKind::DropConnection => st.error(
            500,
            "INTERNAL_ERROR",
            "fake-hubspot: unexpected fault state",
        ),
    }
}

/// The error a dropping fault hands to hyper, which then closes the connection unanswered.
pub(crate) fn drop_connection(shared: &Shared, request: &Request) -> std::io::Error {
    let endpoint = endpoint_of(request).unwrap_or(Endpoint::Unmatched);
    let mut st = shared.lock();
    let _ = take_fault(&mut st, endpoint);
    st.record(
        endpoint,
        request.method.as_str(),
        request.url.path(),
        None,
        true,
    );
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "fake-hubspot: injected dropped connection",
    )
}

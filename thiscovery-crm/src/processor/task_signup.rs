//! `task-signup`: a thiscovery task signup becomes a timeline event on the contact (batch
//! create; the event id is the user-task id, so a resend is a conflict, not a second event).
//! The timeline template id comes from the lookups table (`/{env}/task-signup`).
//!
//! The event goes on the contact whose id is the signup's `crm_id`; without one, the user's
//! `crm_id` is read from thiscovery-core (`GET v1/user/{user_id}`), and while core has none
//! (the registration has not reached HubSpot yet) the item is retried, then dead-lettered
//! with the reason, as the Python stack does. The event is never addressed by email, which
//! would let HubSpot create a contact.

use std::collections::HashMap;

use async_trait::async_trait;
use hubspot_client::ItemFailure;
use hubspot_client::timeline::TimelineEventRequest;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::decision::Failure;
use super::{Draft, Kind, Results, parse_each};
use crate::crm::Crm;
use crate::events::{Envelope, EventError, TASK_SIGNUP, TaskSignup};
use crate::notification::{Notification, NotificationType};
use crate::store::task_signup_lookup_key;

/// Task signups.
pub(crate) struct TaskSignups;

#[async_trait]
impl Kind for TaskSignups {
    fn kind(&self) -> NotificationType {
        NotificationType::TaskSignup
    }

    async fn draft(
        &self,
        _crm: &Crm,
        envelope: &Envelope,
        _now: OffsetDateTime,
    ) -> Result<Option<Draft>, EventError> {
        let detail = &envelope.detail;
        if envelope.detail_type != TASK_SIGNUP {
            return Ok(None);
        }
        Ok(Some(Draft {
            id: TaskSignup::id_from_detail(detail)?,
            id_field: "detail.id",
            label: detail
                .get("user_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            details: detail.clone(),
            validation: TaskSignup::from_detail(detail).map(|_| ()),
        }))
    }

    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results {
        let template = match template(crm).await {
            Ok(t) => t,
            Err(f) => {
                return items
                    .iter()
                    .map(|n| (n.id.clone(), Err(f.clone())))
                    .collect();
            }
        };
        let mut results = Results::new();
        let mut requests = Vec::new();
        // Event id -> its request, to send again after a 409 that names another event.
        let mut sent: HashMap<String, TimelineEventRequest> = HashMap::new();
        // Event id (the user-task id) -> the notifications it answers for.
        let mut items_of: HashMap<String, Vec<String>> = HashMap::new();
        for (id, signup) in parse_each(items, TaskSignup::from_detail, &mut results) {
            match request(crm, &template, &signup).await {
                Ok(request) => {
                    sent.insert(signup.user_task_id.clone(), request.clone());
                    items_of.entry(signup.user_task_id).or_default().push(id);
                    requests.push(request);
                }
                Err(f) => {
                    results.insert(id, Err(f));
                }
            }
        }
        // A whole-request 409 names the event that exists; the others of the request were
        // not created and are sent once more without it.
        let mut round = 0;
        while !requests.is_empty() {
            round += 1;
            let outcome = crm.hubspot.timeline().create_batch(requests).await;
            let mut resend = Vec::new();
            let mut answer = |event_id: &str, result: super::ItemResult| {
                for id in items_of.get(event_id).into_iter().flatten() {
                    results.insert(id.clone(), result.clone());
                }
            };
            for event in &outcome.created {
                answer(&event.id, Ok(Some(event.id.clone())));
            }
            for failure in outcome.failures {
                let result = match conflict(&failure.reason, &failure.id) {
                    // The event id is the user-task id: a conflict naming it means it is
                    // recorded.
                    Conflict::ThisEvent => Ok(Some(failure.id.clone())),
                    Conflict::AnotherEvent if round == 1 => {
                        if let Some(request) = sent.get(&failure.id) {
                            resend.push(request.clone());
                        }
                        continue;
                    }
                    Conflict::AnotherEvent => Err(Failure::retry(
                        "HubSpot answered 409 for the timeline batch without naming this event",
                    )),
                    Conflict::No => Err(Failure::item(
                        "HubSpot timeline event failed",
                        &failure.reason,
                    )),
                };
                answer(&failure.id, result);
            }
            requests = resend;
        }
        for ids in items_of.values() {
            for id in ids {
                results.entry(id.clone()).or_insert_with(|| {
                    Err(Failure::retry("HubSpot returned no result for the event"))
                });
            }
        }
        results
    }
}

/// The task-signup timeline template id (lookup `/{env}/task-signup`, `details.hubspot_id`).
async fn template(crm: &Crm) -> Result<String, Failure> {
    let key = task_signup_lookup_key(&crm.config.env);
    let details = crm
        .lookups
        .get_lookup(&key)
        .await
        .map_err(|e| Failure::store("could not read the task-signup timeline template", &e))?
        .ok_or_else(|| {
            Failure::retry(format!(
                "lookup {key} is missing (the task-signup timeline template id)"
            ))
        })?;
    match details.get("hubspot_id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(Failure::retry(format!(
            "lookup {key} has no details.hubspot_id"
        ))),
    }
}

/// The timeline event of a signup, on the contact whose id is the signup's `crm_id`, or the
/// user's as thiscovery-core knows it.
async fn request(
    crm: &Crm,
    template: &str,
    signup: &TaskSignup,
) -> Result<TimelineEventRequest, Failure> {
    let crm_id = match &signup.crm_id {
        Some(crm_id) => crm_id.clone(),
        None => {
            let user_id = signup.user_id.as_deref().ok_or_else(|| {
                Failure::invalid("the signup has neither `extra_data.crm_id` nor `user_id`")
            })?;
            let user = crm.directory.user_by_id(user_id).await.map_err(|e| {
                let what = format!("could not read the crm_id of user {user_id}");
                Failure::directory_pending(&what, &e)
            })?;
            user.crm_id.ok_or_else(|| {
                Failure::retry(format!(
                    "user {user_id} does not have a crm_id yet (their registration has not reached HubSpot)"
                ))
            })?
        }
    };
    let request = TimelineEventRequest::for_object(template, &signup.user_task_id, crm_id);
    let timestamp = signup.created.format(&Rfc3339).unwrap_or_default();
    Ok(request
        .token("project_id", signup.project_id.as_str())
        .token("project_name", signup.project_name.as_str())
        .token("task_id", signup.task_id.as_str())
        .token("task_name", signup.task_name.as_str())
        .token("task_type_id", signup.task_type_id.as_str())
        .token("task_type_name", signup.task_type_name.as_str())
        .token("signup_event_type", "Sign-up")
        .timestamp(timestamp))
}

/// What a failed event's 409, if it is one, says of it.
#[derive(Debug, PartialEq, Eq)]
enum Conflict {
    /// Not a conflict.
    No,
    /// This event exists already (an item error for it, or a request error naming it).
    ThisEvent,
    /// The whole request was refused with a 409 naming another of its events.
    AnotherEvent,
}

fn conflict(reason: &ItemFailure, event_id: &str) -> Conflict {
    match reason {
        ItemFailure::Rejected(detail)
            if detail.category.as_deref() == Some("CONFLICT")
                || detail.status.as_deref() == Some("409") =>
        {
            Conflict::ThisEvent
        }
        ItemFailure::RequestFailed(e) if e.is_conflict() => {
            let names_it = e.api_error().is_some_and(|api| {
                api.message
                    .as_deref()
                    .is_some_and(|m| names_id(m, event_id))
                    || api
                        .context
                        .as_ref()
                        .is_some_and(|c| names_id(&c.to_string(), event_id))
            });
            if names_it {
                Conflict::ThisEvent
            } else {
                Conflict::AnotherEvent
            }
        }
        _ => Conflict::No,
    }
}

/// Whether `text` names `id` as a whole word (not inside a longer id).
fn names_id(text: &str, id: &str) -> bool {
    let is_id_char = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(is_id_char) && !after.is_some_and(is_id_char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_whole_ids_only() {
        let m = "An event with id 9620089b-e9a4 already exists for event template 1234567";
        assert!(names_id(m, "9620089b-e9a4"));
        assert!(!names_id(m, "9620089b"));
        assert!(!names_id(m, "620089b-e9a4"));
        assert!(names_id(r#"{"id":["abc"]}"#, "abc"));
    }
}

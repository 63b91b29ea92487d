//! Timeline events v3 (`/integrators/timeline/v3/events`).
//!
//! An event is identified by its template and its `id`. The id is the idempotency key: give
//! every event an id that is stable for the fact it records (the thiscovery stack uses the
//! user-task id), so a retried create cannot record the fact twice. HubSpot refuses a second
//! event with the same template and id with a 409 (see [`Error::is_conflict`]): a caller that
//! retries its own work can treat that as "already recorded".
//!
//! ```no_run
//! # async fn run(client: hubspot_client::Client) -> hubspot_client::Result<()> {
//! use hubspot_client::timeline::TimelineEventRequest;
//!
//! let event = TimelineEventRequest::for_email("1234567", "user-task-42", "ada@example.org")
//!     .token("project_name", "PSFU-05")
//!     .token("task_name", "Photo upload")
//!     .timestamp("2021-07-08T21:20:43Z");
//! match client.timeline().create(&event).await {
//!     Ok(created) => println!("recorded {}", created.id),
//!     Err(e) if e.is_conflict() => println!("already recorded"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::batch::{BatchBody, ItemFailure, failure_for, run_chunks};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::ids::{EventTemplateId, ObjectId};
use crate::send::Request;

/// A timeline event to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TimelineEventRequest {
    /// The event template this event is an instance of.
    pub event_template_id: EventTemplateId,
    /// The event's id: its idempotency key (unique per template).
    pub id: String,
    /// The contact's email (one of `email`, `object_id`, `utk` addresses the contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The CRM object's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<ObjectId>,
    /// A HubSpot usertoken (`hubspotutk` cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utk: Option<String>,
    /// Values of the template's tokens.
    pub tokens: BTreeMap<String, serde_json::Value>,
    /// Free-form data available to the template's detail view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_data: Option<serde_json::Value>,
    /// When the event happened (ISO 8601); HubSpot uses the time of the request if absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

impl TimelineEventRequest {
    fn new(template: impl Into<EventTemplateId>, id: impl Into<String>) -> Self {
        TimelineEventRequest {
            event_template_id: template.into(),
            id: id.into(),
            email: None,
            object_id: None,
            utk: None,
            tokens: BTreeMap::new(),
            extra_data: None,
            timestamp: None,
        }
    }

    /// An event on the contact with this email.
    pub fn for_email(
        template: impl Into<EventTemplateId>,
        id: impl Into<String>,
        email: impl Into<String>,
    ) -> Self {
        TimelineEventRequest {
            email: Some(email.into()),
            ..TimelineEventRequest::new(template, id)
        }
    }

    /// An event on the CRM object with this id.
    pub fn for_object(
        template: impl Into<EventTemplateId>,
        id: impl Into<String>,
        object_id: impl Into<ObjectId>,
    ) -> Self {
        TimelineEventRequest {
            object_id: Some(object_id.into()),
            ..TimelineEventRequest::new(template, id)
        }
    }

    /// Sets a token value.
    pub fn token(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.tokens.insert(name.into(), value.into());
        self
    }

    /// Sets the event's time (ISO 8601).
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.timestamp = Some(timestamp.into());
        self
    }

    /// Sets the extra data.
    pub fn extra_data(mut self, data: serde_json::Value) -> Self {
        self.extra_data = Some(data);
        self
    }
}

/// A timeline event as HubSpot returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TimelineEvent {
    /// The event's id.
    #[serde(deserialize_with = "crate::ids::deserialize_string_or_number")]
    pub id: String,
    /// Its template.
    pub event_template_id: EventTemplateId,
    /// The object it is on.
    #[serde(default)]
    pub object_id: Option<ObjectId>,
    /// The object's type (`contacts`).
    #[serde(default)]
    pub object_type: Option<String>,
    /// Token values.
    #[serde(default)]
    pub tokens: BTreeMap<String, serde_json::Value>,
    /// Extra data.
    #[serde(default)]
    pub extra_data: Option<serde_json::Value>,
    /// When the event happened.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// An input of a batch create that failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventFailure {
    /// The event's id.
    pub id: String,
    /// Why it failed.
    pub reason: ItemFailure,
}

/// The per-input outcome of [`TimelineApi::create_batch`]: every input id is in exactly one
/// of the two lists.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchEventOutcome {
    /// Events created.
    pub created: Vec<TimelineEvent>,
    /// Events that failed.
    pub failures: Vec<EventFailure>,
    /// How many batch requests were sent.
    pub requests: usize,
}

#[derive(Serialize)]
struct BatchCreateRequest<'a> {
    inputs: &'a [TimelineEventRequest],
}

/// The timeline events API. Get it with [`Client::timeline`].
#[derive(Debug, Clone, Copy)]
pub struct TimelineApi<'a> {
    pub(crate) client: &'a Client,
}

impl TimelineApi<'_> {
    /// Creates one event. Idempotent by (template, id): retried on every retryable failure; a
    /// repeat of an event HubSpot already has answers 409.
    pub async fn create(&self, event: &TimelineEventRequest) -> Result<TimelineEvent> {
        validate(event)?;
        let request = Request::new(
            "timeline.create",
            Method::POST,
            self.client.inner.api_version.timeline_events(),
        )
        .json(event)?;
        self.client.inner.call(request).await
    }

    /// Reads an event by template and id.
    pub async fn get(&self, template: &EventTemplateId, id: &str) -> Result<TimelineEvent> {
        let request = Request::new(
            "timeline.get",
            Method::GET,
            self.client.inner.api_version.timeline_events(),
        )
        .segment(template.as_str())
        .segment(id);
        self.client.inner.call(request).await
    }

    /// Creates events in chunks of 100 (`POST .../events/batch/create`), concurrently under
    /// the rate limiter, accepting 200 and 207. Inputs failing local validation (no id, no
    /// contact address) fail without being sent.
    pub async fn create_batch(&self, events: Vec<TimelineEventRequest>) -> BatchEventOutcome {
        let mut outcome = BatchEventOutcome::default();
        let mut valid = Vec::with_capacity(events.len());
        for event in events {
            match validate(&event) {
                Ok(()) => valid.push(event),
                Err(e) => outcome.failures.push(EventFailure {
                    id: event.id,
                    reason: ItemFailure::RequestFailed(std::sync::Arc::new(e)),
                }),
            }
        }
        let inner = &self.client.inner;
        let chunks = run_chunks(
            valid,
            inner.batch_size,
            inner.batch_concurrency,
            |chunk| async move {
                let request = Request::new(
                    "timeline.batch_create",
                    Method::POST,
                    &format!(
                        "{}/batch/create",
                        self.client.inner.api_version.timeline_events()
                    ),
                )
                .json(&BatchCreateRequest { inputs: &chunk })?;
                inner.call::<BatchBody<TimelineEvent>>(request).await
            },
        )
        .await;
        outcome.requests = chunks.len();
        for (chunk, result) in chunks {
            match result {
                Ok(body) => {
                    let mut by_id: HashMap<String, TimelineEvent> = body
                        .results
                        .into_iter()
                        .map(|e| (e.id.clone(), e))
                        .collect();
                    for event in chunk {
                        match by_id.remove(&event.id) {
                            Some(created) => outcome.created.push(created),
                            None => outcome.failures.push(EventFailure {
                                reason: failure_for(&event.id, &body.errors),
                                id: event.id,
                            }),
                        }
                    }
                }
                Err(error) => {
                    let shared = std::sync::Arc::new(error);
                    outcome
                        .failures
                        .extend(chunk.into_iter().map(|event| EventFailure {
                            id: event.id,
                            reason: ItemFailure::RequestFailed(shared.clone()),
                        }));
                }
            }
        }
        outcome
    }
}

fn validate(event: &TimelineEventRequest) -> Result<()> {
    if event.id.trim().is_empty() {
        return Err(Error::InvalidRequest(
            "a timeline event needs an id (its idempotency key)".into(),
        ));
    }
    if event.event_template_id.as_str().is_empty() {
        return Err(Error::InvalidRequest(
            "a timeline event needs an eventTemplateId".into(),
        ));
    }
    if event.email.is_none() && event.object_id.is_none() && event.utk.is_none() {
        return Err(Error::InvalidRequest(format!(
            "timeline event {}: one of email, objectId or utk is required",
            event.id
        )));
    }
    Ok(())
}

//! Contacts, CRM v3 (`/crm/v3/objects/contacts`).
//!
//! ```no_run
//! # async fn run(client: hubspot_client::Client) -> hubspot_client::Result<()> {
//! use hubspot_client::contacts::{ContactUpsert, Properties};
//!
//! // One contact, created or updated by email:
//! let props = Properties::from([("firstname".to_owned(), "Ada".to_owned())]);
//! let contact = client.contacts().upsert_by_email("ada@example.org", &props).await?;
//! println!("{} (created: {})", contact.id, contact.created);
//!
//! // Many contacts: deduplicated by email, sent in chunks of 100, per-input results.
//! let outcome = client
//!     .contacts()
//!     .batch_upsert_by_email(vec![
//!         ContactUpsert::new("ada@example.org").property("lastname", "Lovelace"),
//!         ContactUpsert::new("not-an-email"),
//!     ])
//!     .await;
//! for failure in &outcome.failures {
//!     eprintln!("{}: {}", failure.email, failure.reason);
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::batch::{BatchBody, ItemFailure, failure_for, run_chunks};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::ids::ObjectId;
use crate::send::Request;

/// Property values to write (HubSpot takes every value as a string: dates as epoch
/// milliseconds, booleans as `"true"`).
pub type Properties = BTreeMap<String, String>;

/// A contact as HubSpot returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Contact {
    /// The contact's id (`hs_object_id`).
    pub id: ObjectId,
    /// Property values; HubSpot sends `null` for properties that have no value.
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    /// When the contact was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the contact was last updated (ISO 8601).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Whether the contact is archived.
    #[serde(default)]
    pub archived: bool,
}

impl Contact {
    /// A property's value, if set.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(|v| v.as_deref())
    }
}

#[derive(Serialize)]
struct PropertiesRequest<'a> {
    properties: &'a Properties,
}

/// A create's body: HubSpot's `SimplePublicObjectInputForCreate` requires `associations`
/// (none here) as well as `properties`.
#[derive(Serialize)]
struct CreateRequest<'a> {
    properties: &'a Properties,
    associations: [(); 0],
}

/// One input of [`ContactsApi::batch_upsert_by_email`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpsert {
    /// The contact's email: the key it is created or updated by.
    pub email: String,
    /// Properties to set.
    pub properties: Properties,
}

impl ContactUpsert {
    /// An upsert of `email` with no other properties yet.
    pub fn new(email: impl Into<String>) -> Self {
        ContactUpsert {
            email: email.into(),
            properties: Properties::new(),
        }
    }

    /// Adds a property.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UpsertInput<'a> {
    id: &'a str,
    id_property: &'static str,
    properties: &'a Properties,
}

/// The body of one batch upsert by email, exactly as [`ContactsApi::upsert_by_email`] and
/// each chunk of [`ContactsApi::batch_upsert_by_email`] send it:
/// `{"inputs":[{"id":email,"idProperty":"email","properties":{...}}]}`. Public so that a
/// caller (or a benchmark) can see and serialize what is sent; the calls build it themselves.
///
/// ```
/// use hubspot_client::contacts::{Properties, UpsertBatchRequest};
///
/// let mut properties = Properties::new();
/// properties.insert("email".into(), "ada@example.org".into());
/// let body = UpsertBatchRequest::by_email([("ada@example.org", &properties)]);
/// let json = serde_json::to_string(&body).unwrap();
/// assert!(json.starts_with(r#"{"inputs":[{"id":"ada@example.org","idProperty":"email""#));
/// ```
#[derive(Debug, Serialize)]
pub struct UpsertBatchRequest<'a> {
    inputs: Vec<UpsertInput<'a>>,
}

impl<'a> UpsertBatchRequest<'a> {
    /// A body upserting each `(email, properties)` by email. The email is used as given:
    /// the calls normalize it (and add it to the properties) first.
    pub fn by_email(inputs: impl IntoIterator<Item = (&'a str, &'a Properties)>) -> Self {
        UpsertBatchRequest {
            inputs: inputs
                .into_iter()
                .map(|(id, properties)| UpsertInput {
                    id,
                    id_property: "email",
                    properties,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReadBatchRequest<'a> {
    properties: &'a [&'a str],
    /// Required by HubSpot's `BatchReadInputSimplePublicObjectId`; no history is read.
    properties_with_history: [(); 0],
    id_property: &'static str,
    inputs: Vec<ReadInput<'a>>,
}

#[derive(Serialize)]
struct ReadInput<'a> {
    id: &'a str,
}

/// What [`ContactsApi::batch_read_by_email`] found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchReadOutcome {
    /// Each contact found, by its normalized email.
    pub found: HashMap<String, Contact>,
    /// Emails whose chunk's request failed (not: emails with no contact), with the error.
    pub failures: Vec<(String, ItemFailure)>,
    /// How many requests were sent.
    pub requests: usize,
}

impl BatchReadOutcome {
    /// The contact for `email` (normalized here), if HubSpot has one.
    pub fn contact(&self, email: &str) -> Option<&Contact> {
        self.found.get(&normalize_email(email))
    }

    /// Why `email` could not be read, if its request failed.
    pub fn failure(&self, email: &str) -> Option<&ItemFailure> {
        let key = normalize_email(email);
        self.failures
            .iter()
            .find(|(e, _)| *e == key)
            .map(|(_, f)| f)
    }
}

#[derive(Deserialize)]
struct UpsertResult {
    id: ObjectId,
    #[serde(default)]
    properties: EchoedEmail,
    #[serde(default)]
    new: bool,
}

/// Of the properties an upsert echoes, only the email matches a result to its input; the
/// others are skipped while parsing, not collected.
#[derive(Deserialize, Default)]
struct EchoedEmail {
    #[serde(default)]
    email: Option<String>,
}

/// A contact created or updated by a batch upsert.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UpsertedContact {
    /// The input's email, trimmed and lower-cased (the key inputs were deduplicated by).
    pub email: String,
    /// The contact's id.
    pub id: ObjectId,
    /// `true` if the contact was created, `false` if an existing one was updated.
    pub created: bool,
}

/// An input of a batch upsert that failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpsertFailure {
    /// The input's email, trimmed and lower-cased.
    pub email: String,
    /// Why it failed.
    pub reason: ItemFailure,
}

/// The per-input outcome of [`ContactsApi::batch_upsert_by_email`]: every distinct input
/// email is in exactly one of the two lists.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchUpsertOutcome {
    /// Inputs HubSpot created or updated.
    pub results: Vec<UpsertedContact>,
    /// Inputs that failed.
    pub failures: Vec<UpsertFailure>,
    /// How many batch requests were sent.
    pub requests: usize,
}

impl BatchUpsertOutcome {
    /// The result for an email (compared case-insensitively).
    pub fn result(&self, email: &str) -> Option<&UpsertedContact> {
        let key = normalize_email(email);
        self.results.iter().find(|r| r.email == key)
    }

    /// The failure for an email (compared case-insensitively).
    pub fn failure(&self, email: &str) -> Option<&UpsertFailure> {
        let key = normalize_email(email);
        self.failures.iter().find(|f| f.email == key)
    }
}

/// How emails are compared: trimmed and lower-cased, as HubSpot stores them.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The contacts API. Get it with [`Client::contacts`].
#[derive(Debug, Clone, Copy)]
pub struct ContactsApi<'a> {
    pub(crate) client: &'a Client,
}

impl ContactsApi<'_> {
    /// The contacts API's base path in the client's API version.
    fn path(&self) -> String {
        self.client.inner.api_version.contacts()
    }

    /// Creates a contact. A contact with the same email yields [`Error::Conflict`] carrying the
    /// existing id. Not idempotent: not retried after a timeout or a 5xx.
    pub async fn create(&self, properties: &Properties) -> Result<Contact> {
        let request = Request::new("contacts.create", Method::POST, &self.path())
            .json(&CreateRequest {
                properties,
                associations: [],
            })?
            .not_idempotent();
        self.client.inner.call(request).await
    }

    /// Reads a contact by id, with the named properties.
    pub async fn get(&self, id: &ObjectId, properties: &[&str]) -> Result<Contact> {
        let request = with_properties(
            Request::new("contacts.get", Method::GET, &self.path()).segment(id.as_str()),
            properties,
        );
        self.client.inner.call(request).await
    }

    /// Reads a contact by email (`?idProperty=email`), with the named properties.
    pub async fn get_by_email(&self, email: &str, properties: &[&str]) -> Result<Contact> {
        let request = with_properties(
            Request::new("contacts.get", Method::GET, &self.path())
                .segment(email)
                .query("idProperty", "email"),
            properties,
        );
        self.client.inner.call(request).await
    }

    /// Updates properties of a contact by id.
    pub async fn update(&self, id: &ObjectId, properties: &Properties) -> Result<Contact> {
        let request = Request::new("contacts.update", Method::PATCH, &self.path())
            .segment(id.as_str())
            .json(&PropertiesRequest { properties })?;
        self.client.inner.call(request).await
    }

    /// Updates properties of a contact by email (`?idProperty=email`); 404 if there is no such
    /// contact.
    pub async fn update_by_email(&self, email: &str, properties: &Properties) -> Result<Contact> {
        let request = Request::new("contacts.update", Method::PATCH, &self.path())
            .segment(email)
            .query("idProperty", "email")
            .json(&PropertiesRequest { properties })?;
        self.client.inner.call(request).await
    }

    /// Archives (soft-deletes) a contact.
    pub async fn archive(&self, id: &ObjectId) -> Result<()> {
        let request =
            Request::new("contacts.archive", Method::DELETE, &self.path()).segment(id.as_str());
        self.client.inner.execute(request).await.map(|_| ())
    }

    /// Creates or updates one contact by email; returns it as the batch call does: its
    /// (normalised) email, id and whether it was created.
    pub async fn upsert_by_email(
        &self,
        email: &str,
        properties: &Properties,
    ) -> Result<UpsertedContact> {
        // The batch endpoint with one input, without the batch path's deduplication,
        // chunking and matching: there is nothing to deduplicate or match.
        let mut properties = properties.clone();
        let key = normalize_email(email);
        properties.insert("email".to_owned(), key.clone());
        let body = UpsertBatchRequest::by_email([(key.as_str(), &properties)]);
        let request = Request::new(
            "contacts.batch_upsert",
            Method::POST,
            &format!("{}/batch/upsert", self.path()),
        )
        .json(&body)?;
        let body = self
            .client
            .inner
            .call::<BatchBody<UpsertResult>>(request)
            .await?;
        match body.results.into_iter().next() {
            Some(result) => Ok(UpsertedContact {
                email: key,
                id: result.id,
                created: result.new,
            }),
            None => match failure_for(&key, &body.errors) {
                ItemFailure::Rejected(detail) => Err(Error::Rejected(detail)),
                ItemFailure::RequestFailed(error) => Err(Error::InvalidRequest(error.to_string())),
            },
        }
    }

    /// Reads contacts by email (`POST .../batch/read` with `idProperty: email`), with the
    /// named `properties` (the email is always read, to match results). Emails are
    /// normalized and deduplicated, sent in chunks of 100 (concurrently, under the limiter:
    /// a read is safe to repeat). The outcome has each contact found under its normalized
    /// email; an email HubSpot finds no contact for is absent from `found` and not a
    /// failure; a chunk whose request failed lists its emails in `failures`.
    pub async fn batch_read_by_email(
        &self,
        emails: impl IntoIterator<Item = impl AsRef<str>>,
        properties: &[&str],
    ) -> BatchReadOutcome {
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<String> = emails
            .into_iter()
            .map(|e| normalize_email(e.as_ref()))
            .filter(|e| seen.insert(e.clone()))
            .collect();
        let mut wanted: Vec<&str> = properties.to_vec();
        if !wanted.contains(&"email") {
            wanted.push("email");
        }
        let wanted = &wanted;
        let inner = &self.client.inner;
        let read_path = &format!("{}/batch/read", self.path());
        let chunks = run_chunks(
            keys,
            inner.batch_size,
            inner.batch_concurrency,
            |chunk| async move {
                let body = ReadBatchRequest {
                    properties: wanted,
                    properties_with_history: [],
                    id_property: "email",
                    inputs: chunk.iter().map(|id| ReadInput { id }).collect(),
                };
                let request =
                    Request::new("contacts.batch_read", Method::POST, read_path).json(&body)?;
                inner.call::<BatchBody<Contact>>(request).await
            },
        )
        .await;
        let mut outcome = BatchReadOutcome {
            requests: chunks.len(),
            ..BatchReadOutcome::default()
        };
        for (chunk, result) in chunks {
            match result {
                Ok(body) => {
                    for contact in body.results {
                        let email = contact
                            .properties
                            .get("email")
                            .cloned()
                            .flatten()
                            .map(|e| normalize_email(&e));
                        if let Some(email) = email {
                            outcome.found.insert(email, contact);
                        }
                    }
                }
                Err(error) => {
                    let shared = std::sync::Arc::new(error);
                    outcome.failures.extend(
                        chunk
                            .into_iter()
                            .map(|email| (email, ItemFailure::RequestFailed(shared.clone()))),
                    );
                }
            }
        }
        outcome
    }

    /// Creates or updates contacts by email (`POST .../batch/upsert`).
    ///
    /// Inputs are deduplicated by email (case-insensitively; later properties win), sent in
    /// chunks of 100 (concurrently, each through the rate limiter and retry loop, which is
    /// safe: an upsert by email is idempotent), and 200 and 207 answers are both accepted. The
    /// outcome names every distinct email once: in `results` with its id and `created` flag,
    /// or in `failures` with the item error (from a 207) or the chunk's request error.
    pub async fn batch_upsert_by_email(&self, inputs: Vec<ContactUpsert>) -> BatchUpsertOutcome {
        let mut order: Vec<String> = Vec::new();
        let mut merged: HashMap<String, Properties> = HashMap::new();
        for input in inputs {
            let key = normalize_email(&input.email);
            let entry = merged.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                Properties::new()
            });
            entry.extend(input.properties);
            // HubSpot echoes the properties it set; sending the email makes results matchable.
            entry.insert("email".to_owned(), key);
        }
        let deduped: Vec<(String, Properties)> = order
            .into_iter()
            .filter_map(|k| merged.remove(&k).map(|p| (k, p)))
            .collect();
        let inner = &self.client.inner;
        let upsert_path = &format!("{}/batch/upsert", self.path());
        let chunks = run_chunks(
            deduped,
            inner.batch_size,
            inner.batch_concurrency,
            |chunk| async move {
                let body = UpsertBatchRequest::by_email(
                    chunk
                        .iter()
                        .map(|(email, properties)| (email.as_str(), properties)),
                );
                let request =
                    Request::new("contacts.batch_upsert", Method::POST, upsert_path).json(&body)?;
                inner.call::<BatchBody<UpsertResult>>(request).await
            },
        )
        .await;

        let mut outcome = BatchUpsertOutcome {
            requests: chunks.len(),
            ..BatchUpsertOutcome::default()
        };
        for (chunk, result) in chunks {
            match result {
                Ok(body) => {
                    let mut by_email: HashMap<String, UpsertResult> = HashMap::new();
                    for r in body.results {
                        if let Some(email) = &r.properties.email {
                            by_email.insert(normalize_email(email), r);
                        }
                    }
                    for (email, _) in chunk {
                        match by_email.remove(&email) {
                            Some(r) => outcome.results.push(UpsertedContact {
                                email,
                                id: r.id,
                                created: r.new,
                            }),
                            None => {
                                let reason = failure_for(&email, &body.errors);
                                outcome.failures.push(UpsertFailure { email, reason });
                            }
                        }
                    }
                }
                Err(error) => {
                    let shared = std::sync::Arc::new(error);
                    for (email, _) in chunk {
                        outcome.failures.push(UpsertFailure {
                            email,
                            reason: ItemFailure::RequestFailed(shared.clone()),
                        });
                    }
                }
            }
        }
        outcome
    }
}

fn with_properties(mut request: Request, properties: &[&str]) -> Request {
    if !properties.is_empty() {
        request = request.query("properties", properties.join(","));
    }
    request
}

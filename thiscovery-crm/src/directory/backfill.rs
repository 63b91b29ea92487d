//! Bringing existing thiscovery users into HubSpot (`crm backfill contacts`): the user list
//! thiscovery-core pages through, the contact each user becomes, and the checkpoint a
//! resumed run starts from.
//!
//! **The user list.** The Python stack never listed users (COMPAT-PYTHON.md §8 names every
//! call it made), so the list call is this stack's assumption about thiscovery-core:
//! `GET v1/users?page_size=N[&after=ID]`, with the usual `x-api-key`, answering
//! `{"users": [<user record>, ...], "next": "<id of the last user>" | null}`, users ordered by
//! id, each record in the shape `GET v1/user/{id}` answers. `crm_testkit::core::FakeCore`
//! serves it; thiscovery-core must offer it (or an equivalent behind
//! [`UserDirectory::list_users`](super::UserDirectory::list_users)) before a production
//! backfill.
//!
//! **The contact.** What a registration upserts (by email: `thiscovery_id`, `firstname`,
//! `lastname`, `country`, `thiscovery_registered_date` from the record's `created`, whole
//! seconds as the Python stack sends them), 100 per batch request through the stack's HubSpot
//! client, so under its rate limit (and its shared budget). A user without an email is
//! skipped and reported; a user whose `crm_id` is not the contact's id has it written back to
//! thiscovery-core, as a registration does.
//!
//! **The checkpoint** ([`Checkpoint`]) is an item of the lookups table
//! ([`CHECKPOINT_KEY`]), written after each batch: the last user id done and the counts so
//! far. The Python stack reads lookups by key only, so the extra item is invisible to it. A
//! run killed between a batch's upsert and its checkpoint upserts that batch again on resume,
//! which is harmless: an upsert by email is idempotent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crm::Crm;
use crate::directory::DirectoryError;
use crate::store::StoreError;
use crate::timestamp;
use hubspot_client::contacts::ContactUpsert;

/// The path of thiscovery-core's user list (see the module docs).
pub const LIST_USERS_PATH: &str = "v1/users";

/// The lookups item holding the contact backfill's checkpoint.
pub const CHECKPOINT_KEY: &str = "crm-backfill/contacts";

/// The most users one batch upserts (HubSpot's batch limit).
pub const MAX_BATCH: usize = 100;

/// A page of [`UserDirectory::list_users`](super::UserDirectory::list_users).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserPage {
    /// The users, as thiscovery-core's records.
    pub users: Vec<Map<String, Value>>,
    /// The id the next page starts after; `None` after the last page.
    #[serde(default)]
    pub next: Option<String>,
}

impl UserPage {
    /// A page of `users`, the next one after `next`.
    pub fn new(users: Vec<Map<String, Value>>, next: Option<String>) -> Self {
        UserPage { users, next }
    }
}

/// The backfill's progress, as saved after each batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// The last user id done: a resumed run lists users after it.
    #[serde(default)]
    pub after: Option<String>,
    /// Users read so far.
    #[serde(default)]
    pub users: u64,
    /// Batches done.
    #[serde(default)]
    pub batches: u64,
    /// Contacts upserted (created or updated).
    #[serde(default)]
    pub upserted: u64,
    /// Of them, created.
    #[serde(default)]
    pub created: u64,
    /// Users HubSpot refused (their ids are logged and reported by the run).
    #[serde(default)]
    pub failed: u64,
    /// Users skipped (no email).
    #[serde(default)]
    pub skipped: u64,
    /// `crm_id`s written back to thiscovery-core.
    #[serde(default)]
    pub crm_ids_written: u64,
    /// When the run began (the tables' string form).
    #[serde(default)]
    pub started: String,
    /// When the checkpoint was written.
    #[serde(default)]
    pub updated: String,
    /// Whether the last page was done.
    #[serde(default)]
    pub finished: bool,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchReport {
    /// Contacts upserted.
    pub upserted: u64,
    /// Of them, created.
    pub created: u64,
    /// Users HubSpot refused: (user id, reason).
    pub failed: Vec<(String, String)>,
    /// Users skipped: (user id, reason).
    pub skipped: Vec<(String, String)>,
    /// `crm_id`s written back to thiscovery-core.
    pub crm_ids_written: u64,
    /// `crm_id`s that could not be written back: (user id, reason).
    pub crm_id_failures: Vec<(String, String)>,
    /// Batch requests sent.
    pub requests: usize,
}

/// A user record's contact: its email, and the properties a registration sets.
fn contact_of(record: &Map<String, Value>) -> Result<(String, ContactUpsert), String> {
    let text = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let id = text("id").ok_or("no id")?;
    let email = text("email").ok_or("no email")?;
    let mut contact = ContactUpsert::new(email).property("thiscovery_id", id);
    if let Some(created) = text("created").and_then(|c| timestamp::python_epoch_millis(c).ok()) {
        contact = contact.property("thiscovery_registered_date", created.to_string());
    }
    for (field, property) in [
        ("first_name", "firstname"),
        ("last_name", "lastname"),
        ("country_name", "country"),
    ] {
        if let Some(value) = text(field) {
            contact = contact.property(property, value);
        }
    }
    Ok((email.to_owned(), contact))
}

/// The `crm_id` a record holds (a string or a number), if any.
fn crm_id_of(record: &Map<String, Value>) -> Option<String> {
    match record.get("crm_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl Crm {
    /// One page of thiscovery-core's users (see [`UserDirectory::list_users`](super::UserDirectory::list_users)).
    pub async fn list_users(
        &self,
        after: Option<&str>,
        page_size: usize,
    ) -> Result<UserPage, DirectoryError> {
        self.directory.list_users(after, page_size).await
    }

    /// Upserts `users` (thiscovery-core records, at most [`MAX_BATCH`]) as HubSpot contacts in
    /// one batch request through the main client, and writes each contact's id back to
    /// thiscovery-core where the user's `crm_id` differs.
    pub async fn backfill_contacts(&self, users: &[Map<String, Value>]) -> BatchReport {
        let mut report = BatchReport::default();
        let mut inputs = Vec::with_capacity(users.len());
        let mut by_email: Vec<(String, String, Option<String>)> = Vec::new();
        for record in users {
            let id = record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            match contact_of(record) {
                Ok((email, contact)) => {
                    by_email.push((id, email, crm_id_of(record)));
                    inputs.push(contact);
                }
                Err(reason) => report.skipped.push((id, reason.to_owned())),
            }
        }
        if inputs.is_empty() {
            return report;
        }
        let outcome = self.hubspot.contacts().batch_upsert_by_email(inputs).await;
        report.requests = outcome.requests;
        for (id, email, crm_id) in by_email {
            if let Some(failure) = outcome.failure(&email) {
                report.failed.push((id, failure.reason.to_string()));
            } else if let Some(contact) = outcome.result(&email) {
                report.upserted += 1;
                report.created += u64::from(contact.created);
                let contact_id = contact.id.to_string();
                if crm_id.as_deref() != Some(contact_id.as_str()) {
                    match self.directory.set_crm_id(&id, &contact_id).await {
                        Ok(()) => report.crm_ids_written += 1,
                        Err(e) => report.crm_id_failures.push((id, e.to_string())),
                    }
                }
            } else {
                report
                    .failed
                    .push((id, "HubSpot returned no result for the contact".to_owned()));
            }
        }
        report
    }

    /// The backfill's checkpoint, if one was saved.
    pub async fn backfill_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let Some(details) = self.lookups.get_lookup(CHECKPOINT_KEY).await? else {
            return Ok(None);
        };
        serde_json::from_value(details)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                table: "lookups".to_owned(),
                id: CHECKPOINT_KEY.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Saves the backfill's checkpoint.
    pub async fn save_backfill_checkpoint(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        let details = serde_json::to_value(checkpoint).map_err(|e| StoreError::Corrupt {
            table: "lookups".to_owned(),
            id: CHECKPOINT_KEY.to_owned(),
            reason: e.to_string(),
        })?;
        self.lookups.put_lookup(CHECKPOINT_KEY, &details).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_user_record_becomes_the_contact_a_registration_upserts() {
        let (email, contact) = contact_of(&record(json!({
            "id": "u1", "email": "Ada@Example.org", "first_name": "Ada", "last_name": "L",
            "country_name": "United Kingdom", "created": "2018-06-13 14:15:16.171819+00:00",
            "crm_id": null
        })))
        .unwrap();
        assert_eq!(email, "Ada@Example.org");
        let props = &contact.properties;
        assert_eq!(props["thiscovery_id"], "u1");
        assert_eq!(props["firstname"], "Ada");
        assert_eq!(props["lastname"], "L");
        assert_eq!(props["country"], "United Kingdom");
        assert_eq!(props["thiscovery_registered_date"], "1528899316000");
        assert_eq!(
            contact_of(&record(json!({"id": "u2", "email": ""}))).unwrap_err(),
            "no email"
        );
        assert_eq!(
            crm_id_of(&record(json!({"crm_id": 74701}))).as_deref(),
            Some("74701")
        );
        assert_eq!(crm_id_of(&record(json!({"crm_id": ""}))), None);
    }

    #[test]
    fn a_checkpoint_reads_back_what_was_saved_and_tolerates_missing_fields() {
        let checkpoint = Checkpoint {
            after: Some("u9".into()),
            users: 900,
            batches: 9,
            ..Checkpoint::default()
        };
        let value = serde_json::to_value(&checkpoint).unwrap();
        assert_eq!(
            serde_json::from_value::<Checkpoint>(value).unwrap(),
            checkpoint
        );
        assert_eq!(
            serde_json::from_value::<Checkpoint>(json!({"after": "x"}))
                .unwrap()
                .after
                .as_deref(),
            Some("x")
        );
    }
}

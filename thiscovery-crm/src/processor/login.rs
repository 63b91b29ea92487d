//! `user-login`: an Auth0 login (`s`) sets the contact's `thiscovery_last_login_date`
//! (batch upsert by email, one input per contact carrying its latest login in the page).
//! The contacts are read first (batch read by email): a login updates an existing contact
//! and never creates one (an email HubSpot has no contact for is retried, as the Python
//! stack's profile update is, then dead-lettered with the reason), and a date no newer than
//! the one HubSpot holds is not sent: a retried older login never moves it back.
//!
//! The item's `details` is the Python stack's: thiscovery-core's user record (read when the
//! login is recorded) plus `login_datetime`. If core cannot answer then, the login is still
//! recorded, with the two keys processing reads (`email`, `login_datetime`). The date sent is
//! the Python stack's, `login_datetime` to the whole second.

use std::collections::HashMap;

use async_trait::async_trait;
use hubspot_client::contacts::{ContactUpsert, normalize_email};
use serde_json::Value;
use time::OffsetDateTime;

use super::decision::Failure;
use super::{Draft, Kind, Results, parse_each};
use crate::crm::Crm;
use crate::events::{AUTH0_LOG, Envelope, EventError, Login, auth0_log_type};
use crate::notification::{Notification, NotificationType, derived_id};
use crate::timestamp;

/// The contact property a login sets (epoch milliseconds).
const LAST_LOGIN: &str = "thiscovery_last_login_date";

/// Logins.
pub(crate) struct Logins;

#[async_trait]
impl Kind for Logins {
    fn kind(&self) -> NotificationType {
        NotificationType::UserLogin
    }

    async fn draft(
        &self,
        crm: &Crm,
        envelope: &Envelope,
        _now: OffsetDateTime,
    ) -> Result<Option<Draft>, EventError> {
        let detail = &envelope.detail;
        if envelope.detail_type != AUTH0_LOG || auth0_log_type(detail)? != "s" {
            return Ok(None);
        }
        let id = derived_id(NotificationType::UserLogin, envelope.require_id()?);
        let mut label = Login::label_from_detail(detail).unwrap_or_default();
        let parsed = Login::from_detail(detail);
        let details = match &parsed {
            Ok(login) => {
                let record = match crm.directory.user_record_by_email(&login.email).await {
                    Ok(record) => Some(record),
                    Err(e) => {
                        tracing::warn!(
                            notification = %id,
                            error = %e,
                            "thiscovery-core's user record is not available: the login is recorded with its email and date only"
                        );
                        None
                    }
                };
                if let Some(email) = record
                    .as_ref()
                    .and_then(|r| r.get("email"))
                    .and_then(Value::as_str)
                {
                    // The Python stack labels a login with core's spelling of the address.
                    label = email.to_owned();
                }
                Login::python_details(detail, record)?
            }
            // An invalid login keeps the raw detail, for whoever reads its dead letter.
            Err(_) => detail.clone(),
        };
        Ok(Some(Draft {
            id,
            id_field: "id",
            label,
            details,
            validation: parsed.map(|_| ()),
        }))
    }

    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results {
        let mut results = Results::new();
        let logins = parse_each(items, Login::from_stored, &mut results);
        if logins.is_empty() {
            return results;
        }
        // One input per email, carrying its latest login (to the whole second, the value
        // the Python stack sends).
        let mut latest: HashMap<String, i64> = HashMap::new();
        for (_, login) in &logins {
            let at = whole_second_millis(login.logged_in_at);
            let entry = latest.entry(normalize_email(&login.email)).or_insert(at);
            *entry = (*entry).max(at);
        }
        // A retried older login must not move the date back: read what HubSpot holds and
        // send only dates that are newer.
        let current = crm
            .hubspot
            .contacts()
            .batch_read_by_email(latest.keys(), &[LAST_LOGIN])
            .await;
        let mut already = HashMap::new();
        // Only contacts HubSpot has are sent, so the upsert updates and never creates.
        let inputs: Vec<ContactUpsert> = latest
            .iter()
            .filter(|(email, at)| {
                let Some(contact) = current.contact(email) else {
                    return false;
                };
                let held = contact
                    .properties
                    .get(LAST_LOGIN)
                    .cloned()
                    .flatten()
                    .and_then(|v| v.trim().parse::<i64>().ok());
                if held.is_some_and(|held| held >= **at) {
                    already.insert((*email).clone(), contact.id.to_string());
                    return false;
                }
                true
            })
            .map(|(email, at)| ContactUpsert::new(email).property(LAST_LOGIN, at.to_string()))
            .collect();
        let outcome = if inputs.is_empty() {
            Default::default()
        } else {
            crm.hubspot.contacts().batch_upsert_by_email(inputs).await
        };
        for (id, login) in logins {
            let email = normalize_email(&login.email);
            let result = if let Some(contact) = already.get(&email) {
                // HubSpot holds this login's date or a later one: nothing to change.
                Ok(Some(contact.clone()))
            } else if let Some(failure) = current.failure(&email) {
                Err(Failure::item(
                    "could not read the contact's last login date",
                    failure,
                ))
            } else if current.contact(&email).is_none() {
                // Its registration may not have reached HubSpot yet: retried, then
                // dead-lettered with this reason.
                Err(Failure::retry(
                    "HubSpot has no contact with this email (a login updates a contact, it never creates one)",
                ))
            } else if let Some(failure) = outcome.failure(&login.email) {
                Err(Failure::item(
                    "HubSpot login date update failed",
                    &failure.reason,
                ))
            } else {
                outcome
                    .result(&login.email)
                    .map(|r| Some(r.id.to_string()))
                    .ok_or_else(|| Failure::retry("HubSpot returned no result for the contact"))
            };
            results.insert(id, result);
        }
        results
    }
}

/// Epoch milliseconds to the whole second: what the Python stack sends for a login date.
fn whole_second_millis(t: OffsetDateTime) -> i64 {
    timestamp::epoch_millis(t).div_euclid(1000) * 1000
}

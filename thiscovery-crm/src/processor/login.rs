//! `user-login`: an Auth0 login (`s`) sets the contact's `thiscovery_last_login_date`
//! (batch upsert by email, one input per contact carrying its latest login in the page).
//! The contacts' current dates are read first (batch read by email), and a date no newer
//! than the one HubSpot holds is not sent: a retried older login never moves it back.

use std::collections::HashMap;

use async_trait::async_trait;
use hubspot_client::contacts::{ContactUpsert, normalize_email};
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

    fn draft(&self, envelope: &Envelope) -> Result<Option<Draft>, EventError> {
        let detail = &envelope.detail;
        if envelope.detail_type != AUTH0_LOG || auth0_log_type(detail)? != "s" {
            return Ok(None);
        }
        Ok(Some(Draft {
            id: derived_id(NotificationType::UserLogin, envelope.require_id()?),
            id_field: "id",
            label: Login::label_from_detail(detail).unwrap_or_default(),
            details: detail.clone(),
            validation: Login::from_detail(detail).map(|_| ()),
        }))
    }

    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results {
        let mut results = Results::new();
        let logins = parse_each(items, Login::from_detail, &mut results);
        if logins.is_empty() {
            return results;
        }
        // One input per email, carrying its latest login.
        let mut latest: HashMap<String, OffsetDateTime> = HashMap::new();
        for (_, login) in &logins {
            let entry = latest
                .entry(normalize_email(&login.email))
                .or_insert(login.logged_in_at);
            *entry = (*entry).max(login.logged_in_at);
        }
        // A retried older login must not move the date back: read what HubSpot holds and
        // send only dates that are newer.
        let current = crm
            .hubspot
            .contacts()
            .batch_read_by_email(latest.keys(), &[LAST_LOGIN])
            .await;
        let mut already = HashMap::new();
        let inputs: Vec<ContactUpsert> = latest
            .iter()
            .filter(|(email, at)| {
                let Some(contact) = current.contact(email) else {
                    return current.failure(email).is_none();
                };
                let held = contact
                    .properties
                    .get(LAST_LOGIN)
                    .cloned()
                    .flatten()
                    .and_then(|v| v.trim().parse::<i64>().ok());
                if held.is_some_and(|held| held >= timestamp::epoch_millis(**at)) {
                    already.insert((*email).clone(), contact.id.to_string());
                    return false;
                }
                true
            })
            .map(|(email, at)| {
                ContactUpsert::new(email)
                    .property(LAST_LOGIN, timestamp::epoch_millis(*at).to_string())
            })
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

//! `user-login`: an Auth0 login (`s`) sets the contact's `thiscovery_last_login_date`
//! (batch upsert by email, one input per contact carrying its latest login in the page).

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
        let inputs: Vec<ContactUpsert> = latest
            .iter()
            .map(|(email, at)| {
                ContactUpsert::new(email).property(
                    "thiscovery_last_login_date",
                    timestamp::epoch_millis(*at).to_string(),
                )
            })
            .collect();
        let outcome = crm.hubspot.contacts().batch_upsert_by_email(inputs).await;
        for (id, login) in logins {
            let result = if let Some(failure) = outcome.failure(&login.email) {
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

//! `user-registration`: an Auth0 signup (`ss`) becomes a HubSpot contact (batch upsert by
//! email), whose id is written back to thiscovery-core as the user's `crm_id`.
//!
//! The item's `details` is the Python stack's derived map (`Registration::python_details`);
//! items holding the raw Auth0 detail (this stack's earlier versions) are read too. A
//! write-back that thiscovery-core answers 404 (the signup reached this stack before core
//! had the user) is retried like any retryable failure, then dead-lettered with the reason;
//! the contact upsert it repeats is idempotent.

use async_trait::async_trait;
use futures_util::StreamExt;
use hubspot_client::contacts::{BatchUpsertOutcome, ContactUpsert};
use serde_json::Value;
use time::OffsetDateTime;

use super::decision::{Failure, ItemResult};
use super::{Draft, Kind, Results, parse_each};
use crate::crm::Crm;
use crate::events::{AUTH0_LOG, Envelope, EventError, Registration, auth0_log_type};
use crate::notification::{Notification, NotificationType};
use crate::timestamp;

/// Registrations.
pub(crate) struct Registrations;

#[async_trait]
impl Kind for Registrations {
    fn kind(&self) -> NotificationType {
        NotificationType::UserRegistration
    }

    async fn draft(
        &self,
        _crm: &Crm,
        envelope: &Envelope,
        now: OffsetDateTime,
    ) -> Result<Option<Draft>, EventError> {
        let detail = &envelope.detail;
        if envelope.detail_type != AUTH0_LOG || auth0_log_type(detail)? != "ss" {
            return Ok(None);
        }
        let parsed = Registration::from_detail(detail);
        Ok(Some(Draft {
            id: Registration::user_id_from_detail(detail)?,
            id_field: "detail.data.details.body.user_metadata.citsci_uuid",
            label: detail
                .pointer("/data/details/body/email")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            // An invalid signup keeps the raw detail, for whoever reads its dead letter.
            details: match &parsed {
                Ok(r) => r.python_details(now, envelope.time.as_deref()),
                Err(_) => detail.clone(),
            },
            validation: parsed.map(|_| ()),
        }))
    }

    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results {
        let mut results = Results::new();
        let registrations = parse_each(items, Registration::from_stored, &mut results);
        if registrations.is_empty() {
            return results;
        }
        let inputs: Vec<ContactUpsert> = registrations.iter().map(|(_, r)| contact(r)).collect();
        let outcome = crm.hubspot.contacts().batch_upsert_by_email(inputs).await;
        let outcome = &outcome;
        // The crm_id write-backs to thiscovery-core, a few at a time (one by one, a page of
        // registrations waited ~5 ms each in series).
        let written: Vec<(String, ItemResult)> =
            futures_util::stream::iter(registrations)
                .map(|(id, registration)| async move {
                    (id, write_back(crm, outcome, &registration).await)
                })
                .buffer_unordered(CORE_CONCURRENCY)
                .collect()
                .await;
        for (id, result) in written {
            results.insert(id, result);
        }
        results
    }
}

/// How many crm_id write-backs to thiscovery-core are in flight at once.
const CORE_CONCURRENCY: usize = 8;

/// A registration's result: its contact's id written back to thiscovery-core as `crm_id`.
async fn write_back(
    crm: &Crm,
    outcome: &BatchUpsertOutcome,
    registration: &Registration,
) -> ItemResult {
    if let Some(failure) = outcome.failure(&registration.email) {
        Err(Failure::item(
            "HubSpot contact upsert failed",
            &failure.reason,
        ))
    } else if let Some(contact) = outcome.result(&registration.email) {
        crm.directory
            .set_crm_id(&registration.user_id, contact.id.as_str())
            .await
            .map(|()| Some(contact.id.to_string()))
            .map_err(|e| {
                let what = format!(
                    "contact {} upserted, but writing crm_id back failed",
                    contact.id
                );
                Failure::directory_pending(&what, &e)
            })
    } else {
        Err(Failure::retry("HubSpot returned no result for the contact"))
    }
}

/// The contact a registration upserts.
fn contact(r: &Registration) -> ContactUpsert {
    let mut input = ContactUpsert::new(&r.email)
        .property("thiscovery_id", &r.user_id)
        .property(
            "thiscovery_registered_date",
            timestamp::epoch_millis(r.registered_at).to_string(),
        );
    if let Some(first) = &r.first_name {
        input = input.property("firstname", first);
    }
    if let Some(last) = &r.last_name {
        input = input.property("lastname", last);
    }
    if let Some(country) = &r.country_name {
        input = input.property("country", country);
    }
    input
}

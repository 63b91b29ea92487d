//! `user-registration`: an Auth0 signup (`ss`) becomes a HubSpot contact (batch upsert by
//! email), whose id is written back to thiscovery-core as the user's `crm_id`.

use async_trait::async_trait;
use hubspot_client::contacts::ContactUpsert;
use serde_json::Value;

use super::decision::Failure;
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

    fn draft(&self, envelope: &Envelope) -> Result<Option<Draft>, EventError> {
        let detail = &envelope.detail;
        if envelope.detail_type != AUTH0_LOG || auth0_log_type(detail)? != "ss" {
            return Ok(None);
        }
        Ok(Some(Draft {
            id: Registration::user_id_from_detail(detail)?,
            id_field: "detail.data.details.body.user_metadata.citsci_uuid",
            label: detail
                .pointer("/data/details/body/email")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            details: detail.clone(),
            validation: Registration::from_detail(detail).map(|_| ()),
        }))
    }

    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results {
        let mut results = Results::new();
        let registrations = parse_each(items, Registration::from_detail, &mut results);
        if registrations.is_empty() {
            return results;
        }
        let inputs: Vec<ContactUpsert> = registrations.iter().map(|(_, r)| contact(r)).collect();
        let outcome = crm.hubspot.contacts().batch_upsert_by_email(inputs).await;
        for (id, registration) in registrations {
            let result = if let Some(failure) = outcome.failure(&registration.email) {
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
                        Failure::directory(
                            &format!(
                                "contact {} upserted, but writing crm_id back failed",
                                contact.id
                            ),
                            &e,
                        )
                    })
            } else {
                Err(Failure::retry("HubSpot returned no result for the contact"))
            };
            results.insert(id, result);
        }
        results
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
    if let Some(code) = &r.country_code {
        let country = crate::country::country_name(code).unwrap_or(code);
        input = input.property("country", country);
    }
    input
}

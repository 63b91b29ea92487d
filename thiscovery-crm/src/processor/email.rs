//! `transactional-email` (and Qualtrics' `custom_email`, normalized to it when recorded): a
//! template from the `HubspotEmailTemplates` table, its properties validated and looked up,
//! sent through HubSpot's single-send API with `sendId` = the notification id (so a resend is
//! ignored by HubSpot). Emails are sent one request each, `email_concurrency` at a time.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures_util::StreamExt;
use hubspot_client::transactional::SingleSendRequest;
use serde_json::Value;

use super::decision::{Failure, ItemResult};
use super::{Draft, Kind, Results};
use crate::crm::Crm;
use crate::directory::{DirectoryError, User};
use crate::events::{
    CUSTOM_EMAIL, Envelope, EventError, Recipient, TRANSACTIONAL_EMAIL, TransactionalEmail,
};
use crate::notification::{Notification, NotificationType, derived_id};
use crate::store::TemplateProperty;

/// Transactional emails.
pub(crate) struct Emails;

#[async_trait]
impl Kind for Emails {
    fn kind(&self) -> NotificationType {
        NotificationType::TransactionalEmail
    }

    fn draft(&self, envelope: &Envelope) -> Result<Option<Draft>, EventError> {
        let detail = &envelope.detail;
        let custom = match envelope.detail_type.as_str() {
            TRANSACTIONAL_EMAIL => false,
            CUSTOM_EMAIL => true,
            _ => return Ok(None),
        };
        let id = derived_id(NotificationType::TransactionalEmail, envelope.require_id()?);
        let normalized = if custom {
            TransactionalEmail::normalize_custom_email(detail)
        } else {
            Ok(detail.clone())
        };
        let (details, validation) = match normalized {
            Ok(d) => {
                let check = TransactionalEmail::from_detail(&d).map(|_| ());
                (d, check)
            }
            Err(e) => (detail.clone(), Err(e)),
        };
        let label = TransactionalEmail::from_detail(&details)
            .map(|e| e.label())
            .unwrap_or_else(|_| {
                detail
                    .get("template_name")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown-template")
                    .to_owned()
            });
        Ok(Some(Draft {
            id,
            id_field: "id",
            label,
            details,
            validation,
        }))
    }

    async fn process(&self, crm: &Crm, items: &[Notification]) -> Results {
        // Indexes (not `&Notification`) keep the future `Send`, so it can be spawned.
        futures_util::stream::iter(0..items.len())
            .map(|i| async move { (items[i].id.clone(), send(crm, &items[i]).await) })
            .buffered(crm.config.email_concurrency.max(1))
            .collect()
            .await
    }
}

async fn send(crm: &Crm, n: &Notification) -> ItemResult {
    let email = TransactionalEmail::from_detail(&n.details).map_err(Failure::invalid)?;
    let template = crm
        .templates
        .get_template(&email.template_name)
        .await
        .map_err(|e| Failure::store("could not read the email template", &e))?
        .ok_or_else(|| {
            Failure::permanent(format!("template {:?} not found", email.template_name))
        })?;
    let email_id: u64 = template.hs_template_id.trim().parse().map_err(|_| {
        Failure::permanent(format!(
            "template {:?} has an invalid hs_template_id {:?}",
            template.id, template.hs_template_id
        ))
    })?;
    let (to, user) = recipient(crm, &email.recipient).await?;
    let mut lookup = Lookup {
        crm,
        user,
        to: &to,
        project_task_id: email.project_task_id.as_deref(),
    };
    let custom = lookup
        .resolve(
            &template.id,
            "custom",
            &template.custom_properties,
            &email.custom_properties,
        )
        .await?;
    let contact = lookup
        .resolve(
            &template.id,
            "contact",
            &template.contact_properties,
            &email.contact_properties,
        )
        .await?;
    let mut request = SingleSendRequest::new(email_id, to.as_str(), n.id.as_str());
    if let Some(from) = &template.from {
        request = request.from(from.as_str());
    }
    for cc in &template.cc {
        request = request.cc(cc.as_str());
    }
    for bcc in &template.bcc {
        request = request.bcc(bcc.as_str());
    }
    for (name, value) in custom {
        request = request.custom_property(name, value);
    }
    for (name, value) in contact {
        let value = match value {
            Value::String(s) => s,
            other => other.to_string(),
        };
        request = request.contact_property(name, value);
    }
    let status = crm
        .hubspot_emails
        .transactional()
        .send(&request)
        .await
        .map_err(|e| Failure::hubspot("HubSpot single-send failed", &e))?;
    match &status.send_result {
        None => Ok(Some(status.status_id.to_string())),
        Some(result) if result.is_sent() => Ok(Some(status.status_id.to_string())),
        Some(result) if result.is_transient() => Err(Failure::retry(format!(
            "HubSpot did not send the email yet: {result}"
        ))),
        Some(result) => Err(Failure::permanent(format!(
            "HubSpot did not send the email: {result}"
        ))),
    }
}

/// The recipient's address, and the user when the event named one.
async fn recipient(crm: &Crm, recipient: &Recipient) -> Result<(String, Option<User>), Failure> {
    let user = match recipient {
        Recipient::Email(address) => return Ok((address.clone(), None)),
        Recipient::UserId(id) => crm.directory.user_by_id(id).await,
        Recipient::AnonProjectSpecificUserId(id) => {
            crm.directory.user_by_anon_project_specific_id(id).await
        }
    }
    .map_err(|e| Failure::directory(&format!("could not find recipient {recipient}"), &e))?;
    if user.crm_id.is_none() {
        return Err(Failure::permanent(format!(
            "recipient {recipient} has no crm_id (not a HubSpot contact yet)"
        )));
    }
    Ok((user.email.clone(), Some(user)))
}

/// Resolves a template's properties from the event and, for required ones it lacks, from
/// the directory.
struct Lookup<'a> {
    crm: &'a Crm,
    user: Option<User>,
    to: &'a str,
    project_task_id: Option<&'a str>,
}

impl Lookup<'_> {
    async fn resolve(
        &mut self,
        template: &str,
        which: &str,
        declared: &[TemplateProperty],
        given: &serde_json::Map<String, Value>,
    ) -> Result<BTreeMap<String, Value>, Failure> {
        if let Some(undeclared) = given
            .keys()
            .find(|k| !declared.iter().any(|p| &p.name == *k))
        {
            return Err(Failure::permanent(format!(
                "{which} property {undeclared:?} is not declared by template {template:?}"
            )));
        }
        let mut out: BTreeMap<String, Value> =
            given.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for property in declared.iter().filter(|p| p.required) {
            if out.get(&property.name).is_some_and(|v| !v.is_null()) {
                continue;
            }
            let value = self.look_up(&property.name).await?.ok_or_else(|| {
                Failure::permanent(format!(
                    "required {which} property {:?} of template {template:?} is missing and cannot be looked up",
                    property.name
                ))
            })?;
            out.insert(property.name.clone(), Value::String(value));
        }
        Ok(out)
    }

    async fn user(&mut self) -> Result<Option<&User>, Failure> {
        if self.user.is_none() {
            match self.crm.directory.user_by_email(self.to).await {
                Ok(user) => self.user = Some(user),
                Err(DirectoryError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(Failure::directory("could not look up the recipient", &e)),
            }
        }
        Ok(self.user.as_ref())
    }

    async fn look_up(&mut self, name: &str) -> Result<Option<String>, Failure> {
        Ok(match name {
            "user_first_name" => self.user().await?.and_then(|u| u.first_name.clone()),
            "user_last_name" => self.user().await?.and_then(|u| u.last_name.clone()),
            "user_email" => self.user().await?.map(|u| u.email.clone()),
            "project_name" => match self.project_task_id {
                Some(task) => Some(
                    self.crm
                        .directory
                        .project_name_of_task(task)
                        .await
                        .map_err(|e| {
                            Failure::directory("could not look up the project name", &e)
                        })?,
                ),
                None => None,
            },
            _ => None,
        })
    }
}

//! `transactional-email` (and Qualtrics' `custom_email`, normalized to it when recorded): a
//! template from the `HubspotEmailTemplates` table, its properties validated and looked up,
//! sent through HubSpot's single-send API with `sendId` = the notification id (so a resend is
//! ignored by HubSpot). Emails are sent one request each, `email_concurrency` at a time,
//! through the emails app's client.
//!
//! As the Python stack does: `to_recipient_id` is a thiscovery user id or, failing that, an
//! anonymous project-specific user id; a recipient without a HubSpot contact (`crm_id`) is
//! retried; required properties are checked (and `user_*`/`project_name` looked up) before
//! undeclared ones are refused, and `custom_properties.project_task_id` (or a top-level
//! `project_task_id`) names the task whose project's name fills `project_name`. An email
//! recorded more than [`CrmConfig::email_max_age`](crate::CrmConfig::email_max_age) ago is
//! dead-lettered with the reason `expired: not sent` instead of being sent: an email the
//! Python stack left behind at cut-over goes out late or not at all, never as a surprise.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures_util::StreamExt;
use hubspot_client::transactional::{SendId, SingleSendRequest};
use serde_json::Value;

use super::decision::{Failure, ItemResult};
use super::{Draft, Kind, Results};
use crate::crm::Crm;
use crate::directory::{DirectoryError, User};
use crate::events::{
    CUSTOM_EMAIL, Envelope, EventError, PROJECT_TASK_ID, Recipient, TRANSACTIONAL_EMAIL,
    TransactionalEmail,
};
use crate::notification::{Notification, NotificationType, derived_id};
use crate::store::TemplateProperty;
use crate::timestamp;

/// The reason an email too old to send is dead-lettered with.
pub(crate) const EXPIRED: &str = "expired: not sent";

/// Transactional emails.
pub(crate) struct Emails;

#[async_trait]
impl Kind for Emails {
    fn kind(&self) -> NotificationType {
        NotificationType::TransactionalEmail
    }

    async fn draft(
        &self,
        _crm: &Crm,
        envelope: &Envelope,
        _now: time::OffsetDateTime,
    ) -> Result<Option<Draft>, EventError> {
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
        let label = TransactionalEmail::python_label(&details);
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
    if expired(crm, n) {
        tracing::warn!(
            notification = %n.id,
            created = %n.created,
            max_age_hours = crm.config.email_max_age.as_secs() / 3600,
            "an email older than the configured age is dead-lettered, not sent"
        );
        return Err(Failure::permanent(EXPIRED));
    }
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
        looked_up_project: false,
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
    let mut request = SingleSendRequest::new(email_id, to.as_str(), SendId::new(n.id.as_str()));
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

/// Whether `n` was recorded longer ago than the configured age (an unreadable `created`
/// is not judged old: the email is sent).
fn expired(crm: &Crm, n: &Notification) -> bool {
    let Ok(created) = timestamp::parse(&n.created) else {
        return false;
    };
    let age = crm.clock.now() - created;
    age > crm.config.email_max_age
}

/// The recipient's address, and the user when the event named one.
async fn recipient(crm: &Crm, recipient: &Recipient) -> Result<(String, Option<User>), Failure> {
    let found = match recipient {
        Recipient::Email(address) => return Ok((address.clone(), None)),
        // A user id, or failing that an anonymous project-specific id (what a Qualtrics
        // custom email carries in `to_recipient_id`).
        Recipient::UserId(id) => match crm.directory.user_by_id(id).await {
            Err(DirectoryError::NotFound(_)) => {
                crm.directory.user_by_anon_project_specific_id(id).await
            }
            other => other,
        },
        Recipient::AnonProjectSpecificUserId(id) => {
            crm.directory.user_by_anon_project_specific_id(id).await
        }
    };
    let user = found.map_err(|e| match e {
        DirectoryError::NotFound(_) => Failure::permanent(format!(
            "recipient id {} does not match any known user_id or anon_project_specific_user_id",
            recipient.label()
        )),
        e => Failure::directory(&format!("could not find recipient {recipient}"), &e),
    })?;
    if user.crm_id.is_none() {
        // Their registration may not have reached HubSpot yet.
        return Err(Failure::retry(format!(
            "recipient {recipient} does not have a HubSpot id (crm_id) yet"
        )));
    }
    Ok((user.email.clone(), Some(user)))
}

/// Python's truthiness: `null`, `false`, `0`, `""` and empty lists and maps are "empty".
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Resolves a template's properties from the event and, for required ones it lacks, from
/// the directory.
struct Lookup<'a> {
    crm: &'a Crm,
    user: Option<User>,
    to: &'a str,
    project_task_id: Option<&'a str>,
    /// Whether `project_name` was looked up from `project_task_id` (which is then sent too,
    /// as the Python stack sends it).
    looked_up_project: bool,
}

impl Lookup<'_> {
    /// The properties to send: the event's, with each required one that is absent or empty
    /// looked up; then every given name must be declared by the template
    /// (`project_task_id` is always accepted, and sent only when it was used).
    async fn resolve(
        &mut self,
        template: &str,
        which: &str,
        declared: &[TemplateProperty],
        given: &serde_json::Map<String, Value>,
    ) -> Result<BTreeMap<String, Value>, Failure> {
        let mut out: BTreeMap<String, Value> =
            given.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for property in declared.iter().filter(|p| p.required) {
            if out.get(&property.name).is_some_and(|v| !is_empty(v)) {
                continue;
            }
            let value = self.look_up(&property.name).await?;
            match value {
                Some(value) if !value.is_empty() => {
                    out.insert(property.name.clone(), Value::String(value));
                }
                _ if out.contains_key(&property.name) => {
                    return Err(Failure::permanent(format!(
                        "required {which} property {:?} of template {template:?} cannot be empty",
                        property.name
                    )));
                }
                _ => {
                    return Err(Failure::permanent(format!(
                        "required {which} property {:?} of template {template:?} is missing and cannot be looked up",
                        property.name
                    )));
                }
            }
        }
        let is_declared = |name: &str| declared.iter().any(|p| p.name == name);
        for key in given.keys() {
            if is_declared(key) {
                continue;
            }
            if which == "custom" && key == PROJECT_TASK_ID {
                if !self.looked_up_project {
                    out.remove(key);
                }
                continue;
            }
            return Err(Failure::permanent(format!(
                "{which} property {key:?} is not declared by template {template:?}"
            )));
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
                Some(task) => {
                    let name = self
                        .crm
                        .directory
                        .project_name_of_task(task)
                        .await
                        .map_err(|e| match e {
                            DirectoryError::NotFound(_) => Failure::permanent(format!(
                                "no project has the task {task} (project_task_id), so project_name cannot be looked up"
                            )),
                            e => Failure::directory("could not look up the project name", &e),
                        })?;
                    self.looked_up_project = true;
                    Some(name)
                }
                None => None,
            },
            _ => None,
        })
    }
}

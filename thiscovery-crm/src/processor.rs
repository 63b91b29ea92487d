//! The processor: claims pending notifications, processes them in order (registrations, task
//! signups, logins, emails), batching where HubSpot has batch endpoints, and marks each by
//! its own result.
//!
//! Failure handling uses `hubspot_client`'s classification: retryable failures go to
//! `retrying` with `processing_fail_count + 1` (and to `dlq` once the count reaches
//! [`CrmConfig::max_attempts`](crate::CrmConfig::max_attempts)); permanent failures go to
//! `dlq` at once; a `DAILY` rate limit goes back to `retrying` without counting an attempt.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;
use hubspot_client::contacts::{ContactUpsert, normalize_email};
use hubspot_client::timeline::TimelineEventRequest;
use hubspot_client::transactional::SingleSendRequest;
use hubspot_client::{ErrorClass, ItemFailure};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::crm::Crm;
use crate::directory::{DirectoryError, User};
use crate::events::{Login, Recipient, Registration, TaskSignup, TransactionalEmail};
use crate::notification::{Notification, NotificationType, ProcessingStatus};
use crate::store::{Claim, Completion, StoreError, TemplateProperty, task_signup_lookup_key};
use crate::timestamp;

/// What happened to one notification in a processing run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemReport {
    /// The notification's id.
    pub id: String,
    /// Its type.
    pub kind: NotificationType,
    /// Its label.
    pub label: String,
    /// Its status after the run.
    pub status: ProcessingStatus,
    /// The error message recorded, if any.
    pub message: Option<String>,
    /// What HubSpot returned: contact id, timeline event id or email status id.
    pub hubspot_ref: Option<String>,
    /// `true` if another processor took the item over before this one could record its
    /// result (the result was not written).
    pub lost_claim: bool,
}

impl ItemReport {
    pub(crate) fn from_notification(n: &Notification) -> ItemReport {
        ItemReport {
            id: n.id.clone(),
            kind: n.kind,
            label: n.label.clone(),
            status: n.status,
            message: n.error_message.clone(),
            hubspot_ref: None,
            lost_claim: false,
        }
    }
}

/// The result of a processing run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessSummary {
    /// One report per claimed notification.
    pub items: Vec<ItemReport>,
    /// Candidates that could not be claimed (held by another processor, or done meanwhile).
    pub not_claimed: usize,
}

impl ProcessSummary {
    /// How many items ended in `status`.
    pub fn count(&self, status: ProcessingStatus) -> usize {
        self.items
            .iter()
            .filter(|i| i.status == status && !i.lost_claim)
            .count()
    }
}

/// How a failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailKind {
    /// Dead-letter now.
    Permanent,
    /// Retry, counting an attempt.
    Retry,
    /// Retry later without counting an attempt (daily rate limit).
    Later,
}

#[derive(Debug, Clone)]
struct Failure {
    kind: FailKind,
    message: String,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Failure {
            kind: FailKind::Permanent,
            message: message.into(),
        }
    }

    fn retry(message: impl Into<String>) -> Self {
        Failure {
            kind: FailKind::Retry,
            message: message.into(),
        }
    }

    fn from_class(class: ErrorClass, message: String) -> Self {
        let kind = match class {
            ErrorClass::Permanent => FailKind::Permanent,
            ErrorClass::RetryLater { .. } => FailKind::Later,
            _ => FailKind::Retry,
        };
        Failure { kind, message }
    }

    fn hubspot(what: &str, e: &hubspot_client::Error) -> Self {
        Failure::from_class(e.class(), format!("{what}: {e}"))
    }

    fn item(what: &str, f: &ItemFailure) -> Self {
        Failure::from_class(f.class(), format!("{what}: {f}"))
    }

    fn directory(what: &str, e: &DirectoryError) -> Self {
        let message = format!("{what}: {e}");
        if e.is_retryable() {
            Failure::retry(message)
        } else {
            Failure::permanent(message)
        }
    }

    fn store(what: &str, e: &StoreError) -> Self {
        Failure::retry(format!("{what}: {e}"))
    }
}

type ItemResult = Result<Option<String>, Failure>;

impl Crm {
    /// Claims what it can of the `candidates` (notification ids) and processes the claimed
    /// items.
    pub(crate) async fn process_batch(
        &self,
        candidates: Vec<String>,
        deadline: Option<OffsetDateTime>,
    ) -> Result<ProcessSummary, StoreError> {
        let owner = format!("processor-{}", uuid::Uuid::new_v4());
        let now = self.clock.now();
        let now_ms = timestamp::epoch_millis(now);
        let claim = Claim {
            owner: owner.clone(),
            now_ms,
            lease_until_ms: self.lease_until_ms(now_ms, deadline),
            modified: timestamp::format(now),
        };
        let mut summary = ProcessSummary::default();
        let mut claimed: BTreeMap<NotificationType, Vec<Notification>> = BTreeMap::new();
        // Owned ids (not `&Notification`) keep the future `Send`, so it can be spawned.
        let claim = &claim;
        let results: Vec<Result<Option<Notification>, StoreError>> =
            futures_util::stream::iter(candidates)
                .map(|id| async move {
                    // A store that answers at once (the in-memory one) would otherwise claim
                    // the whole page in one poll, and the sweep's other page, in the same
                    // task, would miss its rate-limit slots meanwhile (B1 saw 15-30 ms
                    // stalls per page of 1,000; tokio's coop budget did not break them up).
                    tokio::task::yield_now().await;
                    self.notifications.claim(&id, claim).await
                })
                .buffer_unordered(16)
                .collect()
                .await;
        for result in results {
            match result? {
                Some(n) => claimed.entry(n.kind).or_default().push(n),
                None => summary.not_claimed += 1,
            }
        }
        // Registrations first: a task signup, login or email for a contact not yet in
        // HubSpot (or a user whose crm_id is not yet written back) would fail otherwise.
        // The other three types do not depend on each other and run at the same time, so
        // the rate limiter is never idle between stages.
        let owner = owner.as_str();
        let mut take = |kind| claimed.remove(&kind).unwrap_or_default();
        let registrations = take(NotificationType::UserRegistration);
        let signups = take(NotificationType::TaskSignup);
        let logins = take(NotificationType::UserLogin);
        let emails = take(NotificationType::TransactionalEmail);
        let first = self.run_stage(NotificationType::UserRegistration, &registrations, owner);
        summary.items.extend(first.await?);
        let (signups, logins, emails) = futures_util::future::join3(
            self.run_stage(NotificationType::TaskSignup, &signups, owner),
            self.run_stage(NotificationType::UserLogin, &logins, owner),
            self.run_stage(NotificationType::TransactionalEmail, &emails, owner),
        )
        .await;
        summary.items.extend(signups?);
        summary.items.extend(logins?);
        summary.items.extend(emails?);
        Ok(summary)
    }

    /// Runs one type's claimed items and records their results.
    async fn run_stage(
        &self,
        kind: NotificationType,
        items: &[Notification],
        owner: &str,
    ) -> Result<Vec<ItemReport>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = match kind {
            NotificationType::UserRegistration => self.run_registrations(items).await,
            NotificationType::TaskSignup => self.run_task_signups(items).await,
            NotificationType::UserLogin => self.run_logins(items).await,
            NotificationType::TransactionalEmail => self.run_emails(items).await,
        };
        // Results are written back concurrently (each write is independent and conditional
        // on this run's claim), in input order for the report.
        futures_util::stream::iter(outcomes.into_iter().enumerate())
            .map(|(i, result)| self.finish(&items[i], owner, result))
            .buffered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Records an item's result, conditional on still holding its claim.
    async fn finish(
        &self,
        n: &Notification,
        owner: &str,
        result: ItemResult,
    ) -> Result<ItemReport, StoreError> {
        let (completion, hubspot_ref) = match result {
            Ok(hubspot_ref) => (
                Completion {
                    status: ProcessingStatus::Processed,
                    fail_count: n.fail_count,
                    error_message: None,
                    modified: String::new(),
                },
                hubspot_ref,
            ),
            Err(failure) => (self.failed(n, failure), None),
        };
        let completion = Completion {
            modified: timestamp::format(self.clock.now()),
            ..completion
        };
        // As for claims: a write-back of hundreds of results must not hold the task.
        tokio::task::yield_now().await;
        let held = self
            .notifications
            .complete(&n.id, owner, &completion)
            .await?;
        let mut report = ItemReport::from_notification(n);
        report.status = completion.status;
        report.message = completion.error_message.clone();
        report.hubspot_ref = hubspot_ref;
        report.lost_claim = !held;
        match (held, completion.status) {
            (false, _) => tracing::warn!(id = %n.id, "claim lost before the result was recorded"),
            (true, ProcessingStatus::Dlq) => {
                tracing::warn!(id = %n.id, kind = %n.kind, error = ?completion.error_message, "dead-lettered")
            }
            (true, status) => {
                tracing::info!(id = %n.id, kind = %n.kind, %status, "notification done")
            }
        }
        Ok(report)
    }

    fn failed(&self, n: &Notification, failure: Failure) -> Completion {
        let attempts = n.fail_count + 1;
        let (status, fail_count, message) = match failure.kind {
            FailKind::Permanent => (ProcessingStatus::Dlq, attempts, failure.message),
            FailKind::Later => (ProcessingStatus::Retrying, n.fail_count, failure.message),
            FailKind::Retry if attempts >= self.config.max_attempts => (
                ProcessingStatus::Dlq,
                attempts,
                format!(
                    "gave up after {attempts} failed attempts: {}",
                    failure.message
                ),
            ),
            FailKind::Retry => (ProcessingStatus::Retrying, attempts, failure.message),
        };
        Completion {
            status,
            fail_count,
            error_message: Some(message),
            modified: String::new(),
        }
    }

    async fn run_registrations(&self, items: &[Notification]) -> Vec<ItemResult> {
        let parsed: Vec<Result<Registration, Failure>> = items
            .iter()
            .map(|n| {
                Registration::from_detail(&n.details)
                    .map_err(|e| Failure::permanent(format!("invalid event: {e}")))
            })
            .collect();
        let inputs: Vec<ContactUpsert> = parsed
            .iter()
            .flatten()
            .map(|r| {
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
            })
            .collect();
        let outcome = if inputs.is_empty() {
            Default::default()
        } else {
            self.hubspot.contacts().batch_upsert_by_email(inputs).await
        };
        let mut results = Vec::with_capacity(items.len());
        for registration in parsed {
            let registration = match registration {
                Ok(r) => r,
                Err(f) => {
                    results.push(Err(f));
                    continue;
                }
            };
            if let Some(failure) = outcome.failure(&registration.email) {
                results.push(Err(Failure::item(
                    "HubSpot contact upsert failed",
                    &failure.reason,
                )));
                continue;
            }
            let Some(contact) = outcome.result(&registration.email) else {
                results.push(Err(Failure::retry(
                    "HubSpot returned no result for the contact",
                )));
                continue;
            };
            let written = self
                .directory
                .set_crm_id(&registration.user_id, contact.id.as_str())
                .await;
            results.push(match written {
                Ok(()) => Ok(Some(contact.id.to_string())),
                Err(e) => Err(Failure::directory(
                    &format!(
                        "contact {} upserted, but writing crm_id back failed",
                        contact.id
                    ),
                    &e,
                )),
            });
        }
        results
    }

    async fn run_logins(&self, items: &[Notification]) -> Vec<ItemResult> {
        let parsed: Vec<Result<Login, Failure>> = items
            .iter()
            .map(|n| {
                Login::from_detail(&n.details)
                    .map_err(|e| Failure::permanent(format!("invalid event: {e}")))
            })
            .collect();
        // One input per email, carrying its latest login.
        let mut latest: HashMap<String, OffsetDateTime> = HashMap::new();
        for login in parsed.iter().flatten() {
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
        let outcome = if inputs.is_empty() {
            Default::default()
        } else {
            self.hubspot.contacts().batch_upsert_by_email(inputs).await
        };
        parsed
            .into_iter()
            .map(|login| {
                let login = login?;
                if let Some(failure) = outcome.failure(&login.email) {
                    return Err(Failure::item(
                        "HubSpot login date update failed",
                        &failure.reason,
                    ));
                }
                outcome
                    .result(&login.email)
                    .map(|r| Some(r.id.to_string()))
                    .ok_or_else(|| Failure::retry("HubSpot returned no result for the contact"))
            })
            .collect()
    }

    async fn task_signup_template(&self) -> Result<String, Failure> {
        let key = task_signup_lookup_key(&self.config.env);
        let details = self
            .lookups
            .get_lookup(&key)
            .await
            .map_err(|e| Failure::store("could not read the task-signup timeline template", &e))?
            .ok_or_else(|| {
                Failure::retry(format!(
                    "lookup {key} is missing (the task-signup timeline template id)"
                ))
            })?;
        match details.get("hubspot_id") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(Failure::retry(format!(
                "lookup {key} has no details.hubspot_id"
            ))),
        }
    }

    async fn run_task_signups(&self, items: &[Notification]) -> Vec<ItemResult> {
        let template = match self.task_signup_template().await {
            Ok(t) => t,
            Err(f) => return items.iter().map(|_| Err(f.clone())).collect(),
        };
        let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
        let mut requests = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        for (i, n) in items.iter().enumerate() {
            let signup = match TaskSignup::from_detail(&n.details) {
                Ok(s) => s,
                Err(e) => {
                    results[i] = Some(Err(Failure::permanent(format!("invalid event: {e}"))));
                    continue;
                }
            };
            let request = match &signup.crm_id {
                Some(crm_id) => TimelineEventRequest::for_object(
                    template.as_str(),
                    &signup.user_task_id,
                    crm_id.as_str(),
                ),
                None => match self.directory.user_by_id(&signup.user_id).await {
                    Ok(user) => TimelineEventRequest::for_email(
                        template.as_str(),
                        &signup.user_task_id,
                        user.email,
                    ),
                    Err(e) => {
                        results[i] = Some(Err(Failure::directory(
                            &format!("could not find the email of user {}", signup.user_id),
                            &e,
                        )));
                        continue;
                    }
                },
            };
            let timestamp = signup.created.format(&Rfc3339).unwrap_or_default();
            let request = request
                .token("project_id", signup.project_id.as_str())
                .token("project_name", signup.project_name.as_str())
                .token("task_id", signup.task_id.as_str())
                .token("task_name", signup.task_name.as_str())
                .token("task_type_id", signup.task_type_id.as_str())
                .token("task_type_name", signup.task_type_name.as_str())
                .token("signup_event_type", "Sign-up")
                .timestamp(timestamp);
            index_of.insert(signup.user_task_id.clone(), i);
            requests.push(request);
        }
        if !requests.is_empty() {
            let outcome = self.hubspot.timeline().create_batch(requests).await;
            for event in outcome.created {
                if let Some(&i) = index_of.get(&event.id) {
                    results[i] = Some(Ok(Some(event.id.clone())));
                }
            }
            for failure in outcome.failures {
                let Some(&i) = index_of.get(&failure.id) else {
                    continue;
                };
                results[i] = Some(if is_conflict(&failure.reason) {
                    // The event id is the user-task id: a conflict means it is recorded.
                    Ok(Some(failure.id.clone()))
                } else {
                    Err(Failure::item(
                        "HubSpot timeline event failed",
                        &failure.reason,
                    ))
                });
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(Failure::retry("HubSpot returned no result for the event")))
            })
            .collect()
    }

    async fn run_emails(&self, items: &[Notification]) -> Vec<ItemResult> {
        // Indexes (not `&Notification`) keep the future `Send`, so it can be spawned.
        futures_util::stream::iter(0..items.len())
            .map(|i| self.send_email(&items[i]))
            .buffered(self.config.email_concurrency.max(1))
            .collect()
            .await
    }

    async fn send_email(&self, n: &Notification) -> ItemResult {
        let email = TransactionalEmail::from_detail(&n.details)
            .map_err(|e| Failure::permanent(format!("invalid event: {e}")))?;
        let template = self
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
        let (to, user) = self.recipient(&email.recipient).await?;
        let mut lookup = Lookup {
            crm: self,
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
        let status = self
            .hubspot
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

    async fn recipient(&self, recipient: &Recipient) -> Result<(String, Option<User>), Failure> {
        let user = match recipient {
            Recipient::Email(address) => return Ok((address.clone(), None)),
            Recipient::UserId(id) => self.directory.user_by_id(id).await,
            Recipient::AnonProjectSpecificUserId(id) => {
                self.directory.user_by_anon_project_specific_id(id).await
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
}

fn is_conflict(reason: &ItemFailure) -> bool {
    match reason {
        ItemFailure::Rejected(detail) => {
            detail.category.as_deref() == Some("CONFLICT")
                || detail.status.as_deref() == Some("409")
        }
        ItemFailure::RequestFailed(e) => e.is_conflict(),
        _ => false,
    }
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

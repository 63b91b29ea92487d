//! Pluggable stores for the stack's four tables: notifications (the outbox), email templates,
//! lookups and tokens. Each has an in-memory implementation ([`memory`]) and a DynamoDB one
//! ([`dynamodb`]) on the production tables.

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;

use crate::notification::{Notification, ProcessingStatus};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod limits;
pub mod memory;

/// A store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (DynamoDB unreachable, throttled, ...).
    #[error("{operation} failed: {source}")]
    Backend {
        /// What was being done (e.g. "put notification").
        operation: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend refused the request as invalid (DynamoDB's `ValidationException`: an
    /// item over a limit, a bad expression). Sending it again cannot succeed.
    #[error("{operation} was refused: {message}")]
    Rejected {
        /// What was being done.
        operation: String,
        /// The backend's code and message.
        message: String,
    },
    /// A stored item could not be read.
    #[error("item {id:?} in {table} is malformed: {reason}")]
    Corrupt {
        /// The table.
        table: String,
        /// The item's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later (the backend was unreachable, throttled or
    /// failed). A refused request or a corrupt item is not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { .. })
    }
}

/// What recording a notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new item was written.
    Created,
    /// An item with this id already existed; nothing was written.
    Duplicate,
}

/// A claim: take an item for processing until a lease expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who claims (unique per processor run).
    pub owner: String,
    /// The time of the claim, epoch milliseconds (an expired lease is one before this).
    pub now_ms: i64,
    /// Until when the claim holds, epoch milliseconds.
    pub lease_until_ms: i64,
    /// The `modified` stamp to write.
    pub modified: String,
}

/// The result of processing a claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `processed`, `retrying` or `dlq`.
    pub status: ProcessingStatus,
    /// The new failure count.
    pub fail_count: u32,
    /// The error message to record (`None` clears it).
    pub error_message: Option<String>,
    /// The `modified` stamp to write.
    pub modified: String,
}

/// What a sweep knows of a pending item before claiming it: enough to filter and order the
/// work, without the event's details.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingKey {
    /// The notification's id.
    pub id: String,
    /// When it was recorded (the tables' string form): sweeps take the oldest first.
    pub created: String,
    /// Its status, as the (eventually consistent) listing saw it.
    pub status: ProcessingStatus,
    /// Until when its claim holds, epoch milliseconds, if it has one.
    pub lease_expires_ms: Option<i64>,
    /// Its `type` attribute as stored, when the listing read it and it is not one this
    /// stack handles (the Python stack's `processing-test`): a sweep leaves such an item as
    /// it is. `None` for the types this stack handles.
    pub unknown_type: Option<String>,
}

impl PendingKey {
    /// A key from its parts.
    pub fn new(
        id: impl Into<String>,
        created: impl Into<String>,
        status: ProcessingStatus,
        lease_expires_ms: Option<i64>,
    ) -> Self {
        PendingKey {
            id: id.into(),
            created: created.into(),
            status,
            lease_expires_ms,
            unknown_type: None,
        }
    }

    /// The same key, for an item whose stored `type` is `kind`: one this stack does not
    /// handle is kept in [`unknown_type`](Self::unknown_type).
    pub fn with_type(mut self, kind: &str) -> Self {
        self.unknown_type = kind
            .parse::<crate::notification::NotificationType>()
            .is_err()
            .then(|| kind.to_owned());
        self
    }

    /// Whether the item looked claimable at `now_ms` (the claim rule,
    /// [`ProcessingStatus::is_claimable`]; the claim itself re-checks).
    pub fn is_claimable(&self, now_ms: i64) -> bool {
        self.status.is_claimable(self.lease_expires_ms, now_ms)
    }
}

impl From<&Notification> for PendingKey {
    fn from(n: &Notification) -> Self {
        PendingKey::new(
            n.id.clone(),
            n.created.clone(),
            n.status,
            n.lease_expires_ms,
        )
    }
}

/// The notifications table: the outbox.
///
/// Every status change is conditional: a claim succeeds only on a claimable item, and a
/// completion only while the completing owner still holds the claim, so a slow processor
/// whose lease expired cannot overwrite the result of the one that took over. No update
/// creates an item.
#[async_trait]
pub trait NotificationStore: Send + Sync + fmt::Debug {
    /// Records `notification` unless an item with its id exists (then [`PutOutcome::Duplicate`]).
    async fn put_if_absent(&self, notification: &Notification) -> Result<PutOutcome, StoreError>;

    /// Reads an item (strongly consistent).
    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError>;

    /// Items that may need work: `new`, `retrying`, and `processing` (whose lease may have
    /// expired), through every page of the status index. The index is eventually
    /// consistent: callers must re-check each item through [`claim`](Self::claim). No order is
    /// promised.
    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError>;

    /// Like [`list_pending`](Self::list_pending), but only what a sweep needs to pick and
    /// order its work ([`PendingKey`]), not the items' details: a sweep holds the keys of
    /// everything pending and the details of one page at a time.
    ///
    /// The default implementation reads whole items through `list_pending`; stores should
    /// override it with a projection.
    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        Ok(self
            .list_pending()
            .await?
            .iter()
            .map(PendingKey::from)
            .collect())
    }

    /// Claims an item if it is claimable at `claim.now_ms`; returns the claimed item, or
    /// `None` if it is not claimable (someone else holds it, it is done, or it is gone).
    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError>;

    /// Records the result of processing, if `owner` still holds the claim; returns whether it
    /// did.
    async fn complete(
        &self,
        id: &str,
        owner: &str,
        completion: &Completion,
    ) -> Result<bool, StoreError>;

    /// `processed` items whose `created` is before `threshold` (the tables' string form),
    /// whole and all at once: prefer [`processed_page`](Self::processed_page), whose memory
    /// does not grow with the table.
    async fn list_processed_before(&self, threshold: &str)
    -> Result<Vec<Notification>, StoreError>;

    /// One page of what cleanup may delete: `processed` items created before `threshold`,
    /// oldest first, after `after`, reading at most `limit` items. Transactional emails are
    /// read but not returned (cleanup keeps them); `skipped_emails` counts them. `next` is
    /// where the following page starts, `None` after the last.
    ///
    /// The default implementation pages over [`list_processed_before`](Self::list_processed_before);
    /// the memory and DynamoDB stores read only the page (on DynamoDB: the status index,
    /// projected to the three attributes, emails filtered out by the query).
    async fn processed_page(
        &self,
        threshold: &str,
        after: Option<&ProcessedCursor>,
        limit: usize,
    ) -> Result<ProcessedPage, StoreError> {
        let mut all = self.list_processed_before(threshold).await?;
        all.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        Ok(ProcessedPage::from_sorted(all, after, limit))
    }

    /// Deletes an item if it is still `processed`; returns whether it did.
    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError>;

    /// Every item with `status`, whole, through every page of the status index (eventually
    /// consistent); no order is promised. What an operator's `crm dlq list` reads.
    ///
    /// The default implementation answers the pending statuses through
    /// [`list_pending`](Self::list_pending) and `processed` through
    /// [`list_processed_before`](Self::list_processed_before), and refuses `dlq`
    /// ([`StoreError::Rejected`]): the memory and DynamoDB stores override it.
    async fn list_status(&self, status: ProcessingStatus) -> Result<Vec<Notification>, StoreError> {
        match status {
            ProcessingStatus::New | ProcessingStatus::Retrying | ProcessingStatus::Processing => {
                Ok(self
                    .list_pending()
                    .await?
                    .into_iter()
                    .filter(|n| n.status == status)
                    .collect())
            }
            ProcessingStatus::Processed => self.list_processed_before("\u{10FFFF}").await,
            ProcessingStatus::Dlq => Err(not_supported("list dlq items")),
        }
    }

    /// Like [`list_status`](Self::list_status), but only each item's [`StatusKey`] (on
    /// DynamoDB a projection of the status index: no details are read), for counts and ages.
    ///
    /// The default implementation reads whole items through `list_status`.
    async fn list_status_keys(
        &self,
        status: ProcessingStatus,
    ) -> Result<Vec<StatusKey>, StoreError> {
        Ok(self
            .list_status(status)
            .await?
            .iter()
            .map(StatusKey::from)
            .collect())
    }

    /// Puts a dead-lettered item back in the outbox: if it is still `dlq`, it becomes
    /// `retrying` with a fresh attempt count (`processing_fail_count` 0, no lease, no
    /// unfinished attempts), and the replay is noted on the item (attributes
    /// `replay_count`, one more each time, and `replay_note`); `processing_error_message` is
    /// kept, as the Python stack keeps it. Returns whether the item was replayed (`false`:
    /// gone, or no longer `dlq`). Everything else on the item stays as it is, so the Python
    /// stack still reads it.
    ///
    /// The default implementation refuses ([`StoreError::Rejected`]); the memory and
    /// DynamoDB stores implement it.
    async fn replay(&self, id: &str, replay: &Replay) -> Result<bool, StoreError> {
        let _ = (id, replay);
        Err(not_supported("replay a dead-lettered item"))
    }

    /// The item with this id as stored, every attribute, as JSON (DynamoDB's values
    /// converted as [`dynamodb::attr_to_json`] converts them), for an operator to read
    /// (`crm show`). Strongly consistent.
    ///
    /// The default implementation shows what [`get`](Self::get) reads, in the table's
    /// attribute names.
    async fn get_stored(
        &self,
        id: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, StoreError> {
        Ok(self.get(id).await?.map(|n| stored_json(&n)))
    }
}

/// `n` in the table's attribute names, as JSON.
#[cfg(feature = "dynamodb")]
pub(crate) fn stored_json(n: &Notification) -> serde_json::Map<String, Value> {
    dynamodb::notification_to_item(n)
        .iter()
        .filter_map(|(name, attr)| {
            dynamodb::attr_to_json(attr)
                .ok()
                .map(|value| (name.clone(), value))
        })
        .collect()
}

/// `n` in the table's attribute names, as JSON (without the DynamoDB codec: the attributes
/// the outbox keeps, by the same names).
#[cfg(not(feature = "dynamodb"))]
pub(crate) fn stored_json(n: &Notification) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("id".into(), Value::from(n.id.clone()));
    map.insert("type".into(), Value::from(n.kind.as_str()));
    map.insert("label".into(), Value::from(n.label.clone()));
    map.insert("details".into(), n.details.clone());
    map.insert("processing_status".into(), Value::from(n.status.as_str()));
    map.insert("processing_fail_count".into(), Value::from(n.fail_count));
    if let Some(message) = &n.error_message {
        map.insert(
            "processing_error_message".into(),
            Value::from(message.clone()),
        );
    }
    map.insert("created".into(), Value::from(n.created.clone()));
    map.insert("modified".into(), Value::from(n.modified.clone()));
    if let Some(lease) = n.lease_expires_ms {
        map.insert("lease_expires".into(), Value::from(lease));
    }
    if let Some(owner) = &n.lease_owner {
        map.insert("lease_owner".into(), Value::from(owner.clone()));
    }
    map
}

fn not_supported(operation: &str) -> StoreError {
    StoreError::Rejected {
        operation: operation.to_owned(),
        message: "this store does not support it".to_owned(),
    }
}

/// How [`NotificationStore::replay`] notes a replay on the item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replay {
    /// The `modified` stamp to write (the tables' string form).
    pub modified: String,
    /// The note written to `replay_note`: when, by whom, and the error it was dead-lettered
    /// with.
    pub note: String,
}

impl Replay {
    /// A replay stamped `modified`, noted `note`.
    pub fn new(modified: impl Into<String>, note: impl Into<String>) -> Self {
        Replay {
            modified: modified.into(),
            note: note.into(),
        }
    }
}

/// What a listing by status knows of an item ([`NotificationStore::list_status_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusKey {
    /// The notification's id.
    pub id: String,
    /// Its `type` attribute as stored (also one this stack does not handle).
    pub kind: String,
    /// Its status, as the (eventually consistent) listing saw it.
    pub status: ProcessingStatus,
    /// When it was recorded (the tables' string form).
    pub created: String,
    /// Until when its claim holds, epoch milliseconds, if it has one.
    pub lease_expires_ms: Option<i64>,
}

impl From<&Notification> for StatusKey {
    fn from(n: &Notification) -> Self {
        StatusKey {
            id: n.id.clone(),
            kind: n.kind.as_str().to_owned(),
            status: n.status,
            created: n.created.clone(),
            lease_expires_ms: n.lease_expires_ms,
        }
    }
}

/// Where a page of [`NotificationStore::processed_page`] ends: the last item read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessedCursor {
    /// The last item's `created`.
    pub created: String,
    /// The last item's id.
    pub id: String,
}

impl ProcessedCursor {
    /// A cursor after the item `(created, id)`.
    pub fn new(created: impl Into<String>, id: impl Into<String>) -> Self {
        ProcessedCursor {
            created: created.into(),
            id: id.into(),
        }
    }
}

/// What cleanup needs of a processed item: its id and its stamps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessedKey {
    /// The notification's id.
    pub id: String,
    /// When it was recorded.
    pub created: String,
    /// When it last changed (an item processed within the retention period is kept).
    pub modified: String,
}

/// A page of [`NotificationStore::processed_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessedPage {
    /// The processed items of the page that are not transactional emails.
    pub items: Vec<ProcessedKey>,
    /// How many transactional emails the page read and left out.
    pub skipped_emails: usize,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<ProcessedCursor>,
}

impl ProcessedPage {
    /// The page after `after` of `sorted` (processed items, oldest first by `(created, id)`),
    /// reading at most `limit`.
    pub fn from_sorted(
        sorted: impl IntoIterator<Item = Notification>,
        after: Option<&ProcessedCursor>,
        limit: usize,
    ) -> ProcessedPage {
        let mut page = ProcessedPage::default();
        let mut last = None;
        let mut more = false;
        let after_cursor = sorted.into_iter().filter(|n| {
            after.is_none_or(|c| {
                (n.created.as_str(), n.id.as_str()) > (c.created.as_str(), c.id.as_str())
            })
        });
        for (read, n) in after_cursor.enumerate() {
            if read == limit.max(1) {
                more = true;
                break;
            }
            last = Some(ProcessedCursor::new(n.created.clone(), n.id.clone()));
            if n.kind == crate::notification::NotificationType::TransactionalEmail {
                page.skipped_emails += 1;
            } else {
                page.items.push(ProcessedKey {
                    id: n.id,
                    created: n.created,
                    modified: n.modified,
                });
            }
        }
        page.next = if more { last } else { None };
        page
    }
}

/// A property a template declares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TemplateProperty {
    /// The property's name.
    pub name: String,
    /// Whether a send must supply it.
    #[serde(default)]
    pub required: bool,
}

/// An item of the `HubspotEmailTemplates` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct EmailTemplate {
    /// The template's name (the item id; events name templates by it).
    pub id: String,
    /// HubSpot's transactional email id.
    pub hs_template_id: String,
    /// The `From` header.
    #[serde(default)]
    pub from: Option<String>,
    /// Cc addresses.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Bcc addresses.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Contact properties the template uses.
    #[serde(default)]
    pub contact_properties: Vec<TemplateProperty>,
    /// Custom properties the template uses.
    #[serde(default)]
    pub custom_properties: Vec<TemplateProperty>,
}

impl TemplateProperty {
    /// A property a send may supply.
    pub fn optional(name: impl Into<String>) -> Self {
        TemplateProperty {
            name: name.into(),
            required: false,
        }
    }

    /// A property a send must supply.
    pub fn required(name: impl Into<String>) -> Self {
        TemplateProperty {
            name: name.into(),
            required: true,
        }
    }
}

impl EmailTemplate {
    /// A template named `id` (what events name it by) sending HubSpot's transactional email
    /// `hs_template_id`, with no `From`, no cc/bcc and no declared properties.
    ///
    /// ```
    /// use thiscovery_crm::store::{EmailTemplate, TemplateProperty};
    ///
    /// let template = EmailTemplate::new("participant_welcome", "63581930")
    ///     .from("thiscovery <support@thiscovery.org>")
    ///     .bcc(["audit@thiscovery.org"])
    ///     .contact_property(TemplateProperty::required("firstname"))
    ///     .custom_property(TemplateProperty::optional("project_name"));
    /// assert_eq!(template.hs_template_id, "63581930");
    /// ```
    pub fn new(id: impl Into<String>, hs_template_id: impl Into<String>) -> Self {
        EmailTemplate {
            id: id.into(),
            hs_template_id: hs_template_id.into(),
            from: None,
            cc: Vec::new(),
            bcc: Vec::new(),
            contact_properties: Vec::new(),
            custom_properties: Vec::new(),
        }
    }

    /// The `From` header.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Cc addresses.
    pub fn cc<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        self.cc = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// Bcc addresses.
    pub fn bcc<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        self.bcc = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// Declares a contact property the template uses.
    pub fn contact_property(mut self, property: TemplateProperty) -> Self {
        self.contact_properties.push(property);
        self
    }

    /// Declares a custom property the template uses.
    pub fn custom_property(mut self, property: TemplateProperty) -> Self {
        self.custom_properties.push(property);
        self
    }
}

/// The `HubspotEmailTemplates` table.
#[async_trait]
pub trait TemplateStore: Send + Sync + fmt::Debug {
    /// A template by name.
    async fn get_template(&self, name: &str) -> Result<Option<EmailTemplate>, StoreError>;
    /// Writes a template.
    async fn put_template(&self, template: &EmailTemplate) -> Result<(), StoreError>;
}

/// The `lookups` table: configuration values by key (`details` attribute).
#[async_trait]
pub trait LookupStore: Send + Sync + fmt::Debug {
    /// The `details` of the item with this key.
    async fn get_lookup(&self, key: &str) -> Result<Option<Value>, StoreError>;
    /// Writes a lookup item.
    async fn put_lookup(&self, key: &str, details: &Value) -> Result<(), StoreError>;
}

/// The key of the task-signup timeline template in the lookups table, for an environment
/// (`prod`, `staging`, ...): `/{env}/task-signup`.
pub fn task_signup_lookup_key(env: &str) -> String {
    format!("/{env}/task-signup")
}

//! DynamoDB stores on the production tables (`{stack}-notifications`,
//! `{stack}-HubspotEmailTemplates`, `{stack}-lookups`, `{stack}-tokens`), with the Python
//! stack's item format.
//!
//! Status changes are `UpdateItem`s that touch only the attributes they change, so
//! attributes this stack does not know survive. Every update is conditional on the item
//! existing (an unconditional `UpdateItem` would create one).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use hubspot_client::auth::{TokenSet, TokenStore, TokenStoreError};
use secrecy::ExposeSecret;
use serde_json::{Map, Number, Value};

use super::{
    Claim, Completion, EmailTemplate, LookupStore, NotificationStore, PendingKey, PutOutcome,
    StoreError, TemplateProperty, TemplateStore,
};
use crate::notification::{Notification, ProcessingStatus};
use crate::timestamp;

/// The name of the notifications table's status index.
pub const STATUS_INDEX: &str = "processing-status-index";

/// The four table names of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableNames {
    /// `{stack}-notifications`
    pub notifications: String,
    /// `{stack}-HubspotEmailTemplates`
    pub templates: String,
    /// `{stack}-lookups`
    pub lookups: String,
    /// `{stack}-tokens`
    pub tokens: String,
}

impl TableNames {
    /// The production names for a stack (the table prefix).
    pub fn for_stack(stack: &str) -> Self {
        TableNames {
            notifications: format!("{stack}-notifications"),
            templates: format!("{stack}-HubspotEmailTemplates"),
            lookups: format!("{stack}-lookups"),
            tokens: format!("{stack}-tokens"),
        }
    }
}

fn backend<E>(operation: impl Into<String>, e: E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Backend {
        operation: operation.into(),
        source: Box::new(e),
    }
}

fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// JSON to a DynamoDB attribute, as boto3 writes it (numbers as `N`, null as `NULL`).
pub fn json_to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(json_to_attr).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_attr(v)))
                .collect(),
        ),
    }
}

/// A DynamoDB attribute to JSON. Sets become arrays; binary values are not supported.
pub fn attr_to_json(attr: &AttributeValue) -> Result<Value, String> {
    Ok(match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::L(items) => {
            Value::Array(items.iter().map(attr_to_json).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| attr_to_json(v).map(|v| (k.clone(), v)))
                .collect::<Result<Map<_, _>, _>>()?,
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => {
            Value::Array(items.iter().map(|n| number(n)).collect::<Result<_, _>>()?)
        }
        _ => return Err("binary and unknown attribute types are not supported".into()),
    })
}

fn number(n: &str) -> Result<Value, String> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(Value::Number(u.into()));
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| format!("number {n:?} is out of range"))
}

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads string, number and map attributes of an item, naming what is wrong.
struct ItemReader<'a> {
    table: &'a str,
    item: &'a Item,
    id: String,
}

impl<'a> ItemReader<'a> {
    fn new(table: &'a str, item: &'a Item) -> Self {
        let id = match item.get("id") {
            Some(AttributeValue::S(id)) => id.clone(),
            _ => "(no id)".to_owned(),
        };
        ItemReader { table, item, id }
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.table.to_owned(),
            id: self.id.clone(),
            reason: reason.into(),
        }
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(AttributeValue::N(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(format!("attribute {name} is not a string"))),
        }
    }

    fn string(&self, name: &str) -> Result<String, StoreError> {
        self.opt_string(name)?
            .ok_or_else(|| self.corrupt(format!("attribute {name} is missing")))
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) | Some(AttributeValue::S(v)) => v
                .parse::<f64>()
                .map(|f| Some(f as i64))
                .map_err(|_| self.corrupt(format!("attribute {name} is not a number"))),
            Some(_) => Err(self.corrupt(format!("attribute {name} is not a number"))),
        }
    }

    fn json(&self, name: &str) -> Result<Value, StoreError> {
        match self.item.get(name) {
            None => Ok(Value::Null),
            Some(attr) => attr_to_json(attr).map_err(|e| self.corrupt(format!("{name}: {e}"))),
        }
    }
}

/// Reads a notification from its DynamoDB item (`table` names the table in errors).
pub fn notification_from_item(table: &str, item: &Item) -> Result<Notification, StoreError> {
    let r = ItemReader::new(table, item);
    let kind = r
        .string("type")?
        .parse()
        .map_err(|e: String| r.corrupt(e))?;
    let status = r
        .string("processing_status")?
        .parse()
        .map_err(|e: String| r.corrupt(e))?;
    let created = r.string("created")?;
    Ok(Notification {
        id: r.string("id")?,
        kind,
        label: r.opt_string("label")?.unwrap_or_default(),
        details: r.json("details")?,
        status,
        fail_count: r.opt_i64("processing_fail_count")?.unwrap_or(0).max(0) as u32,
        error_message: r.opt_string("processing_error_message")?,
        modified: r.opt_string("modified")?.unwrap_or_else(|| created.clone()),
        created,
        lease_expires_ms: r.opt_i64("lease_expires")?,
        lease_owner: r.opt_string("lease_owner")?,
    })
}

/// A notification as its DynamoDB item, in the production format.
pub fn notification_to_item(notification: &Notification) -> Item {
    let mut item = Item::from([
        ("id".to_owned(), s(&notification.id)),
        ("type".to_owned(), s(notification.kind.as_str())),
        ("label".to_owned(), s(&notification.label)),
        ("details".to_owned(), json_to_attr(&notification.details)),
        (
            "processing_status".to_owned(),
            s(notification.status.as_str()),
        ),
        (
            "processing_fail_count".to_owned(),
            n_attr(notification.fail_count),
        ),
        ("created".to_owned(), s(&notification.created)),
        ("modified".to_owned(), s(&notification.modified)),
    ]);
    if let Some(message) = &notification.error_message {
        item.insert("processing_error_message".into(), s(message));
    }
    if let Some(lease) = notification.lease_expires_ms {
        item.insert("lease_expires".into(), n(lease));
    }
    if let Some(owner) = &notification.lease_owner {
        item.insert("lease_owner".into(), s(owner));
    }
    item
}

fn n_attr(v: u32) -> AttributeValue {
    n(v)
}

/// The notifications table in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoNotificationStore {
    client: Client,
    table: String,
}

impl DynamoNotificationStore {
    /// The store on `table` (e.g. `TableNames::for_stack("thiscovery-crm").notifications`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoNotificationStore {
            client,
            table: table.into(),
        }
    }

    /// Every item with `status` in the index (all pages), optionally with `created` before a
    /// threshold.
    /// The keys of the items with `status`, through every page of the status index, reading
    /// only the four attributes a [`PendingKey`] holds.
    async fn query_status_keys(
        &self,
        status: ProcessingStatus,
    ) -> Result<Vec<PendingKey>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(STATUS_INDEX)
                .key_condition_expression("#s = :s")
                .projection_expression("#id, #c, #s, #l")
                .expression_attribute_names("#s", "processing_status")
                .expression_attribute_names("#id", "id")
                .expression_attribute_names("#c", "created")
                .expression_attribute_names("#l", "lease_expires")
                .expression_attribute_values(":s", s(status.as_str()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend(format!("query {} for {status} keys", self.table), e))?;
            for item in page.items() {
                let r = ItemReader::new(&self.table, item);
                let status = r
                    .string("processing_status")?
                    .parse()
                    .map_err(|e: String| r.corrupt(e))?;
                out.push(PendingKey::new(
                    r.string("id")?,
                    r.string("created")?,
                    status,
                    r.opt_i64("lease_expires")?,
                ));
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn query_status(
        &self,
        status: ProcessingStatus,
        created_before: Option<&str>,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(STATUS_INDEX)
                .expression_attribute_names("#s", "processing_status")
                .expression_attribute_values(":s", s(status.as_str()))
                .set_exclusive_start_key(start.take());
            query = match created_before {
                Some(threshold) => query
                    .key_condition_expression("#s = :s AND created < :t")
                    .expression_attribute_values(":t", s(threshold)),
                None => query.key_condition_expression("#s = :s"),
            };
            let page = query
                .send()
                .await
                .map_err(|e| backend(format!("query {} for {status} items", self.table), e))?;
            for item in page.items() {
                out.push(notification_from_item(&self.table, item)?);
            }
            // Pages can be empty while more remain: only the key says when to stop.
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl NotificationStore for DynamoNotificationStore {
    async fn put_if_absent(&self, notification: &Notification) -> Result<PutOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(notification_to_item(notification)))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if is_condition_failure(&e) => Ok(PutOutcome::Duplicate),
            Err(e) => Err(backend(format!("put notification into {}", self.table), e)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(format!("get notification from {}", self.table), e))?;
        out.item()
            .map(|item| notification_from_item(&self.table, item))
            .transpose()
    }

    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        let mut all = Vec::new();
        for status in ProcessingStatus::PENDING {
            all.extend(self.query_status(status, None).await?);
        }
        Ok(all)
    }

    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        let mut all = Vec::new();
        for status in ProcessingStatus::PENDING {
            all.extend(self.query_status_keys(status).await?);
        }
        Ok(all)
    }

    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(
                "SET #s = :processing, lease_owner = :owner, lease_expires = :lease, modified = :modified",
            )
            .condition_expression(
                "attribute_exists(id) AND (#s IN (:new, :retrying) OR (#s = :processing AND \
                 (attribute_not_exists(lease_expires) OR lease_expires < :now)))",
            )
            .expression_attribute_names("#s", "processing_status")
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":new", s("new"))
            .expression_attribute_values(":retrying", s("retrying"))
            .expression_attribute_values(":owner", s(&claim.owner))
            .expression_attribute_values(":lease", n(claim.lease_until_ms))
            .expression_attribute_values(":now", n(claim.now_ms))
            .expression_attribute_values(":modified", s(&claim.modified))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes()
                .map(|item| notification_from_item(&self.table, item))
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(backend(format!("claim notification in {}", self.table), e)),
        }
    }

    async fn complete(
        &self,
        id: &str,
        owner: &str,
        completion: &Completion,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression(
                "attribute_exists(id) AND #s = :processing AND lease_owner = :owner",
            )
            .expression_attribute_names("#s", "processing_status")
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":status", s(completion.status.as_str()))
            .expression_attribute_values(":fails", n_attr(completion.fail_count))
            .expression_attribute_values(":modified", s(&completion.modified));
        update = match &completion.error_message {
            Some(message) => update
                .update_expression(
                    "SET #s = :status, processing_fail_count = :fails, modified = :modified, \
                     processing_error_message = :message REMOVE lease_owner, lease_expires",
                )
                .expression_attribute_values(":message", s(message)),
            None => update.update_expression(
                "SET #s = :status, processing_fail_count = :fails, modified = :modified \
                 REMOVE lease_owner, lease_expires, processing_error_message",
            ),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(
                format!("complete notification in {}", self.table),
                e,
            )),
        }
    }

    async fn list_processed_before(
        &self,
        threshold: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        self.query_status(ProcessingStatus::Processed, Some(threshold))
            .await
    }

    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression("#s = :processed")
            .expression_attribute_names("#s", "processing_status")
            .expression_attribute_values(":processed", s("processed"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend(
                format!("delete notification from {}", self.table),
                e,
            )),
        }
    }
}

/// The `HubspotEmailTemplates` table in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoTemplateStore {
    client: Client,
    table: String,
}

impl DynamoTemplateStore {
    /// The store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTemplateStore {
            client,
            table: table.into(),
        }
    }
}

fn properties_from(
    value: &Value,
    r: &ItemReader<'_>,
    name: &str,
) -> Result<Vec<TemplateProperty>, StoreError> {
    match value {
        Value::Null => Ok(Vec::new()),
        other => serde_json::from_value(other.clone())
            .map_err(|e| r.corrupt(format!("{name} must be a list of {{name, required}}: {e}"))),
    }
}

fn strings_from(value: &Value, r: &ItemReader<'_>, name: &str) -> Result<Vec<String>, StoreError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        other => serde_json::from_value(other.clone())
            .map_err(|e| r.corrupt(format!("{name} must be a list of strings: {e}"))),
    }
}

#[async_trait]
impl TemplateStore for DynamoTemplateStore {
    async fn get_template(&self, name: &str) -> Result<Option<EmailTemplate>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(name))
            .send()
            .await
            .map_err(|e| backend(format!("get template from {}", self.table), e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let r = ItemReader::new(&self.table, item);
        Ok(Some(EmailTemplate {
            id: r.string("id")?,
            hs_template_id: r.string("hs_template_id")?,
            from: r.opt_string("from")?,
            cc: strings_from(&r.json("cc")?, &r, "cc")?,
            bcc: strings_from(&r.json("bcc")?, &r, "bcc")?,
            contact_properties: properties_from(
                &r.json("contact_properties")?,
                &r,
                "contact_properties",
            )?,
            custom_properties: properties_from(
                &r.json("custom_properties")?,
                &r,
                "custom_properties",
            )?,
        }))
    }

    async fn put_template(&self, template: &EmailTemplate) -> Result<(), StoreError> {
        let value = serde_json::to_value(template).map_err(|e| backend("serialize template", e))?;
        let Value::Object(map) = value else {
            return Err(StoreError::Corrupt {
                table: self.table.clone(),
                id: template.id.clone(),
                reason: "a template must serialize to an object".into(),
            });
        };
        let item: Item = map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), json_to_attr(v)))
            .collect();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend(format!("put template into {}", self.table), e))?;
        Ok(())
    }
}

/// The `lookups` table in DynamoDB (`id` = key, value in `details`).
#[derive(Debug, Clone)]
pub struct DynamoLookupStore {
    client: Client,
    table: String,
}

impl DynamoLookupStore {
    /// The store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLookupStore {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl LookupStore for DynamoLookupStore {
    async fn get_lookup(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(key))
            .send()
            .await
            .map_err(|e| backend(format!("get lookup from {}", self.table), e))?;
        out.item()
            .map(|item| ItemReader::new(&self.table, item).json("details"))
            .transpose()
    }

    async fn put_lookup(&self, key: &str, details: &Value) -> Result<(), StoreError> {
        let now = timestamp::format(time::OffsetDateTime::now_utc());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", s(key))
            .item("details", json_to_attr(details))
            .item("created", s(&now))
            .item("modified", s(&now))
            .send()
            .await
            .map_err(|e| backend(format!("put lookup into {}", self.table), e))?;
        Ok(())
    }
}

/// The HubSpot token set in the `tokens` table, as the Python stack keeps it: item
/// `id = "hubspot"` (or `"hubspot-emails"`), `type = "oAuth_token"`, `details` = the token
/// endpoint's JSON. The expiry is also stored explicitly (`expires_at_ms`); items without it
/// (written by the Python stack) derive it from `modified` + `expires_in`.
#[derive(Debug, Clone)]
pub struct DynamoTokenStore {
    client: Client,
    table: String,
    item_id: String,
}

impl DynamoTokenStore {
    /// The token item `item_id` in `table`.
    pub fn new(client: Client, table: impl Into<String>, item_id: impl Into<String>) -> Self {
        DynamoTokenStore {
            client,
            table: table.into(),
            item_id: item_id.into(),
        }
    }
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl TokenStore for DynamoTokenStore {
    async fn load(&self) -> Result<Option<TokenSet>, TokenStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(&self.item_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Box::new(backend(format!("get token from {}", self.table), e)))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let r = ItemReader::new(&self.table, item);
        let details = r.json("details").map_err(Box::new)?;
        let field = |name: &str| -> Result<String, TokenStoreError> {
            details
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    Box::new(r.corrupt(format!("details.{name} is missing"))) as TokenStoreError
                })
        };
        let access = field("access_token")?;
        let refresh = field("refresh_token")?;
        let expires_in = details
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0);
        let expires_in = Duration::from_secs(expires_in);
        let obtained_at = match r.opt_i64("expires_at_ms").map_err(Box::new)? {
            Some(at) => UNIX_EPOCH + Duration::from_millis(at.max(0) as u64) - expires_in,
            None => {
                let modified = r.string("modified").map_err(Box::new)?;
                let t = timestamp::parse(&modified).map_err(|e| Box::new(r.corrupt(e)))?;
                UNIX_EPOCH + Duration::from_millis(timestamp::epoch_millis(t).max(0) as u64)
            }
        };
        let mut set = TokenSet::new(access, refresh, expires_in, obtained_at);
        set.token_type = details
            .get("token_type")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Some(set))
    }

    async fn save(&self, tokens: &TokenSet) -> Result<(), TokenStoreError> {
        let access = tokens.access_token.expose_secret().to_owned();
        let refresh = tokens.refresh_token.expose_secret().to_owned();
        let mut details = HashMap::from([
            ("access_token".to_owned(), s(access)),
            ("refresh_token".to_owned(), s(refresh)),
            ("expires_in".to_owned(), n(tokens.expires_in.as_secs())),
        ]);
        if let Some(kind) = &tokens.token_type {
            details.insert("token_type".into(), s(kind));
        }
        let obtained = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(millis(tokens.obtained_at)) * 1_000_000,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let now = timestamp::format(time::OffsetDateTime::now_utc());
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", s(&self.item_id))
            .update_expression(
                "SET #t = :type, details = :details, modified = :obtained, expires_at_ms = :exp, \
                 created = if_not_exists(created, :now)",
            )
            .expression_attribute_names("#t", "type")
            .expression_attribute_values(":type", s("oAuth_token"))
            .expression_attribute_values(":details", AttributeValue::M(details))
            .expression_attribute_values(":obtained", s(timestamp::format(obtained)))
            .expression_attribute_values(":exp", n(millis(tokens.expires_at())))
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| Box::new(backend(format!("save token into {}", self.table), e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_attributes() {
        let value = json!({
            "a": 1, "b": -2, "c": 1.5, "d": null, "e": true, "f": "x",
            "g": [1, "two", {"h": null}], "i": {}, "big": 18446744073709551615u64
        });
        assert_eq!(attr_to_json(&json_to_attr(&value)).unwrap(), value);
        assert_eq!(json_to_attr(&json!(null)), AttributeValue::Null(true));
        assert_eq!(
            json_to_attr(&json!(1610799117840u64)),
            AttributeValue::N("1610799117840".into())
        );
    }

    #[test]
    fn items_round_trip() {
        let mut n = Notification::new(
            "id-1",
            crate::notification::NotificationType::TaskSignup,
            "label",
            json!({"x": [1, null]}),
            time::OffsetDateTime::now_utc(),
        );
        n.lease_owner = Some("me".into());
        n.lease_expires_ms = Some(5);
        n.error_message = Some("oops".into());
        let item = notification_to_item(&n);
        assert_eq!(notification_from_item("t", &item).unwrap(), n);
    }

    #[test]
    fn corrupt_items_name_the_attribute() {
        let item = Item::from([
            ("id".to_owned(), s("x")),
            ("type".to_owned(), s("user-login")),
            ("processing_status".to_owned(), s("weird")),
            ("created".to_owned(), s("2022-01-01 00:00:00.000000+00:00")),
        ]);
        let err = notification_from_item("t", &item).unwrap_err();
        assert!(err.to_string().contains("weird"), "{err}");
    }
}

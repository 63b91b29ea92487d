//! The notifications table (the outbox): [`DynamoNotificationStore`].

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

use super::attr::{
    CREATED, ID, LEASE_EXPIRES, LEASE_OWNER, MODIFIED, PROCESSING_ERROR_MESSAGE,
    PROCESSING_FAIL_COUNT, PROCESSING_STATUS, REPLAY_COUNT, REPLAY_NOTE, STATUS_INDEX, TYPE,
    UNFINISHED_ATTEMPTS,
};
use super::claim::CLAIM_CONDITION;
use super::codec::{
    Item, ItemReader, attr_to_json, n, notification_from_item, notification_to_item,
    pending_key_from_item, s,
};
use super::{Read, get_item, is_condition_failure, sdk};
use crate::notification::{Notification, NotificationType, ProcessingStatus};
use crate::store::{
    Claim, Completion, NotificationStore, PendingKey, ProcessedCursor, ProcessedKey, ProcessedPage,
    PutOutcome, Replay, StatusKey, StoreError,
};

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

    /// A query of the status index for the items with `status` (`#s = :s`; callers add the
    /// key condition).
    fn status_query(&self, status: ProcessingStatus) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(STATUS_INDEX)
            .expression_attribute_names("#s", PROCESSING_STATUS)
            .expression_attribute_values(":s", s(status.as_str()))
    }

    /// The status index's items with `status`, projected to the key attributes (id, created,
    /// status, lease, type).
    fn status_keys_query(&self, status: ProcessingStatus) -> QueryFluentBuilder {
        self.status_query(status)
            .key_condition_expression("#s = :s")
            .projection_expression("#id, #c, #s, #l, #t")
            .expression_attribute_names("#id", ID)
            .expression_attribute_names("#c", CREATED)
            .expression_attribute_names("#l", LEASE_EXPIRES)
            .expression_attribute_names("#t", TYPE)
    }

    /// Every item `query` finds, through all its pages, each read with `decode`. The SDK's
    /// paginator follows `LastEvaluatedKey` (a page can be empty while more remain).
    async fn all_pages<T>(
        &self,
        query: QueryFluentBuilder,
        what: &str,
        decode: impl Fn(&str, &Item) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = query.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = items
            .try_next()
            .await
            .map_err(|e| sdk(format!("query {} for {what}", self.table), e))?
        {
            out.push(decode(&self.table, &item)?);
        }
        Ok(out)
    }

    /// The keys of the items with `status`, through every page of the status index, reading
    /// only the four attributes a [`PendingKey`] holds.
    async fn query_status_keys(
        &self,
        status: ProcessingStatus,
    ) -> Result<Vec<PendingKey>, StoreError> {
        let query = self.status_keys_query(status);
        self.all_pages(query, &format!("{status} keys"), pending_key_from_item)
            .await
    }

    /// The items with `status` (optionally only those `created` before a threshold), through
    /// every page of the status index.
    async fn query_status(
        &self,
        status: ProcessingStatus,
        created_before: Option<&str>,
    ) -> Result<Vec<Notification>, StoreError> {
        let query = match created_before {
            Some(threshold) => self
                .status_query(status)
                .key_condition_expression(format!("#s = :s AND {CREATED} < :t"))
                .expression_attribute_values(":t", s(threshold)),
            None => self
                .status_query(status)
                .key_condition_expression("#s = :s"),
        };
        self.all_pages(query, &format!("{status} items"), notification_from_item)
            .await
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
            .condition_expression(format!("attribute_not_exists({ID})"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if is_condition_failure(&e) => Ok(PutOutcome::Duplicate),
            Err(e) => Err(sdk(format!("put notification into {}", self.table), e)),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        get_item(
            &self.client,
            &self.table,
            id,
            Read::Consistent,
            "notification",
        )
        .await?
        .map(|item| notification_from_item(&self.table, &item))
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
            .key(ID, s(id))
            .update_expression(format!(
                "SET #s = :processing, {LEASE_OWNER} = :owner, {LEASE_EXPIRES} = :lease, \
                 {MODIFIED} = :modified ADD {UNFINISHED_ATTEMPTS} :one"
            ))
            // The claim rule; it names `:processing` too, with the same value.
            .condition_expression(&CLAIM_CONDITION.expression)
            .set_expression_attribute_values(Some(CLAIM_CONDITION.values.clone()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_names("#s", PROCESSING_STATUS)
            .expression_attribute_values(":processing", s(ProcessingStatus::Processing.as_str()))
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
            Err(e) => Err(sdk(format!("claim notification in {}", self.table), e)),
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
            .key(ID, s(id))
            .condition_expression(format!(
                "attribute_exists({ID}) AND #s = :processing AND {LEASE_OWNER} = :owner"
            ))
            .expression_attribute_names("#s", PROCESSING_STATUS)
            .expression_attribute_values(":processing", s(ProcessingStatus::Processing.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":status", s(completion.status.as_str()))
            .expression_attribute_values(":fails", n(completion.fail_count))
            .expression_attribute_values(":modified", s(&completion.modified));
        update = match &completion.error_message {
            Some(message) => update
                .update_expression(format!(
                    "SET #s = :status, {PROCESSING_FAIL_COUNT} = :fails, {MODIFIED} = :modified, \
                     {PROCESSING_ERROR_MESSAGE} = :message REMOVE {LEASE_OWNER}, {LEASE_EXPIRES}, \
                     {UNFINISHED_ATTEMPTS}"
                ))
                .expression_attribute_values(":message", s(message)),
            None => update.update_expression(format!(
                "SET #s = :status, {PROCESSING_FAIL_COUNT} = :fails, {MODIFIED} = :modified \
                 REMOVE {LEASE_OWNER}, {LEASE_EXPIRES}, {PROCESSING_ERROR_MESSAGE}, \
                 {UNFINISHED_ATTEMPTS}"
            )),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk(format!("complete notification in {}", self.table), e)),
        }
    }

    async fn list_processed_before(
        &self,
        threshold: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        self.query_status(ProcessingStatus::Processed, Some(threshold))
            .await
    }

    async fn processed_page(
        &self,
        threshold: &str,
        after: Option<&ProcessedCursor>,
        limit: usize,
    ) -> Result<ProcessedPage, StoreError> {
        let processed = ProcessingStatus::Processed;
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        // `Limit` bounds the items read, emails included; the filter drops emails after the
        // read, so a page can be empty and still have a next one.
        let out = self
            .status_query(processed)
            .key_condition_expression("#s = :s AND #c < :t")
            .filter_expression("#t <> :email")
            .projection_expression("#id, #c, #m")
            .expression_attribute_names("#id", ID)
            .expression_attribute_names("#c", CREATED)
            .expression_attribute_names("#m", MODIFIED)
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_values(":t", s(threshold))
            .expression_attribute_values(":email", s(NotificationType::TransactionalEmail.as_str()))
            .limit(limit)
            .set_exclusive_start_key(after.map(|c| {
                Item::from([
                    (ID.to_owned(), s(&c.id)),
                    (CREATED.to_owned(), s(&c.created)),
                    (PROCESSING_STATUS.to_owned(), s(processed.as_str())),
                ])
            }))
            .send()
            .await
            .map_err(|e| sdk(format!("query {} for cleanup", self.table), e))?;
        let mut page = ProcessedPage::default();
        for item in out.items() {
            let r = ItemReader::new(&self.table, item);
            let created = r.string(CREATED)?;
            page.items.push(ProcessedKey {
                id: r.string(ID)?,
                modified: r.opt_string(MODIFIED)?.unwrap_or_else(|| created.clone()),
                created,
            });
        }
        // Everything the query read and the filter dropped is an email.
        page.skipped_emails = usize::try_from(out.scanned_count() - out.count()).unwrap_or(0);
        page.next = match out.last_evaluated_key() {
            Some(key) => {
                let r = ItemReader::new(&self.table, key);
                Some(ProcessedCursor::new(r.string(CREATED)?, r.string(ID)?))
            }
            None => None,
        };
        Ok(page)
    }

    async fn list_status(&self, status: ProcessingStatus) -> Result<Vec<Notification>, StoreError> {
        self.query_status(status, None).await
    }

    async fn list_status_keys(
        &self,
        status: ProcessingStatus,
    ) -> Result<Vec<StatusKey>, StoreError> {
        let query = self.status_keys_query(status);
        self.all_pages(query, &format!("{status} keys"), |table, item| {
            let r = ItemReader::new(table, item);
            Ok(StatusKey {
                id: r.string(ID)?,
                kind: r.opt_string(TYPE)?.unwrap_or_default(),
                status: r.parsed(PROCESSING_STATUS)?,
                created: r.string(CREATED)?,
                lease_expires_ms: r.lease(),
            })
        })
        .await
    }

    async fn replay(&self, id: &str, replay: &Replay) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ID, s(id))
            .condition_expression(format!("attribute_exists({ID}) AND #s = :dlq"))
            .update_expression(format!(
                "SET #s = :retrying, {PROCESSING_FAIL_COUNT} = :zero, {MODIFIED} = :modified, \
                 {REPLAY_NOTE} = :note ADD {REPLAY_COUNT} :one \
                 REMOVE {LEASE_OWNER}, {LEASE_EXPIRES}, {UNFINISHED_ATTEMPTS}"
            ))
            .expression_attribute_names("#s", PROCESSING_STATUS)
            .expression_attribute_values(":dlq", s(ProcessingStatus::Dlq.as_str()))
            .expression_attribute_values(":retrying", s(ProcessingStatus::Retrying.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":modified", s(&replay.modified))
            .expression_attribute_values(":note", s(&replay.note))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk(format!("replay notification in {}", self.table), e)),
        }
    }

    async fn get_stored(
        &self,
        id: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let Some(item) = get_item(
            &self.client,
            &self.table,
            id,
            Read::Consistent,
            "notification",
        )
        .await?
        else {
            return Ok(None);
        };
        item.iter()
            .map(|(name, attr)| {
                attr_to_json(attr)
                    .map(|value| (name.clone(), value))
                    .map_err(|reason| StoreError::Corrupt {
                        table: self.table.clone(),
                        id: id.to_owned(),
                        reason: format!("{name}: {reason}"),
                    })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ID, s(id))
            .condition_expression("#s = :processed")
            .expression_attribute_names("#s", PROCESSING_STATUS)
            .expression_attribute_values(":processed", s(ProcessingStatus::Processed.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk(format!("delete notification from {}", self.table), e)),
        }
    }
}

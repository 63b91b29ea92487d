//! The notifications table (the outbox): [`DynamoNotificationStore`].

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::codec::{Item, ItemReader, n, n_attr, notification_from_item, notification_to_item, s};
use super::{STATUS_INDEX, backend, is_condition_failure};
use crate::notification::{Notification, ProcessingStatus};
use crate::store::{Claim, Completion, NotificationStore, PendingKey, PutOutcome, StoreError};

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

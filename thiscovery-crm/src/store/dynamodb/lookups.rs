//! The `lookups` table: [`DynamoLookupStore`].

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::attr::{CREATED, DETAILS, ID, MODIFIED};
use super::codec::{ItemReader, json_to_attr, s};
use super::{Read, get_item, sdk};
use crate::store::{LookupStore, StoreError};
use crate::timestamp;

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
        get_item(&self.client, &self.table, key, Read::Eventual, "lookup")
            .await?
            .map(|item| ItemReader::new(&self.table, &item).json(DETAILS))
            .transpose()
    }

    async fn put_lookup(&self, key: &str, details: &Value) -> Result<(), StoreError> {
        let now = timestamp::format(time::OffsetDateTime::now_utc());
        self.client
            .put_item()
            .table_name(&self.table)
            .item(ID, s(key))
            .item(DETAILS, json_to_attr(details))
            .item(CREATED, s(&now))
            .item(MODIFIED, s(&now))
            .send()
            .await
            .map_err(|e| sdk(format!("put lookup into {}", self.table), e))?;
        Ok(())
    }
}

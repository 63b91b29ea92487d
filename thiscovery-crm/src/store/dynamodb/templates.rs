//! The `HubspotEmailTemplates` table: [`DynamoTemplateStore`].

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::attr::{BCC, CC, CONTACT_PROPERTIES, CUSTOM_PROPERTIES, FROM, HS_TEMPLATE_ID, ID};
use super::codec::{Item, ItemReader, json_to_attr};
use super::{Read, backend, get_item, sdk};
use crate::store::{EmailTemplate, StoreError, TemplateProperty, TemplateStore};

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

/// The list of properties in attribute `name` (none if absent).
fn properties_from(r: &ItemReader<'_>, name: &str) -> Result<Vec<TemplateProperty>, StoreError> {
    match r.json(name)? {
        Value::Null => Ok(Vec::new()),
        other => serde_json::from_value(other)
            .map_err(|e| r.corrupt(format!("{name} must be a list of {{name, required}}: {e}"))),
    }
}

/// The list of strings in attribute `name` (none if absent; a single string is a list of one).
fn strings_from(r: &ItemReader<'_>, name: &str) -> Result<Vec<String>, StoreError> {
    match r.json(name)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        other => serde_json::from_value(other)
            .map_err(|e| r.corrupt(format!("{name} must be a list of strings: {e}"))),
    }
}

#[async_trait]
impl TemplateStore for DynamoTemplateStore {
    async fn get_template(&self, name: &str) -> Result<Option<EmailTemplate>, StoreError> {
        let item = get_item(&self.client, &self.table, name, Read::Eventual, "template").await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let r = ItemReader::new(&self.table, &item);
        Ok(Some(EmailTemplate {
            id: r.string(ID)?,
            hs_template_id: r.string(HS_TEMPLATE_ID)?,
            from: r.opt_string(FROM)?,
            cc: strings_from(&r, CC)?,
            bcc: strings_from(&r, BCC)?,
            contact_properties: properties_from(&r, CONTACT_PROPERTIES)?,
            custom_properties: properties_from(&r, CUSTOM_PROPERTIES)?,
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
            .map_err(|e| sdk(format!("put template into {}", self.table), e))?;
        Ok(())
    }
}

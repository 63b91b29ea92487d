//! The `HubspotEmailTemplates` table: [`DynamoTemplateStore`].

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::backend;
use super::codec::{Item, ItemReader, json_to_attr, s};
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

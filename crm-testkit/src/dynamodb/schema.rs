//! The production table schema, kept in one place as plain data.
//!
//! [`TABLES`] describes the four tables exactly as the Python stack deploys them (its SAM
//! `template.yaml`): names are `{stack}-{suffix}`, every table is `PAY_PER_REQUEST`, and the
//! values use CloudFormation's spelling (`S`, `HASH`, `ALL`) so a test can compare them with a
//! template field by field. [`create_tables`] turns the same data into `CreateTable` calls.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use super::HarnessError;

/// A key attribute: its name and its scalar type as CloudFormation spells it (`S`, `N`, `B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The attribute name, e.g. `id`.
    pub name: &'static str,
    /// The attribute type: `S`, `N` or `B`.
    pub attribute_type: &'static str,
}

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index name, e.g. `processing-status-index`.
    pub name: &'static str,
    /// The partition (`HASH`) key.
    pub hash_key: KeySpec,
    /// The sort (`RANGE`) key, if any.
    pub range_key: Option<KeySpec>,
    /// The projection type: `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: &'static str,
}

/// One table of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The part of the name after `{stack}-`, e.g. `notifications`.
    pub suffix: &'static str,
    /// The partition (`HASH`) key.
    pub hash_key: KeySpec,
    /// The sort (`RANGE`) key, if any.
    pub range_key: Option<KeySpec>,
    /// The billing mode, as CloudFormation spells it.
    pub billing_mode: &'static str,
    /// The global secondary indexes.
    pub global_secondary_indexes: &'static [IndexSpec],
}

const fn string_key(name: &'static str) -> KeySpec {
    KeySpec {
        name,
        attribute_type: "S",
    }
}

/// Suffix of the notifications (outbox) table.
pub const NOTIFICATIONS: &str = "notifications";
/// Suffix of the transactional email templates table (`TableNames::templates` in
/// thiscovery-crm).
pub const TEMPLATES: &str = "HubspotEmailTemplates";
/// The old name of [`TEMPLATES`].
#[deprecated(
    since = "0.1.1",
    note = "use TEMPLATES, the name thiscovery-crm's TableNames uses"
)]
pub const EMAIL_TEMPLATES: &str = TEMPLATES;
/// Suffix of the lookups table.
pub const LOOKUPS: &str = "lookups";
/// Suffix of the OAuth tokens table.
pub const TOKENS: &str = "tokens";
/// Name of the notifications table's GSI on `processing_status` and `created`.
pub const PROCESSING_STATUS_INDEX: &str = "processing-status-index";

/// The four production tables, exactly as deployed.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        suffix: NOTIFICATIONS,
        hash_key: string_key("id"),
        range_key: None,
        billing_mode: "PAY_PER_REQUEST",
        global_secondary_indexes: &[IndexSpec {
            name: PROCESSING_STATUS_INDEX,
            hash_key: string_key("processing_status"),
            range_key: Some(string_key("created")),
            projection: "ALL",
        }],
    },
    TableSpec {
        suffix: TEMPLATES,
        hash_key: string_key("id"),
        range_key: None,
        billing_mode: "PAY_PER_REQUEST",
        global_secondary_indexes: &[],
    },
    TableSpec {
        suffix: LOOKUPS,
        hash_key: string_key("id"),
        range_key: None,
        billing_mode: "PAY_PER_REQUEST",
        global_secondary_indexes: &[],
    },
    TableSpec {
        suffix: TOKENS,
        hash_key: string_key("id"),
        range_key: None,
        billing_mode: "PAY_PER_REQUEST",
        global_secondary_indexes: &[],
    },
];

/// `{stack}-notifications`.
pub fn notifications_table(stack: &str) -> String {
    format!("{stack}-{NOTIFICATIONS}")
}

/// `{stack}-HubspotEmailTemplates` (`TableNames::templates` in thiscovery-crm).
pub fn templates_table(stack: &str) -> String {
    format!("{stack}-{TEMPLATES}")
}

/// The old name of [`templates_table`].
#[deprecated(
    since = "0.1.1",
    note = "use templates_table, the name thiscovery-crm's TableNames uses"
)]
pub fn email_templates_table(stack: &str) -> String {
    templates_table(stack)
}

/// `{stack}-lookups`.
pub fn lookups_table(stack: &str) -> String {
    format!("{stack}-{LOOKUPS}")
}

/// `{stack}-tokens`.
pub fn tokens_table(stack: &str) -> String {
    format!("{stack}-{TOKENS}")
}

impl TableSpec {
    /// The deployed name of this table in `stack`: `{stack}-{suffix}`.
    pub fn table_name(&self, stack: &str) -> String {
        format!("{stack}-{}", self.suffix)
    }

    /// Every key attribute of the table and its indexes, each once, in first-seen order (what
    /// CloudFormation's `AttributeDefinitions` lists).
    pub fn attribute_definitions(&self) -> Vec<KeySpec> {
        let mut keys = vec![self.hash_key];
        keys.extend(self.range_key);
        for index in self.global_secondary_indexes {
            keys.push(index.hash_key);
            keys.extend(index.range_key);
        }
        let mut unique: Vec<KeySpec> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.iter().any(|seen| seen.name == key.name) {
                unique.push(key);
            }
        }
        unique
    }
}

fn key_schema(
    hash: KeySpec,
    range: Option<KeySpec>,
) -> Result<Vec<KeySchemaElement>, HarnessError> {
    let mut schema = vec![key_element(hash.name, KeyType::Hash)?];
    if let Some(range) = range {
        schema.push(key_element(range.name, KeyType::Range)?);
    }
    Ok(schema)
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, HarnessError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|source| HarnessError::request("build KeySchemaElement", name, source))
}

/// Creates the four production tables ([`TABLES`]) for `stack` and returns their names.
///
/// DynamoDB Local creates tables `ACTIVE` at once, so they are usable when this returns.
/// Fails if a table of that name already exists: use a fresh stack
/// ([`DynamoDbLocal::new_stack`](super::DynamoDbLocal::new_stack)) per test.
pub async fn create_tables(client: &Client, stack: &str) -> Result<Vec<String>, HarnessError> {
    let mut names = Vec::with_capacity(TABLES.len());
    for spec in TABLES {
        names.push(create_table(client, stack, spec).await?);
    }
    Ok(names)
}

/// Creates one table described by `spec` in `stack` and returns its name.
pub async fn create_table(
    client: &Client,
    stack: &str,
    spec: &TableSpec,
) -> Result<String, HarnessError> {
    let name = spec.table_name(stack);
    let mut request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::from(spec.billing_mode))
        .set_key_schema(Some(key_schema(spec.hash_key, spec.range_key)?));
    for key in spec.attribute_definitions() {
        let definition = AttributeDefinition::builder()
            .attribute_name(key.name)
            .attribute_type(ScalarAttributeType::from(key.attribute_type))
            .build()
            .map_err(|source| HarnessError::request("build AttributeDefinition", &name, source))?;
        request = request.attribute_definitions(definition);
    }
    for index in spec.global_secondary_indexes {
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .set_key_schema(Some(key_schema(index.hash_key, index.range_key)?))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(index.projection))
                    .build(),
            )
            .build()
            .map_err(|source| HarnessError::request("build GlobalSecondaryIndex", &name, source))?;
        request = request.global_secondary_indexes(gsi);
    }
    request
        .send()
        .await
        .map_err(|source| HarnessError::request("CreateTable", &name, source))?;
    Ok(name)
}

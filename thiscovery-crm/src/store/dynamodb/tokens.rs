//! The `tokens` table: [`DynamoTokenStore`], the HubSpot client's token store.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use hubspot_client::auth::{TokenSet, TokenStore, TokenStoreError};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::attr::token::{ACCESS_TOKEN, EXPIRES_IN, REFRESH_TOKEN, TOKEN_TYPE};
use super::attr::{CREATED, DETAILS, EXPIRES_AT_MS, ID, MODIFIED, TOKEN_ITEM_TYPE, TYPE};
use super::codec::{ItemReader, n, s};
use super::{Read, get_item, sdk};
use crate::timestamp;

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
        let item = get_item(
            &self.client,
            &self.table,
            &self.item_id,
            Read::Consistent,
            "token",
        )
        .await
        .map_err(Box::new)?;
        let Some(item) = item else {
            return Ok(None);
        };
        let r = ItemReader::new(&self.table, &item);
        let details = r.json(DETAILS).map_err(Box::new)?;
        let field = |name: &str| -> Result<String, TokenStoreError> {
            details
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    Box::new(r.corrupt(format!("{DETAILS}.{name} is missing"))) as TokenStoreError
                })
        };
        let access = field(ACCESS_TOKEN)?;
        let refresh = field(REFRESH_TOKEN)?;
        let expires_in = details
            .get(EXPIRES_IN)
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0);
        // Whatever the item says, no arithmetic below can overflow.
        let expires_in =
            Duration::from_secs(expires_in).min(hubspot_client::auth::MAX_TOKEN_LIFETIME);
        let obtained_at = match r.opt_i64(EXPIRES_AT_MS).map_err(Box::new)? {
            Some(at) => UNIX_EPOCH
                .checked_add(Duration::from_millis(at.max(0) as u64))
                .and_then(|t| t.checked_sub(expires_in))
                .unwrap_or(UNIX_EPOCH),
            None => {
                let modified = r.string(MODIFIED).map_err(Box::new)?;
                let t = timestamp::parse(&modified).map_err(|e| Box::new(r.corrupt(e)))?;
                UNIX_EPOCH + Duration::from_millis(timestamp::epoch_millis(t).max(0) as u64)
            }
        };
        let mut set = TokenSet::new(access, refresh, expires_in, obtained_at);
        set.token_type = details
            .get(TOKEN_TYPE)
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Some(set))
    }

    async fn save(&self, tokens: &TokenSet) -> Result<(), TokenStoreError> {
        let access = tokens.access_token.expose_secret().to_owned();
        let refresh = tokens.refresh_token.expose_secret().to_owned();
        let mut details = HashMap::from([
            (ACCESS_TOKEN.to_owned(), s(access)),
            (REFRESH_TOKEN.to_owned(), s(refresh)),
            (EXPIRES_IN.to_owned(), n(tokens.expires_in.as_secs())),
        ]);
        if let Some(kind) = &tokens.token_type {
            details.insert(TOKEN_TYPE.into(), s(kind));
        }
        let obtained = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(millis(tokens.obtained_at)) * 1_000_000,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let now = timestamp::format(time::OffsetDateTime::now_utc());
        self.client
            .update_item()
            .table_name(&self.table)
            .key(ID, s(&self.item_id))
            .update_expression(format!(
                "SET #t = :type, {DETAILS} = :details, {MODIFIED} = :obtained, \
                 {EXPIRES_AT_MS} = :exp, {CREATED} = if_not_exists({CREATED}, :now)"
            ))
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_values(":type", s(TOKEN_ITEM_TYPE))
            .expression_attribute_values(":details", AttributeValue::M(details))
            .expression_attribute_values(":obtained", s(timestamp::format(obtained)))
            .expression_attribute_values(":exp", n(millis(tokens.expires_at())))
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| Box::new(sdk(format!("save token into {}", self.table), e)))?;
        Ok(())
    }
}

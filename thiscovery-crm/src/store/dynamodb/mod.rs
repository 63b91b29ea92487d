//! DynamoDB stores on the production tables (`{stack}-notifications`,
//! `{stack}-HubspotEmailTemplates`, `{stack}-lookups`, `{stack}-tokens`), with the Python
//! stack's item format.
//!
//! Status changes are `UpdateItem`s that touch only the attributes they change, so
//! attributes this stack does not know survive. Every update is conditional on the item
//! existing (an unconditional `UpdateItem` would create one).
//!
//! One file per table: `notifications.rs` (the outbox), `templates.rs`, `lookups.rs` and
//! `tokens.rs`; `codec.rs` for the items themselves, `attr.rs` for the attribute names they
//! all use, and `claim.rs` for the claim rule as a condition expression. Everything public is
//! re-exported here.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};

mod attr;
mod budget;
mod claim;
mod codec;
mod lookups;
mod notifications;
mod templates;
mod tokens;

pub use budget::{DynamoBudgetStore, budget_item_id};
pub use codec::{Item, attr_to_json, json_to_attr, notification_from_item, notification_to_item};
pub use lookups::DynamoLookupStore;
pub use notifications::DynamoNotificationStore;
pub use templates::DynamoTemplateStore;
pub use tokens::DynamoTokenStore;

use crate::store::StoreError;

/// The name of the notifications table's status index.
pub const STATUS_INDEX: &str = attr::STATUS_INDEX;

/// How long a connection to DynamoDB may take to open.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long one attempt of a DynamoDB call may take.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a DynamoDB call may take, its retries included.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// `config` with the stack's timeouts for DynamoDB ([`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`],
/// [`OPERATION_TIMEOUT`]). The SDK sets none by default, so a call to an endpoint that
/// accepts and never answers would hang until the Lambda's own timeout.
///
/// ```no_run
/// # async fn f() {
/// let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let config = thiscovery_crm::store::dynamodb::with_timeouts((&aws).into()).build();
/// let dynamodb = aws_sdk_dynamodb::Client::from_conf(config);
/// # }
/// ```
pub fn with_timeouts(
    config: aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::config::Builder {
    config.timeout_config(
        aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    )
}

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
    /// These four names, as they are (tables named without a common prefix).
    pub fn new(
        notifications: impl Into<String>,
        templates: impl Into<String>,
        lookups: impl Into<String>,
        tokens: impl Into<String>,
    ) -> Self {
        TableNames {
            notifications: notifications.into(),
            templates: templates.into(),
            lookups: lookups.into(),
            tokens: tokens.into(),
        }
    }

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

/// A failed SDK call as a [`StoreError`]: a `ValidationException` is
/// [`StoreError::Rejected`] (never retried), anything else [`StoreError::Backend`]. Both show
/// the whole cause as the SDK's `DisplayErrorContext` does (the service's code and message,
/// or the connection error under "dispatch failure"), not only "service error".
fn sdk<E, R>(operation: impl Into<String>, e: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let operation = operation.into();
    // A service error's code and message say it all (the whole context would add the raw
    // response); anything else (a dispatch failure, a timeout) needs its cause chain.
    let detail = match e.as_service_error() {
        Some(se) => format!(
            "{}: {}",
            se.code().unwrap_or("unknown error"),
            se.message().unwrap_or("no message")
        ),
        None => DisplayErrorContext(&e).to_string(),
    };
    if e.as_service_error().and_then(|se| se.code()) == Some("ValidationException") {
        return StoreError::Rejected {
            operation,
            message: detail,
        };
    }
    StoreError::Backend {
        operation,
        source: Box::new(SdkFailure {
            detail,
            source: Box::new(e),
        }),
    }
}

/// An SDK error shown with its whole context, its original kept as the source.
#[derive(Debug)]
struct SdkFailure {
    detail: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for SdkFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// How [`get_item`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Strongly consistent (`ConsistentRead`): sees every write that succeeded before.
    Consistent,
    /// DynamoDB's default, eventually consistent.
    Eventual,
}

/// The item with key `id` in `table`, if any; `what` names the item in errors
/// (`get {what} from {table}`).
async fn get_item(
    client: &Client,
    table: &str,
    id: &str,
    read: Read,
    what: &str,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .key(attr::ID, codec::s(id))
        // Only set when consistent: an eventual read sends what it always sent, nothing.
        .set_consistent_read((read == Read::Consistent).then_some(true))
        .send()
        .await
        .map_err(|e| sdk(format!("get {what} from {table}"), e))?;
    Ok(out.item)
}

fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_set() {
        let config = with_timeouts(aws_sdk_dynamodb::config::Builder::new()).build();
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
    }
}

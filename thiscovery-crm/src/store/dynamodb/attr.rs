//! The names of the tables' attributes and of the notifications table's index, once each.
//!
//! These are the Python stack's names (COMPAT-PYTHON.md): both stacks read each other's items,
//! so a name changes here or nowhere. Status values are not here: they are
//! [`ProcessingStatus::as_str`](crate::notification::ProcessingStatus::as_str).

// Every table.
/// The key of every table's items.
pub(super) const ID: &str = "id";
/// The item's kind: a notification type, or `oAuth_token` for a token item.
pub(super) const TYPE: &str = "type";
/// The payload: a notification's event details, a lookup's value, a token set.
pub(super) const DETAILS: &str = "details";
/// When the item was first written (the tables' string form).
pub(super) const CREATED: &str = "created";
/// When the item last changed (the tables' string form).
pub(super) const MODIFIED: &str = "modified";

// The notifications table.
/// A notification's human label.
pub(super) const LABEL: &str = "label";
/// Where a notification is in the outbox: the status index's hash key.
pub(super) const PROCESSING_STATUS: &str = "processing_status";
/// How many attempts failed with a retryable error.
pub(super) const PROCESSING_FAIL_COUNT: &str = "processing_fail_count";
/// Why the last attempt failed.
pub(super) const PROCESSING_ERROR_MESSAGE: &str = "processing_error_message";
/// Until when (epoch milliseconds) a claim holds (added by this stack).
pub(super) const LEASE_EXPIRES: &str = "lease_expires";
/// Who holds the claim (added by this stack).
pub(super) const LEASE_OWNER: &str = "lease_owner";
/// Claims made since the last result was written (added by this stack): a claim adds one,
/// a result removes it, so more than one means earlier attempts ended without a result.
pub(super) const UNFINISHED_ATTEMPTS: &str = "unfinished_attempts";
/// How many times an operator put the item back from `dlq` (added by this stack: `crm
/// replay`).
pub(super) const REPLAY_COUNT: &str = "replay_count";
/// The last replay's note: when, by whom, and the error it had been dead-lettered with.
pub(super) const REPLAY_NOTE: &str = "replay_note";
/// The notifications table's index: hash [`PROCESSING_STATUS`], range [`CREATED`].
pub(super) const STATUS_INDEX: &str = "processing-status-index";

// The email templates table.
/// HubSpot's transactional email id.
pub(super) const HS_TEMPLATE_ID: &str = "hs_template_id";
/// The `From` header.
pub(super) const FROM: &str = "from";
/// Cc addresses.
pub(super) const CC: &str = "cc";
/// Bcc addresses.
pub(super) const BCC: &str = "bcc";
/// The contact properties a template uses.
pub(super) const CONTACT_PROPERTIES: &str = "contact_properties";
/// The custom properties a template uses.
pub(super) const CUSTOM_PROPERTIES: &str = "custom_properties";

// The tokens table.
/// The [`TYPE`] of a token item.
pub(super) const TOKEN_ITEM_TYPE: &str = "oAuth_token";
/// The token's expiry, epoch milliseconds (added by this stack; Python's items lack it).
pub(super) const EXPIRES_AT_MS: &str = "expires_at_ms";
/// Fields of a token item's [`DETAILS`]: the token endpoint's JSON.
pub(super) mod token {
    /// The access token.
    pub(in crate::store::dynamodb) const ACCESS_TOKEN: &str = "access_token";
    /// The refresh token.
    pub(in crate::store::dynamodb) const REFRESH_TOKEN: &str = "refresh_token";
    /// Seconds the access token is valid from when it was obtained.
    pub(in crate::store::dynamodb) const EXPIRES_IN: &str = "expires_in";
    /// The token type (`bearer`).
    pub(in crate::store::dynamodb) const TOKEN_TYPE: &str = "token_type";
}

// A shared rate budget's item (in the tokens table by default).

/// The [`TYPE`] of a rate budget item.
pub(super) const BUDGET_ITEM_TYPE: &str = "rate_budget";
/// The shared schedule's theoretical arrival time, microseconds since the Unix epoch.
pub(super) const TAT_US: &str = "tat_us";

//! Transactional email single-send v3 (`/marketing/v3/transactional/single-email/send`) and
//! send statuses (`/marketing/v3/email/send-statuses/{statusId}`).
//!
//! Every send carries a `sendId`: HubSpot sends at most one email per `sendId`, so a retried
//! send cannot send twice (a repeat answers with `sendResult: IDEMPOTENT_IGNORE`). The request
//! type makes the `sendId` mandatory.
//!
//! ```no_run
//! # async fn run(client: hubspot_client::Client) -> hubspot_client::Result<()> {
//! use hubspot_client::transactional::{SendId, SingleSendRequest};
//!
//! let send = SingleSendRequest::new(33531457008, "ada@example.org", SendId::new("notification-7f3a"))
//!     .custom_property("project_task_name", "CTG Monitoring")
//!     .cc("researcher@example.org");
//! let status = client.transactional().send(&send).await?;
//! println!("{} {}", status.status_id, status.status);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::ids::StatusId;
use crate::macros::server_enum;
use crate::send::Request;

/// A single-send request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SingleSendRequest {
    /// The transactional email's content id (from HubSpot's email tool).
    pub email_id: u64,
    /// Recipients and headers.
    pub message: SingleSendMessage,
    /// Contact properties to set on the recipient (visible as `{{ contact.NAME }}`).
    pub contact_properties: BTreeMap<String, String>,
    /// Values for the template (visible as `{{ custom.NAME }}`).
    pub custom_properties: BTreeMap<String, serde_json::Value>,
}

/// The message part of a [`SingleSendRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SingleSendMessage {
    /// The recipient's address.
    pub to: String,
    /// The `From` header (HubSpot uses the email's own when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The idempotency key: at most one email is sent per `sendId`.
    pub send_id: String,
    /// Cc addresses (always sent, `[]` when none: the date versions require the list).
    pub cc: Vec<String>,
    /// Bcc addresses (always sent).
    pub bcc: Vec<String>,
    /// Reply-To addresses (always sent).
    pub reply_to: Vec<String>,
}

/// A single-send's idempotency key (`message.sendId`): HubSpot sends at most one email per
/// key. A type of its own so that it cannot be swapped with the recipient unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SendId(String);

impl SendId {
    /// A send id (e.g. the notification's id, so a retried send is never sent twice).
    pub fn new(id: impl Into<String>) -> Self {
        SendId(id.into())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SendId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SingleSendRequest {
    /// Sends email `email_id` to `to`, at most once per `send_id`.
    pub fn new(email_id: u64, to: impl Into<String>, send_id: SendId) -> Self {
        SingleSendRequest {
            email_id,
            message: SingleSendMessage {
                to: to.into(),
                from: None,
                send_id: send_id.0,
                cc: Vec::new(),
                bcc: Vec::new(),
                reply_to: Vec::new(),
            },
            contact_properties: BTreeMap::new(),
            custom_properties: BTreeMap::new(),
        }
    }

    /// Sets the `From` header.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.message.from = Some(from.into());
        self
    }

    /// Adds a Cc address.
    pub fn cc(mut self, address: impl Into<String>) -> Self {
        self.message.cc.push(address.into());
        self
    }

    /// Adds a Bcc address.
    pub fn bcc(mut self, address: impl Into<String>) -> Self {
        self.message.bcc.push(address.into());
        self
    }

    /// Adds a Reply-To address.
    pub fn reply_to(mut self, address: impl Into<String>) -> Self {
        self.message.reply_to.push(address.into());
        self
    }

    /// Sets a contact property.
    pub fn contact_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.contact_properties.insert(name.into(), value.into());
        self
    }

    /// Sets a custom property.
    pub fn custom_property(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.custom_properties.insert(name.into(), value.into());
        self
    }

    fn validate(&self) -> Result<()> {
        if self.message.send_id.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "a single-send needs a sendId so a retry cannot send twice".into(),
            ));
        }
        if self.message.to.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "a single-send needs message.to".into(),
            ));
        }
        Ok(())
    }
}

server_enum! {
    /// Where a send is in its life.
    pub enum SendStatus {
        Pending => "PENDING",
        Processing => "PROCESSING",
        Canceled => "CANCELED",
        Complete => "COMPLETE",
    }
}

server_enum! {
    /// The result of a send, as HubSpot reports it.
    pub enum SendResult {
    AddressListBombed => "ADDRESS_LIST_BOMBED",
    AddressOnlyAcceptedOnProd => "ADDRESS_ONLY_ACCEPTED_ON_PROD",
    AddressOptedOut => "ADDRESS_OPTED_OUT",
    AttachmentDownloadQueueFull => "ATTACHMENT_DOWNLOAD_QUEUE_FULL",
    BlockedAddress => "BLOCKED_ADDRESS",
    BlockedDomain => "BLOCKED_DOMAIN",
    BrandRecipientFatigueSuppressed => "BRAND_RECIPIENT_FATIGUE_SUPPRESSED",
    CampaignCancelled => "CAMPAIGN_CANCELLED",
    CancelledAbuse => "CANCELLED_ABUSE",
    CorruptInput => "CORRUPT_INPUT",
    EmailDisabled => "EMAIL_DISABLED",
    EmailUnconfirmed => "EMAIL_UNCONFIRMED",
    GdprDoiEnabled => "GDPR_DOI_ENABLED",
    GraymailSuppressed => "GRAYMAIL_SUPPRESSED",
    HublLimitExceeded => "HUBL_LIMIT_EXCEEDED",
    IdempotentFail => "IDEMPOTENT_FAIL",
    IdempotentIgnore => "IDEMPOTENT_IGNORE",
    InvalidAppIdAttribution => "INVALID_APP_ID_ATTRIBUTION",
    InvalidFromAddress => "INVALID_FROM_ADDRESS",
    InvalidToAddress => "INVALID_TO_ADDRESS",
    LowContactQualityScore => "LOW_CONTACT_QUALITY_SCORE",
    MissingContent => "MISSING_CONTENT",
    MissingRequiredParameter => "MISSING_REQUIRED_PARAMETER",
    MissingTemplateProperties => "MISSING_TEMPLATE_PROPERTIES",
    MtaIgnore => "MTA_IGNORE",
    NonMarketableContact => "NON_MARKETABLE_CONTACT",
    PortalAuthenticationFailure => "PORTAL_AUTHENTICATION_FAILURE",
    PortalExpired => "PORTAL_EXPIRED",
    PortalMissingMarketingScope => "PORTAL_MISSING_MARKETING_SCOPE",
    PortalNotAuthorizedForApplication => "PORTAL_NOT_AUTHORIZED_FOR_APPLICATION",
    PortalOverLimit => "PORTAL_OVER_LIMIT",
    PortalSuspended => "PORTAL_SUSPENDED",
    PreviousSpam => "PREVIOUS_SPAM",
    PreviouslyBounced => "PREVIOUSLY_BOUNCED",
    PreviouslyUnsubscribedBrand => "PREVIOUSLY_UNSUBSCRIBED_BRAND",
    PreviouslyUnsubscribedBusinessUnit => "PREVIOUSLY_UNSUBSCRIBED_BUSINESS_UNIT",
    PreviouslyUnsubscribedMessage => "PREVIOUSLY_UNSUBSCRIBED_MESSAGE",
    PreviouslyUnsubscribedPortal => "PREVIOUSLY_UNSUBSCRIBED_PORTAL",
    QuarantinedAddress => "QUARANTINED_ADDRESS",
    Queued => "QUEUED",
    RecipientFatigueSuppressed => "RECIPIENT_FATIGUE_SUPPRESSED",
    Sent => "SENT",
    TemplateRenderException => "TEMPLATE_RENDER_EXCEPTION",
    Throttled => "THROTTLED",
    TooManyRecipients => "TOO_MANY_RECIPIENTS",
    UbbGovernanceMissing => "UBB_GOVERNANCE_MISSING",
    UnconfiguredSendingDomain => "UNCONFIGURED_SENDING_DOMAIN",
    Undeliverable => "UNDELIVERABLE",
    ValidationFailed => "VALIDATION_FAILED",    }
}

impl SendResult {
    /// `true` when HubSpot sent or queued the email, or ignored a repeat of a `sendId` it has
    /// already sent (`SENT`, `QUEUED`, `IDEMPOTENT_IGNORE`).
    pub fn is_sent(&self) -> bool {
        matches!(
            self,
            SendResult::Sent | SendResult::Queued | SendResult::IdempotentIgnore
        )
    }

    /// `true` for results a retry may change (`THROTTLED`, `ATTACHMENT_DOWNLOAD_QUEUE_FULL`,
    /// `PORTAL_OVER_LIMIT`); every other non-sent result is final.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SendResult::Throttled
                | SendResult::AttachmentDownloadQueueFull
                | SendResult::PortalOverLimit
        )
    }
}

/// The event id of a send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct SendEventId {
    /// The event's id.
    pub id: String,
    /// When it was created.
    #[serde(default)]
    pub created: Option<String>,
}

/// The status of a send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EmailSendStatus {
    /// The id to query the status with.
    pub status_id: StatusId,
    /// Where the send is.
    pub status: SendStatus,
    /// The result, once known.
    #[serde(default)]
    pub send_result: Option<SendResult>,
    /// When the send was requested.
    #[serde(default)]
    pub requested_at: Option<String>,
    /// When processing started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When processing completed.
    #[serde(default)]
    pub completed_at: Option<String>,
    /// The send's event id.
    #[serde(default)]
    pub event_id: Option<SendEventId>,
    /// A message from HubSpot.
    #[serde(default)]
    pub message: Option<String>,
}

/// The transactional email API. Get it with [`Client::transactional`].
#[derive(Debug, Clone, Copy)]
pub struct TransactionalApi<'a> {
    pub(crate) client: &'a Client,
}

impl TransactionalApi<'_> {
    /// Sends a transactional email. Idempotent thanks to the `sendId`: retried on every
    /// retryable failure.
    pub async fn send(&self, request: &SingleSendRequest) -> Result<EmailSendStatus> {
        request.validate()?;
        let path = self.client.inner.api_version.single_send();
        let request = Request::new("transactional.send", Method::POST, &path).json(request)?;
        self.client.inner.call(request).await
    }

    /// Reads a send's status.
    pub async fn status(&self, status_id: &StatusId) -> Result<EmailSendStatus> {
        let request = Request::new(
            "transactional.status",
            Method::GET,
            self.client.inner.api_version.send_statuses(),
        )
        .segment(status_id.as_str());
        self.client.inner.call(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_server_values_decode() {
        let s: EmailSendStatus = serde_json::from_str(
            r#"{"statusId":"s1","status":"ARCHIVED","sendResult":"SOMETHING_NEW"}"#,
        )
        .unwrap();
        assert_eq!(s.status, SendStatus::Unknown("ARCHIVED".into()));
        assert_eq!(
            s.send_result,
            Some(SendResult::Unknown("SOMETHING_NEW".into()))
        );
        let s: EmailSendStatus = serde_json::from_str(
            r#"{"statusId":12,"status":"COMPLETE","sendResult":"IDEMPOTENT_IGNORE"}"#,
        )
        .unwrap();
        assert_eq!(s.status_id.as_str(), "12");
        assert!(s.send_result.unwrap().is_sent());
    }

    #[test]
    fn every_known_send_result_round_trips() {
        for text in include_str!("../tests/data/send-results.txt").split_whitespace() {
            let parsed: SendResult = text.parse().unwrap();
            assert!(
                !matches!(parsed, SendResult::Unknown(_)),
                "{text} is unknown"
            );
            assert_eq!(parsed.as_str(), text);
        }
    }

    #[test]
    fn request_shape() {
        let r = SingleSendRequest::new(1, "a@b.org", SendId::new("s-1")).custom_property("n", 3);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "emailId": 1,
                "message": {"to": "a@b.org", "sendId": "s-1", "cc": [], "bcc": [], "replyTo": []},
                "contactProperties": {},
                "customProperties": {"n": 3}
            })
        );
        assert!(
            SingleSendRequest::new(1, "a@b.org", SendId::new(" "))
                .validate()
                .is_err()
        );
    }
}

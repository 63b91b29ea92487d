//! The fake's own state types: what tests inspect. Deliberately not the client's models.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize, Serializer};

use super::Endpoint;
use super::util::iso8601;

fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso8601(*t))
}

/// A contact as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// HubSpot's numeric id as a string (`"1001"`).
    pub id: String,
    /// Every property, as strings, including `email` (lowercased), `hs_object_id`,
    /// `createdate` and `lastmodifieddate`.
    pub properties: BTreeMap<String, String>,
    /// When it was created.
    #[serde(serialize_with = "ser_time")]
    pub created_at: SystemTime,
    /// When it was last written.
    #[serde(serialize_with = "ser_time")]
    pub updated_at: SystemTime,
    /// Archived (deleted) contacts stay listed with this flag set; lookups no longer find them.
    pub archived: bool,
}

impl Contact {
    /// The contact's email, if it has one.
    pub fn email(&self) -> Option<&str> {
        self.properties.get("email").map(String::as_str)
    }

    /// A property value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// A timeline event stamped on a contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEvent {
    /// The event id (the caller's, or a generated one).
    pub id: String,
    /// The template the event was created from.
    pub event_template_id: String,
    /// The contact's id.
    pub object_id: String,
    /// The email the caller identified the contact by, if that is how it did.
    pub email: Option<String>,
    /// Event tokens, as strings.
    pub tokens: BTreeMap<String, String>,
    /// `extraData`, as sent.
    pub extra_data: Option<serde_json::Value>,
    /// The event's timestamp as answered (ISO-8601).
    pub timestamp: String,
    /// When the fake recorded it.
    #[serde(serialize_with = "ser_time")]
    pub created_at: SystemTime,
}

/// A transactional email the fake "sent" (duplicates ignored by `sendId` are not listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEmail {
    /// The send's status id (`GET /marketing/v3/email/send-statuses/{statusId}`).
    pub status_id: String,
    /// The transactional email's content id.
    pub email_id: u64,
    /// Recipient.
    pub to: String,
    /// `message.from`, if given.
    pub from: Option<String>,
    /// `message.sendId`, if given.
    pub send_id: Option<String>,
    /// `message.cc`.
    pub cc: Vec<String>,
    /// `message.bcc`.
    pub bcc: Vec<String>,
    /// `message.replyTo` (a string or a list on the wire).
    pub reply_to: Vec<String>,
    /// `contactProperties`, values as strings.
    pub contact_properties: BTreeMap<String, String>,
    /// `customProperties`, as sent.
    pub custom_properties: BTreeMap<String, serde_json::Value>,
    /// When the send was requested.
    #[serde(serialize_with = "ser_time")]
    pub requested_at: SystemTime,
}

/// One request the fake received (admin API requests are not journaled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// What the request was for.
    pub endpoint: Endpoint,
    /// HTTP method (`"POST"`).
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Status answered; `None` when the connection was dropped by a fault.
    pub status: Option<u16>,
    /// Whether an injected fault answered (or delayed) it.
    pub faulted: bool,
    /// Who the request authenticated as: `oauth:{client_id}` for an OAuth access token,
    /// `private-app:{token}` for a static token; `None` for requests that are not API calls
    /// (token refreshes), that did not authenticate, or whose connection a fault dropped.
    /// Tells which OAuth app each call went through.
    pub app: Option<String>,
    /// The API version its path named: `v1`, `v3`, or a date version such as `2026-09`
    /// (`None` for paths without one). Tells which version a client speaks.
    pub version: Option<String>,
    /// When it was answered.
    #[serde(serialize_with = "ser_time")]
    pub at: SystemTime,
}

/// An OAuth token set minted by [`FakeHubSpot::issue_token_set`](super::FakeHubSpot::issue_token_set),
/// shaped like the token endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSet {
    /// A valid access token.
    pub access_token: String,
    /// A refresh token registered for the client.
    pub refresh_token: String,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// `"bearer"`.
    pub token_type: String,
    /// The OAuth client the tokens belong to.
    pub client_id: String,
}

/// Initial data for a fake, from code or from a JSON seed file (`--seed seed.json`):
///
/// ```json
/// {
///   "contacts": [{"email": "ada@example.com", "properties": {"firstname": "Ada"}}],
///   "static_tokens": ["my-private-app-token"],
///   "timeline_templates": ["1234567"],
///   "oauth_clients": [{"client_id": "id", "client_secret": "secret"}],
///   "refresh_tokens": ["my-refresh-token"]
/// }
/// ```
///
/// Every field is optional. Refresh tokens belong to the first OAuth client listed here, or to
/// the default test client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Contacts to create, in order (ids are assigned from 1001 up).
    #[serde(default)]
    pub contacts: Vec<SeedContact>,
    /// Extra bearer tokens accepted as private-app tokens.
    #[serde(default)]
    pub static_tokens: Vec<String>,
    /// Timeline event template ids to register.
    #[serde(default)]
    pub timeline_templates: Vec<String>,
    /// Extra OAuth clients.
    #[serde(default)]
    pub oauth_clients: Vec<SeedClient>,
    /// Refresh tokens to accept.
    #[serde(default)]
    pub refresh_tokens: Vec<String>,
}

impl Seed {
    /// Parses a seed from JSON; the error names the offending field.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// A contact in a [`Seed`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedContact {
    /// The contact's email.
    pub email: String,
    /// Other properties; numbers and booleans are stored as their text.
    #[serde(default)]
    pub properties: BTreeMap<String, serde_json::Value>,
}

/// An OAuth client in a [`Seed`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
}

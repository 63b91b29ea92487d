//! [`Crm::builder`] and [`Stores`]: how the stack is wired together.

use std::fmt;
use std::sync::Arc;

use hubspot_client::auth::{MemoryTokenStore, TokenStore};

use super::{Crm, CrmConfig};
use crate::clock::{Clock, SystemClock};
use crate::directory::UserDirectory;
#[cfg(feature = "dynamodb")]
use crate::store::dynamodb::{
    DynamoLookupStore, DynamoNotificationStore, DynamoTemplateStore, DynamoTokenStore, TableNames,
};
use crate::store::memory::{MemoryLookupStore, MemoryNotificationStore, MemoryTemplateStore};
use crate::store::{LookupStore, NotificationStore, TemplateStore};

/// The tokens table item of the main HubSpot app (contacts, timeline), as the Python stack
/// names it.
pub const MAIN_TOKEN_ITEM: &str = "hubspot";

/// The tokens table item of the emails HubSpot app (transactional single-send), as the Python
/// stack names it.
pub const EMAILS_TOKEN_ITEM: &str = "hubspot-emails";

/// The stack's four stores together: the notifications outbox, the email templates, the
/// lookups and the HubSpot token set.
///
/// ```
/// use thiscovery_crm::Stores;
///
/// let stores = Stores::memory();
/// # let _ = stores;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Stores {
    /// The notifications table (the outbox).
    pub notifications: Arc<dyn NotificationStore>,
    /// The `HubspotEmailTemplates` table.
    pub templates: Arc<dyn TemplateStore>,
    /// The lookups table.
    pub lookups: Arc<dyn LookupStore>,
    /// Where the main HubSpot app's OAuth token set lives (tokens table item
    /// [`MAIN_TOKEN_ITEM`]). The stack itself does not read it: it is what a HubSpot client
    /// with OAuth is built on (see [`StackConfig::build`](crate::config::StackConfig::build)).
    pub tokens: Arc<dyn TokenStore>,
    /// Where the emails HubSpot app's OAuth token set lives (tokens table item
    /// [`EMAILS_TOKEN_ITEM`]); like [`tokens`](Self::tokens), read only by a HubSpot client.
    pub email_tokens: Arc<dyn TokenStore>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("notifications", &self.notifications)
            .field("templates", &self.templates)
            .field("lookups", &self.lookups)
            .field("tokens", &self.tokens)
            .field("email_tokens", &self.email_tokens)
            .finish()
    }
}

impl Stores {
    /// Fresh, empty in-memory stores (tests, the demo).
    pub fn memory() -> Stores {
        Stores {
            notifications: Arc::new(MemoryNotificationStore::new()),
            templates: Arc::new(MemoryTemplateStore::new()),
            lookups: Arc::new(MemoryLookupStore::new()),
            tokens: Arc::new(MemoryTokenStore::new()),
            email_tokens: Arc::new(MemoryTokenStore::new()),
        }
    }

    /// The stores on the DynamoDB tables `tables`, through `client` (feature `dynamodb`). The token stores are the
    /// tokens table's items [`MAIN_TOKEN_ITEM`] and [`EMAILS_TOKEN_ITEM`].
    #[cfg(feature = "dynamodb")]
    pub fn dynamodb(client: aws_sdk_dynamodb::Client, tables: &TableNames) -> Stores {
        Stores {
            notifications: Arc::new(DynamoNotificationStore::new(
                client.clone(),
                tables.notifications.clone(),
            )),
            templates: Arc::new(DynamoTemplateStore::new(
                client.clone(),
                tables.templates.clone(),
            )),
            lookups: Arc::new(DynamoLookupStore::new(
                client.clone(),
                tables.lookups.clone(),
            )),
            tokens: Arc::new(DynamoTokenStore::new(
                client.clone(),
                tables.tokens.clone(),
                MAIN_TOKEN_ITEM,
            )),
            email_tokens: Arc::new(DynamoTokenStore::new(
                client,
                tables.tokens.clone(),
                EMAILS_TOKEN_ITEM,
            )),
        }
    }

    /// Stores from their parts (your own implementations, or a mix). The emails app's token
    /// store starts as a fresh in-memory one: set it with
    /// [`with_email_tokens`](Self::with_email_tokens).
    pub fn from_parts(
        notifications: Arc<dyn NotificationStore>,
        templates: Arc<dyn TemplateStore>,
        lookups: Arc<dyn LookupStore>,
        tokens: Arc<dyn TokenStore>,
    ) -> Stores {
        Stores {
            notifications,
            templates,
            lookups,
            tokens,
            email_tokens: Arc::new(MemoryTokenStore::new()),
        }
    }

    /// The same stores with `email_tokens` as the emails app's token store.
    pub fn with_email_tokens(mut self, email_tokens: Arc<dyn TokenStore>) -> Stores {
        self.email_tokens = email_tokens;
        self
    }

    /// The same stores with `notifications` in place of the outbox (e.g. a wrapper that
    /// counts or slows calls).
    pub fn with_notifications(mut self, notifications: Arc<dyn NotificationStore>) -> Stores {
        self.notifications = notifications;
        self
    }
}

/// What [`CrmBuilder::build`] found missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required part was not given.
    #[error("Crm::builder() needs {0}: call .{0}(...) before .build()")]
    Missing(&'static str),
}

/// Builds a [`Crm`]: a HubSpot client, the [`Stores`] and a
/// [`UserDirectory`] are required; a second HubSpot client for emails (default: the main one),
/// the clock (the system's) and the settings ([`CrmConfig::default`]) are optional.
///
/// The Python stack this replaces talks to HubSpot through two OAuth apps: the main app
/// (contacts and timeline events; token item [`MAIN_TOKEN_ITEM`]) and the emails app
/// (transactional single-send; token item [`EMAILS_TOKEN_ITEM`]), each with its own token
/// refresh and its own rate-limit budget. Give the second one with
/// [`emails_hubspot`](CrmBuilder::emails_hubspot); with one app, give only
/// [`hubspot`](CrmBuilder::hubspot).
///
/// ```
/// use std::sync::Arc;
/// use thiscovery_crm::directory::MemoryDirectory;
/// use thiscovery_crm::{Crm, CrmConfig, Stores};
///
/// let hubspot = hubspot_client::Client::builder()
///     .static_token("pat-example")
///     .build()
///     .unwrap();
/// let crm = Crm::builder()
///     .hubspot(hubspot)
///     .stores(Stores::memory())
///     .directory(Arc::new(MemoryDirectory::new()))
///     .config(CrmConfig::for_env("test"))
///     .build()
///     .unwrap();
/// assert_eq!(crm.config().env, "test");
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct CrmBuilder {
    hubspot: Option<hubspot_client::Client>,
    emails_hubspot: Option<hubspot_client::Client>,
    stores: Option<Stores>,
    directory: Option<Arc<dyn UserDirectory>>,
    clock: Option<Arc<dyn Clock>>,
    config: CrmConfig,
}

impl CrmBuilder {
    /// The HubSpot client of the main app (required): contacts and timeline events, and
    /// emails too unless [`emails_hubspot`](Self::emails_hubspot) is given.
    pub fn hubspot(mut self, client: hubspot_client::Client) -> Self {
        self.hubspot = Some(client);
        self
    }

    /// The HubSpot client of the emails app (default: the main app's client): every
    /// transactional single-send goes through it, and nothing else does.
    pub fn emails_hubspot(mut self, client: hubspot_client::Client) -> Self {
        self.emails_hubspot = Some(client);
        self
    }

    /// The stores (required).
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// What thiscovery-core knows of users and projects (required).
    pub fn directory(mut self, directory: Arc<dyn UserDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The settings (default: [`CrmConfig::default`]).
    pub fn config(mut self, config: CrmConfig) -> Self {
        self.config = config;
        self
    }

    /// The stack, or which required part is missing.
    pub fn build(self) -> Result<Crm, BuildError> {
        let stores = self.stores.ok_or(BuildError::Missing("stores"))?;
        let hubspot = self.hubspot.ok_or(BuildError::Missing("hubspot"))?;
        Ok(Crm {
            hubspot_emails: self.emails_hubspot.unwrap_or_else(|| hubspot.clone()),
            hubspot,
            notifications: stores.notifications,
            templates: stores.templates,
            lookups: stores.lookups,
            directory: self.directory.ok_or(BuildError::Missing("directory"))?,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            config: self.config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::MemoryDirectory;

    #[test]
    fn build_names_what_is_missing() {
        let hubspot = || {
            hubspot_client::Client::builder()
                .static_token("t")
                .build()
                .unwrap()
        };
        let directory = || -> Arc<dyn UserDirectory> { Arc::new(MemoryDirectory::new()) };
        let err = Crm::builder()
            .hubspot(hubspot())
            .directory(directory())
            .build()
            .unwrap_err();
        assert_eq!(err, BuildError::Missing("stores"));
        assert!(err.to_string().contains(".stores("), "{err}");
        let err = Crm::builder()
            .stores(Stores::memory())
            .directory(directory())
            .build()
            .unwrap_err();
        assert_eq!(err, BuildError::Missing("hubspot"));
        let err = Crm::builder()
            .hubspot(hubspot())
            .stores(Stores::memory())
            .build()
            .unwrap_err();
        assert_eq!(err, BuildError::Missing("directory"));
        let crm = Crm::builder()
            .hubspot(hubspot())
            .stores(Stores::memory())
            .directory(directory())
            .build()
            .unwrap();
        assert_eq!(crm.config(), &CrmConfig::default());
    }
}

//! OAuth token management (`/oauth/v3/token`).
//!
//! Tokens normally take care of themselves: the client refreshes them ahead of expiry. This
//! area is for the rest: forcing a refresh, reading the current set, and exchanging an
//! authorization code when an app is installed.
//!
//! ```no_run
//! # async fn run(client: hubspot_client::Client) -> hubspot_client::Result<()> {
//! let tokens = client.oauth().refresh_now().await?;
//! println!("new access token expires at {:?}", tokens.expires_at());
//! # Ok(()) }
//! ```

use std::time::SystemTime;

use secrecy::ExposeSecret;

use crate::auth::{TokenEndpoint, TokenManager, TokenSet};
use crate::client::{Auth, Client};
use crate::error::{Error, Result};

/// The OAuth API. Get it with [`Client::oauth`].
#[derive(Debug, Clone, Copy)]
pub struct OAuthApi<'a> {
    pub(crate) client: &'a Client,
}

impl OAuthApi<'_> {
    fn manager(&self) -> Result<&TokenManager> {
        match &self.client.inner.auth {
            Auth::OAuth(manager) => Ok(manager),
            Auth::Static(_) => Err(Error::Config(
                "this client uses a static token, not OAuth".into(),
            )),
        }
    }

    /// The current token set, refreshed first if it is close to expiry.
    pub async fn token_set(&self) -> Result<TokenSet> {
        let manager = self.manager()?;
        manager.token(self.client.inner.as_ref()).await
    }

    /// Refreshes the access token now, whatever its expiry, and saves the new set.
    pub async fn refresh_now(&self) -> Result<TokenSet> {
        let manager = self.manager()?;
        manager.force_refresh(self.client.inner.as_ref()).await
    }

    /// Exchanges an authorization code (from the app's install redirect) for a token set,
    /// saves it to the token store and starts using it.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &str) -> Result<TokenSet> {
        let manager = self.manager()?;
        if code.is_empty() {
            return Err(Error::InvalidRequest("authorization code is empty".into()));
        }
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
        ];
        form.extend(manager.client_form());
        let response = self.client.inner.request_token(form).await?;
        let tokens = response.into_token_set(None, SystemTime::now())?;
        manager.install(tokens.clone()).await?;
        Ok(tokens)
    }

    /// `true` if `token` is the access token the client is using now (for tests and
    /// diagnostics; compares without exposing it).
    pub async fn is_current_access_token(&self, token: &str) -> Result<bool> {
        Ok(self.token_set().await?.access_token.expose_secret() == token)
    }
}

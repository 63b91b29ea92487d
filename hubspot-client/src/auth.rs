//! Credentials: static bearer tokens and OAuth token sets that refresh themselves.
//!
//! OAuth refresh is driven by expiry: a token within [`OAuthConfig::refresh_skew`] of its
//! expiry is refreshed before it is used (HubSpot's guidance: a 401 is not a reliable signal).
//! Refreshes are single-flight: however many calls find the token stale at once, one token
//! request is made and the others wait for its result. Every refreshed token set is saved to
//! the [`TokenStore`] before it is used.
//!
//! Client credentials can be rotated: with a [`CredentialsSource`]
//! ([`OAuthConfig::credentials_source`]), a refresh HubSpot refuses as
//! [`Error::ReauthorizationRequired`] (`BAD_CLIENT_ID`/`invalid_client`, `BAD_REFRESH_TOKEN`/
//! `invalid_grant`) asks the source for the app's credentials once more and, if they changed,
//! retries that refresh once with them.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Path of HubSpot's OAuth v3 token endpoint (the v1 path, `/oauth/v1/token`, is deprecated
/// on 2027-02-16).
pub const DEFAULT_TOKEN_PATH: &str = "/oauth/v3/token";

/// The longest access-token lifetime believed (HubSpot's are 30 minutes): a larger
/// `expires_in`, from the token endpoint or a store, is cut to this.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// An OAuth token set as the token endpoint returned it, with the instant it was obtained.
///
/// `Debug` redacts both tokens.
#[derive(Clone)]
#[non_exhaustive]
pub struct TokenSet {
    /// The bearer token for API calls.
    pub access_token: SecretString,
    /// The token that obtains new access tokens.
    pub refresh_token: SecretString,
    /// Lifetime of the access token from `obtained_at` (HubSpot: typically 1800 s).
    pub expires_in: Duration,
    /// When the token endpoint issued this set.
    pub obtained_at: SystemTime,
    /// The token type (`bearer`).
    pub token_type: Option<String>,
}

impl TokenSet {
    /// A token set obtained at `obtained_at` that lives `expires_in`.
    pub fn new(
        access_token: impl Into<String>,
        refresh_token: impl Into<String>,
        expires_in: Duration,
        obtained_at: SystemTime,
    ) -> Self {
        TokenSet {
            access_token: SecretString::from(access_token.into()),
            refresh_token: SecretString::from(refresh_token.into()),
            expires_in,
            obtained_at,
            token_type: Some("bearer".to_owned()),
        }
    }

    /// When the access token expires (saturating: a lifetime no clock can add is taken as
    /// [`MAX_TOKEN_LIFETIME`]).
    pub fn expires_at(&self) -> SystemTime {
        let lifetime = self.expires_in.min(MAX_TOKEN_LIFETIME);
        self.obtained_at
            .checked_add(lifetime)
            .unwrap_or(self.obtained_at)
    }

    /// `true` if the access token is still valid for at least `skew` after `now`. Never
    /// panics, whatever the times.
    pub fn is_fresh(&self, now: SystemTime, skew: Duration) -> bool {
        match now.checked_add(skew) {
            Some(at) => at < self.expires_at(),
            None => false,
        }
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .field("obtained_at", &self.obtained_at)
            .field("token_type", &self.token_type)
            .finish()
    }
}

/// The error type token stores return.
pub type TokenStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where OAuth token sets are persisted, so a refreshed refresh token survives restarts and
/// several processes can share one token set.
///
/// The thiscovery stack keeps it in its DynamoDB `tokens` table; [`MemoryTokenStore`] ships
/// here.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The stored token set, if any.
    async fn load(&self) -> Result<Option<TokenSet>, TokenStoreError>;
    /// Persists a token set (called after every refresh, before the new token is used).
    async fn save(&self, tokens: &TokenSet) -> Result<(), TokenStoreError>;
}

/// A [`TokenStore`] in memory.
///
/// ```
/// use hubspot_client::auth::{MemoryTokenStore, TokenSet};
/// use std::time::{Duration, SystemTime};
///
/// let store = MemoryTokenStore::with_tokens(TokenSet::new(
///     "access",
///     "refresh",
///     Duration::from_secs(1800),
///     SystemTime::now(),
/// ));
/// assert_eq!(store.saves(), 0);
/// ```
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<Option<TokenSet>>,
    saves: std::sync::atomic::AtomicUsize,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTokenStore::default()
    }

    /// A store holding `tokens`.
    pub fn with_tokens(tokens: TokenSet) -> Self {
        MemoryTokenStore {
            tokens: Mutex::new(Some(tokens)),
            saves: Default::default(),
        }
    }

    /// What the store holds now.
    pub fn get(&self) -> Option<TokenSet> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times [`TokenStore::save`] was called.
    pub fn saves(&self) -> usize {
        self.saves.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<TokenSet>, TokenStoreError> {
        Ok(self.get())
    }

    async fn save(&self, tokens: &TokenSet) -> Result<(), TokenStoreError> {
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokens.clone());
        self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// An OAuth app's client credentials. `Debug` redacts the secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretString,
}

impl ClientCredentials {
    /// Credentials from a client id and secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// `true` if both the id and the secret are the same.
    fn same_as(&self, other: &ClientCredentials) -> bool {
        self.client_id == other.client_id
            && self.client_secret.expose_secret() == other.client_secret.expose_secret()
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// Where an OAuth app's client credentials can be read again: a secret store whose value may
/// have been rotated since the client was built.
///
/// The client asks it only after HubSpot refused a refresh
/// ([`Error::ReauthorizationRequired`]), at most once per refused refresh, under the
/// refresh's single-flight lock; when the credentials it returns differ from the ones that
/// were refused, the client keeps them and retries the refresh once.
#[async_trait]
pub trait CredentialsSource: Send + Sync + fmt::Debug {
    /// The app's credentials as the source holds them now.
    async fn reload(&self) -> Result<ClientCredentials, TokenStoreError>;
}

/// OAuth settings: the app's credentials and where its token set lives.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hubspot_client::auth::{MemoryTokenStore, OAuthConfig};
///
/// let oauth = OAuthConfig::new("client-id", "client-secret", Arc::new(MemoryTokenStore::new()))
///     .refresh_token("initial-refresh-token")
///     .refresh_skew(Duration::from_secs(120));
/// assert!(!format!("{oauth:?}").contains("client-secret"));
/// ```
#[derive(Clone)]
pub struct OAuthConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) initial_refresh_token: Option<SecretString>,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) refresh_skew: Duration,
    pub(crate) token_path: String,
    /// Whether [`token_path`](Self::token_path) was set (else the client's API version
    /// decides it).
    pub(crate) token_path_set: bool,
    pub(crate) credentials_source: Option<Arc<dyn CredentialsSource>>,
}

impl OAuthConfig {
    /// An OAuth app with its client id and secret, persisting token sets in `store`.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        store: Arc<dyn TokenStore>,
    ) -> Self {
        OAuthConfig {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            initial_refresh_token: None,
            store,
            refresh_skew: Duration::from_secs(300),
            token_path: DEFAULT_TOKEN_PATH.to_owned(),
            token_path_set: false,
            credentials_source: None,
        }
    }

    /// Where the app's credentials can be read again when HubSpot refuses a refresh (they
    /// may have been rotated); see [`CredentialsSource`]. Without one, a refused refresh is
    /// returned as is.
    pub fn credentials_source(mut self, source: Arc<dyn CredentialsSource>) -> Self {
        self.credentials_source = Some(source);
        self
    }

    /// A refresh token to start from when the store is empty.
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.initial_refresh_token = Some(SecretString::from(token.into()));
        self
    }

    /// Refresh when the access token has less than this left (default 5 minutes).
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.refresh_skew = skew;
        self
    }

    /// The token endpoint's path (default: the client's
    /// [`ApiVersion::token_path`](crate::ApiVersion::token_path), `/oauth/2026-09/token` for
    /// the default version, [`DEFAULT_TOKEN_PATH`] for `Legacy`).
    pub fn token_path(mut self, path: impl Into<String>) -> Self {
        self.token_path = path.into();
        self.token_path_set = true;
        self
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field(
                "initial_refresh_token",
                &self.initial_refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("store", &self.store)
            .field("refresh_skew", &self.refresh_skew)
            .field("token_path", &self.token_path)
            .field("credentials_source", &self.credentials_source)
            .finish()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(alias = "accessToken")]
    access_token: String,
    #[serde(default, alias = "refreshToken")]
    refresh_token: Option<String>,
    #[serde(alias = "expiresIn")]
    expires_in: u64,
    #[serde(default, alias = "tokenType")]
    token_type: Option<String>,
}

impl TokenResponse {
    /// Turns the response into a token set; a response without a refresh token keeps
    /// `previous_refresh`.
    pub(crate) fn into_token_set(
        self,
        previous_refresh: Option<&SecretString>,
        obtained_at: SystemTime,
    ) -> Result<TokenSet> {
        let refresh_token = match (self.refresh_token, previous_refresh) {
            (Some(token), _) => SecretString::from(token),
            (None, Some(previous)) => previous.clone(),
            (None, None) => {
                return Err(Error::InvalidRequest(
                    "the token endpoint returned no refresh_token".into(),
                ));
            }
        };
        Ok(TokenSet {
            access_token: SecretString::from(self.access_token),
            refresh_token,
            expires_in: Duration::from_secs(self.expires_in).min(MAX_TOKEN_LIFETIME),
            obtained_at,
            token_type: self.token_type,
        })
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse").finish_non_exhaustive()
    }
}

/// Keeps the current OAuth token set and refreshes it single-flight.
pub(crate) struct TokenManager {
    pub(crate) config: OAuthConfig,
    /// The credentials in use: the configured ones, until a [`CredentialsSource`] gives others.
    credentials: RwLock<ClientCredentials>,
    current: RwLock<Option<TokenSet>>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Refreshes run so far (successful or not), to tell a waiter whether one ran while it
    /// waited for the lock.
    refreshes: std::sync::atomic::AtomicU64,
    /// The failure of the last refresh, if it failed: shared with the calls that waited for
    /// it instead of each running its own.
    last_failure: Mutex<Option<(u64, SharedFailure)>>,
    /// A refreshed token set the store would not take yet: used all the same, and saved
    /// again at the next chance.
    unsaved: Mutex<Option<TokenSet>>,
}

/// A refresh failure, as waiters receive it.
#[derive(Clone)]
struct SharedFailure {
    reason: String,
    class: crate::ErrorClass,
    error: Option<Box<crate::error::ApiError>>,
}

impl SharedFailure {
    fn of(e: &Error) -> Self {
        SharedFailure {
            reason: e.to_string(),
            class: e.class(),
            error: e.api_error().cloned().map(Box::new),
        }
    }

    fn error(&self) -> Error {
        Error::RefreshFailed {
            reason: self.reason.clone(),
            class: self.class,
            error: self.error.clone(),
        }
    }
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the token manager needs from the client: a way to call the token endpoint.
#[async_trait]
pub(crate) trait TokenEndpoint: Send + Sync {
    async fn request_token(&self, form: Vec<(&'static str, String)>) -> Result<TokenResponse>;
}

impl TokenManager {
    pub(crate) fn new(config: OAuthConfig) -> Self {
        let credentials = ClientCredentials {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
        };
        TokenManager {
            config,
            credentials: RwLock::new(credentials),
            current: RwLock::new(None),
            refresh_lock: tokio::sync::Mutex::new(()),
            refreshes: std::sync::atomic::AtomicU64::new(0),
            last_failure: Mutex::new(None),
            unsaved: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<TokenSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn credentials(&self) -> ClientCredentials {
        self.credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_cached(&self, tokens: TokenSet) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(tokens);
    }

    /// Fresh: valid for at least the skew, where the skew is at most half the token's
    /// lifetime, so a short-lived token is refreshed at most once per half its lifetime
    /// (not before every call).
    fn fresh(&self, tokens: &TokenSet) -> bool {
        let skew = self.config.refresh_skew.min(tokens.expires_in / 2);
        tokens.is_fresh(SystemTime::now(), skew)
    }

    /// The current token set, refreshing it first if it is close to expiry. Calls that find
    /// it stale together share one refresh and its outcome, success or failure.
    pub(crate) async fn token(&self, endpoint: &dyn TokenEndpoint) -> Result<TokenSet> {
        if let Some(tokens) = self.cached().filter(|t| self.fresh(t)) {
            self.save_unsaved().await;
            return Ok(tokens);
        }
        let seen = self.refreshes.load(std::sync::atomic::Ordering::SeqCst);
        let _guard = self.refresh_lock.lock().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(tokens) = self.cached().filter(|t| self.fresh(t)) {
            return Ok(tokens);
        }
        // ...or tried and failed: its outcome is this call's too.
        let now = self.refreshes.load(std::sync::atomic::Ordering::SeqCst);
        if now != seen {
            let failure = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, failure)) = failure.as_ref()
                && *at == now
            {
                return Err(failure.error());
            }
        }
        self.refresh_locked(endpoint, None).await
    }

    /// Saves a token set the store refused earlier, if there is one.
    async fn save_unsaved(&self) {
        let pending = self
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(tokens) = pending else { return };
        if let Err(error) = self.config.store.save(&tokens).await {
            tracing::warn!(%error, "the refreshed HubSpot token set still could not be saved; it stays in use and is saved again later");
            let mut unsaved = self.unsaved.lock().unwrap_or_else(|e| e.into_inner());
            if unsaved.is_none() {
                *unsaved = Some(tokens);
            }
        }
    }

    /// Refreshes after HubSpot refused `rejected` with a 401, unless another task already
    /// replaced it.
    pub(crate) async fn refresh_after_401(
        &self,
        endpoint: &dyn TokenEndpoint,
        rejected: &SecretString,
    ) -> Result<TokenSet> {
        let _guard = self.refresh_lock.lock().await;
        if let Some(tokens) = self.cached()
            && tokens.access_token.expose_secret() != rejected.expose_secret()
        {
            return Ok(tokens);
        }
        self.refresh_locked(endpoint, Some(rejected)).await
    }

    /// Forces a refresh now.
    pub(crate) async fn force_refresh(&self, endpoint: &dyn TokenEndpoint) -> Result<TokenSet> {
        let _guard = self.refresh_lock.lock().await;
        let known = self.cached().map(|t| t.access_token);
        self.refresh_locked(endpoint, known.as_ref()).await
    }

    /// With the refresh lock held: [`refresh_once`](Self::refresh_once), its outcome
    /// recorded for the calls waiting on the lock.
    async fn refresh_locked(
        &self,
        endpoint: &dyn TokenEndpoint,
        rejected: Option<&SecretString>,
    ) -> Result<TokenSet> {
        let outcome = self.refresh_once(endpoint, rejected).await;
        let n = self
            .refreshes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        *last = outcome.as_ref().err().map(|e| (n, SharedFailure::of(e)));
        outcome
    }

    /// Takes a fresher token set from the store if another process saved one, else calls the
    /// token endpoint and saves the result. A result the store refuses is used all the same
    /// (the refresh token it carries may be the only valid one now) and saved again later.
    async fn refresh_once(
        &self,
        endpoint: &dyn TokenEndpoint,
        rejected: Option<&SecretString>,
    ) -> Result<TokenSet> {
        let stored = self.config.store.load().await.map_err(Error::TokenStore)?;
        if let Some(tokens) = &stored {
            let is_rejected =
                rejected.is_some_and(|r| r.expose_secret() == tokens.access_token.expose_secret());
            if !is_rejected && self.fresh(tokens) {
                tracing::debug!("using the token set another process saved");
                self.set_cached(tokens.clone());
                return Ok(tokens.clone());
            }
        }
        let refresh_token = self
            .cached()
            .map(|t| t.refresh_token)
            .or_else(|| stored.map(|t| t.refresh_token))
            .or_else(|| self.config.initial_refresh_token.clone())
            .ok_or(Error::NoToken)?;
        tracing::debug!("refreshing the HubSpot access token");
        let used = self.credentials();
        let response = match endpoint
            .request_token(refresh_form(&used, &refresh_token))
            .await
        {
            Err(refused @ Error::ReauthorizationRequired(_)) => {
                let Some(reloaded) = self.reload_credentials(&used).await else {
                    return Err(refused);
                };
                tracing::info!(
                    "HubSpot refused the refresh; retrying once with the app credentials read again"
                );
                endpoint
                    .request_token(refresh_form(&reloaded, &refresh_token))
                    .await?
            }
            other => other?,
        };
        let tokens = response.into_token_set(Some(&refresh_token), SystemTime::now())?;
        metrics::counter!("hubspot.token_refreshes").increment(1);
        self.set_cached(tokens.clone());
        if let Err(error) = self.config.store.save(&tokens).await {
            tracing::warn!(%error, "the refreshed HubSpot token set could not be saved; it is used all the same and saved again later");
            *self.unsaved.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokens.clone());
        } else {
            self.unsaved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
        }
        Ok(tokens)
    }

    /// After HubSpot refused `used`: the credentials the [`CredentialsSource`] holds now, if
    /// there is one and they differ (they are then kept for every later refresh). `None`
    /// when there is no source, it failed (logged, without the credentials), or it holds
    /// the same credentials (a retry would be refused again).
    async fn reload_credentials(&self, used: &ClientCredentials) -> Option<ClientCredentials> {
        let source = self.config.credentials_source.as_ref()?;
        let reloaded = match source.reload().await {
            Ok(reloaded) => reloaded,
            Err(error) => {
                tracing::warn!(%error, "could not read the HubSpot app credentials again");
                return None;
            }
        };
        if reloaded.same_as(used) || reloaded.client_id.is_empty() {
            tracing::warn!(
                "HubSpot refused the refresh and the app credentials have not changed: the app must be authorized again"
            );
            return None;
        }
        *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = reloaded.clone();
        Some(reloaded)
    }

    /// The client credentials form fields for other grants.
    pub(crate) fn client_form(&self) -> Vec<(&'static str, String)> {
        let credentials = self.credentials();
        vec![
            ("client_id", credentials.client_id),
            (
                "client_secret",
                credentials.client_secret.expose_secret().to_owned(),
            ),
        ]
    }

    /// Installs a token set obtained elsewhere (e.g. from an authorization code) and saves it.
    pub(crate) async fn install(&self, tokens: TokenSet) -> Result<()> {
        let _guard = self.refresh_lock.lock().await;
        self.config
            .store
            .save(&tokens)
            .await
            .map_err(Error::TokenStore)?;
        self.set_cached(tokens);
        Ok(())
    }
}

/// The form of a `refresh_token` grant.
fn refresh_form(
    credentials: &ClientCredentials,
    refresh_token: &SecretString,
) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "refresh_token".to_owned()),
        ("client_id", credentials.client_id.clone()),
        (
            "client_secret",
            credentials.client_secret.expose_secret().to_owned(),
        ),
        ("refresh_token", refresh_token.expose_secret().to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_uses_the_skew() {
        let now = SystemTime::now();
        let t = TokenSet::new("a", "r", Duration::from_secs(1800), now);
        assert!(t.is_fresh(now, Duration::from_secs(300)));
        assert!(t.is_fresh(now + Duration::from_secs(1499), Duration::from_secs(300)));
        assert!(!t.is_fresh(now + Duration::from_secs(1500), Duration::from_secs(300)));
        assert!(!t.is_fresh(now + Duration::from_secs(4000), Duration::ZERO));
    }

    #[test]
    fn debug_redacts_tokens() {
        let t = TokenSet::new(
            "access-SECRET",
            "refresh-SECRET",
            Duration::from_secs(1),
            SystemTime::now(),
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn token_response_keeps_previous_refresh_token() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":1800,"token_type":"bearer"}"#)
                .unwrap();
        let prev = SecretString::from("r-old".to_owned());
        let t = r.into_token_set(Some(&prev), SystemTime::now()).unwrap();
        assert_eq!(t.refresh_token.expose_secret(), "r-old");
        assert_eq!(t.expires_in, Duration::from_secs(1800));
        let r: TokenResponse =
            serde_json::from_str(r#"{"accessToken":"a","expiresIn":60}"#).unwrap();
        assert!(r.into_token_set(None, SystemTime::now()).is_err());
    }
}

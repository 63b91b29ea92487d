//! [`Client`] and [`ClientBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::auth::{OAuthConfig, TokenManager};
use crate::budget::{LimiterStats, SharedBudget};
use crate::contacts::ContactsApi;
use crate::error::{Error, Result};
use crate::limiter::{Limiter, RateLimit};
use crate::oauth::OAuthApi;
use crate::policy::RetryPolicy;
use crate::timeline::TimelineApi;
use crate::transactional::TransactionalApi;
use crate::version::ApiVersion;

/// HubSpot's API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// A HubSpot API client. Cheap to clone: clones share the connection pool, the rate limiter
/// and the token set.
///
/// ```no_run
/// # async fn run() -> hubspot_client::Result<()> {
/// use hubspot_client::Client;
///
/// let client = Client::builder().static_token("pat-na1-...").build()?;
/// let contact = client.contacts().get_by_email("ada@example.org", &["firstname"]).await?;
/// println!("{}", contact.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .field("auth", &self.inner.auth)
            .field("rate_limit", &self.inner.rate_limit)
            .field("retry", &self.inner.retry)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

pub(crate) enum Auth {
    Static(SecretString),
    OAuth(Box<TokenManager>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Static(_) => f.write_str("Static([REDACTED])"),
            Auth::OAuth(manager) => f.debug_tuple("OAuth").field(manager).finish(),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: Url,
    pub(crate) auth: Auth,
    pub(crate) limiter: Limiter,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) account_utc_offset_minutes: i32,
    pub(crate) batch_concurrency: usize,
    pub(crate) batch_size: usize,
    pub(crate) api_version: ApiVersion,
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Contacts (CRM v3): create, read, update, archive, batch upsert by email.
    pub fn contacts(&self) -> ContactsApi<'_> {
        ContactsApi { client: self }
    }

    /// Timeline events (v3): single and batch create, read.
    pub fn timeline(&self) -> TimelineApi<'_> {
        TimelineApi { client: self }
    }

    /// Transactional email single-send (v3) and send statuses.
    pub fn transactional(&self) -> TransactionalApi<'_> {
        TransactionalApi { client: self }
    }

    /// OAuth token management.
    pub fn oauth(&self) -> OAuthApi<'_> {
        OAuthApi { client: self }
    }

    /// What the rate limiter has done since the client was built: waits, holds, and with a
    /// shared budget its reservations, wasted slots and fallbacks.
    pub fn limiter_stats(&self) -> LimiterStats {
        self.inner.limiter.stats()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }
}

/// Configures a [`Client`]. `build()` validates everything and returns an error; it never
/// panics.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hubspot_client::{Client, RateLimit, RetryPolicy};
/// use hubspot_client::auth::{MemoryTokenStore, OAuthConfig};
///
/// let store = Arc::new(MemoryTokenStore::new());
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8089")
///     .oauth(OAuthConfig::new("id", "secret", store).refresh_token("refresh"))
///     .rate_limit(RateLimit::per_ten_seconds(190))
///     .retry_policy(RetryPolicy::default())
///     .timeout(Duration::from_secs(20))
///     .build()
///     .expect("valid configuration");
/// # drop(client);
///
/// let err = Client::builder().base_url("not a url").static_token("t").build().unwrap_err();
/// assert!(err.to_string().contains("base URL"));
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    base_url: Option<String>,
    static_token: Option<SecretString>,
    oauth: Option<OAuthConfig>,
    rate_limit: Option<Option<RateLimit>>,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    account_utc_offset_minutes: i32,
    http: Option<reqwest::Client>,
    batch_concurrency: Option<usize>,
    batch_size: Option<usize>,
    api_version: ApiVersion,
    shared_budget: Option<SharedBudget>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field(
                "static_token",
                &self.static_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("oauth", &self.oauth)
            .field("rate_limit", &self.rate_limit)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("api_version", &self.api_version)
            .field("shared_budget", &self.shared_budget)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The HubSpot API version to speak (default [`ApiVersion::LATEST`], the newest date
    /// version; `ApiVersion::Legacy` for the numbered v3 paths). See [`ApiVersion`] for the
    /// paths each version uses.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }

    /// The API base URL (default [`DEFAULT_BASE_URL`]); point it at a fake in tests.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Authenticate with a static bearer token (private app access token, service key,
    /// developer static app token).
    pub fn static_token(mut self, token: impl Into<String>) -> Self {
        self.static_token = Some(SecretString::from(token.into()));
        self
    }

    /// Authenticate with OAuth tokens that refresh themselves.
    pub fn oauth(mut self, config: OAuthConfig) -> Self {
        self.oauth = Some(config);
        self
    }

    /// The client-side rate limit (default [`RateLimit::default`], 100 per 10 s).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(Some(limit));
        self
    }

    /// Share the rate limit with every other process of this HubSpot app through a store
    /// (see [`budget`](crate::budget)): the limit then holds for all of them together, not
    /// for each. Needs a rate limit; every process must use the same one.
    pub fn shared_budget(mut self, budget: SharedBudget) -> Self {
        self.shared_budget = Some(budget);
        self
    }

    /// No client-side rate limit (HubSpot's headers are still honoured).
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = Some(None);
        self
    }

    /// How failed attempts are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Per-attempt timeout, the whole response included (default 30 s; HubSpot itself gives up
    /// at 100 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Connection timeout (default 10 s). Ignored when [`http_client`](Self::http_client) is
    /// given.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The account's time zone as minutes east of UTC, used to tell when a `DAILY` limit
    /// resets (midnight in the account's time zone). Default 0 (UTC).
    pub fn account_utc_offset(mut self, minutes: i32) -> Self {
        self.account_utc_offset_minutes = minutes;
        self
    }

    /// How many batch chunks may be in flight at once (default 4); the rate limiter still
    /// governs when each is sent.
    pub fn batch_concurrency(mut self, n: usize) -> Self {
        self.batch_concurrency = Some(n);
        self
    }

    /// How many inputs one batch request carries (default and maximum
    /// [`MAX_BATCH`](crate::MAX_BATCH), 100). Smaller batches only make sense to compare with
    /// one-request-per-item processing.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n);
        self
    }

    /// Use this reqwest client (its own timeouts and TLS settings) instead of building one.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Validates the configuration and builds the client.
    pub fn build(self) -> Result<Client> {
        let raw_url = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let base_url = Url::parse(raw_url)
            .map_err(|e| Error::Config(format!("invalid base URL {raw_url:?}: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "invalid base URL {raw_url:?}: must be an http(s) URL"
            )));
        }
        let auth = match (self.static_token, self.oauth) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "choose one of static_token and oauth, not both".into(),
                ));
            }
            (None, None) => {
                return Err(Error::Config(
                    "no credentials: call static_token or oauth".into(),
                ));
            }
            (Some(token), None) => Auth::Static(token),
            (None, Some(mut config)) => {
                if !config.token_path_set {
                    config.token_path = self.api_version.token_path();
                }
                if config.client_id.is_empty() {
                    return Err(Error::Config("OAuth client id is empty".into()));
                }
                if !config.token_path.starts_with('/') {
                    return Err(Error::Config(format!(
                        "OAuth token path {:?} must start with '/'",
                        config.token_path
                    )));
                }
                Auth::OAuth(Box::new(TokenManager::new(config)))
            }
        };
        let rate_limit = self
            .rate_limit
            .unwrap_or_else(|| Some(RateLimit::default()));
        let limiter = Limiter::with_budget(rate_limit.as_ref(), self.shared_budget)?;
        let retry = self.retry.unwrap_or_default();
        if retry.max_attempts == 0 {
            return Err(Error::Config(
                "retry policy max_attempts must be at least 1".into(),
            ));
        }
        let timeout = self.timeout.unwrap_or(Duration::from_secs(30));
        if timeout.is_zero() {
            return Err(Error::Config("timeout must be longer than zero".into()));
        }
        let batch_concurrency = self.batch_concurrency.unwrap_or(4);
        if batch_concurrency == 0 {
            return Err(Error::Config("batch_concurrency must be at least 1".into()));
        }
        let batch_size = self.batch_size.unwrap_or(crate::MAX_BATCH);
        if batch_size == 0 || batch_size > crate::MAX_BATCH {
            return Err(Error::Config(format!(
                "batch_size must be between 1 and {}",
                crate::MAX_BATCH
            )));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)))
                .tcp_nodelay(true)
                .user_agent(concat!("hubspot-client-rust/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                limiter,
                rate_limit,
                retry,
                timeout,
                account_utc_offset_minutes: self.account_utc_offset_minutes,
                batch_concurrency,
                batch_size,
                api_version: self.api_version,
            }),
        })
    }
}

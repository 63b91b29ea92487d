//! The stack's configuration from the environment, as the Lambda reads it at cold start.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `STACK_NAME` | table prefix: `{STACK_NAME}-notifications`, ... | required |
//! | `CRM_ENV` | lookups namespace (`/{CRM_ENV}/task-signup`) | `prod` |
//! | `HUBSPOT_BASE_URL` | HubSpot's API base URL | `https://api.hubapi.com` |
//! | `HUBSPOT_ACCESS_TOKEN` | a static (private app) token; or use OAuth below | - |
//! | `HUBSPOT_CLIENT_ID`, `HUBSPOT_CLIENT_SECRET` | the OAuth app; its token set lives in the tokens table | - |
//! | `HUBSPOT_TOKEN_ITEM` | the tokens table item holding the token set | `hubspot` |
//! | `HUBSPOT_REFRESH_TOKEN` | a refresh token to start from when the tokens item is empty | - |
//! | `HUBSPOT_RATE_LIMIT` | `N/Ws` requests per rolling window | `100/10s` |
//! | `THISCOVERY_CORE_URL`, `THISCOVERY_CORE_API_KEY` | thiscovery-core's API | required |
//! | `CRM_MAX_ATTEMPTS` | failed attempts before `dlq` | `3` |
//! | `CRM_LEASE_SECONDS` | claim lease without a Lambda deadline | `300` |
//! | `CRM_BATCH_LIMIT` | most notifications one sweep takes (oldest first) | `10000` |
//! | `CRM_PAGE_SIZE` | notifications a sweep claims and holds at once (two pages in flight) | `1000` |
//!
//! DynamoDB settings (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`) come from the standard
//! AWS environment through `aws-config`. Exactly one of `HUBSPOT_ACCESS_TOKEN` and the OAuth
//! pair must be set. Every problem is reported naming its variable.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hubspot_client::RateLimit;
use hubspot_client::auth::OAuthConfig;
use secrecy::{ExposeSecret, SecretString};

use hubspot_client::auth::TokenStore;

use crate::crm::{Crm, CrmConfig, MAIN_TOKEN_ITEM, Stores};
use crate::directory::http::HttpDirectory;
use crate::store::dynamodb::{DynamoTokenStore, TableNames};

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable's value is not acceptable.
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Why.
        reason: String,
    },
    /// Building a component from the configuration failed.
    #[error("could not set up {what}: {reason}")]
    Setup {
        /// What.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// How the stack authenticates to HubSpot.
#[derive(Clone)]
#[non_exhaustive]
pub enum HubSpotAuth {
    /// A static bearer token.
    Static(SecretString),
    /// An OAuth app whose token set is kept in the tokens table.
    OAuth {
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: SecretString,
        /// The tokens table item (`hubspot`).
        token_item: String,
        /// A refresh token to start from when the item is empty.
        initial_refresh_token: Option<SecretString>,
    },
}

impl fmt::Debug for HubSpotAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubSpotAuth::Static(_) => f.write_str("Static([REDACTED])"),
            HubSpotAuth::OAuth {
                client_id,
                token_item,
                ..
            } => f
                .debug_struct("OAuth")
                .field("client_id", client_id)
                .field("client_secret", &"[REDACTED]")
                .field("token_item", token_item)
                .finish_non_exhaustive(),
        }
    }
}

/// The stack's configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct StackConfig {
    /// The table prefix.
    pub stack_name: String,
    /// The stack's settings.
    pub crm: CrmConfig,
    /// HubSpot's base URL.
    pub hubspot_base_url: String,
    /// HubSpot credentials.
    pub hubspot_auth: HubSpotAuth,
    /// The client-side rate limit.
    pub rate_limit: RateLimit,
    /// thiscovery-core's base URL.
    pub core_base_url: String,
    /// thiscovery-core's API key.
    pub core_api_key: SecretString,
}

impl fmt::Debug for StackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackConfig")
            .field("stack_name", &self.stack_name)
            .field("crm", &self.crm)
            .field("hubspot_base_url", &self.hubspot_base_url)
            .field("hubspot_auth", &self.hubspot_auth)
            .field("rate_limit", &self.rate_limit)
            .field("core_base_url", &self.core_base_url)
            .field("core_api_key", &"[REDACTED]")
            .finish()
    }
}

/// Parses `N/Ws` (or `N/Wms`): e.g. `100/10s`, `10/100ms`.
pub fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let (n, window) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not N/window (e.g. 100/10s)"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("{n:?} is not a whole number of requests"))?;
    let window = parse_duration(window)?;
    let limit = RateLimit::new(n, window);
    limit.validate().map_err(|e| e.to_string())?;
    Ok(limit)
}

/// Parses `10s`, `100ms`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s or 100ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        other => Err(format!(
            "unknown unit {other:?} in {text:?} (use ms, s or m)"
        )),
    }
}

impl StackConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<StackConfig, ConfigError> {
        StackConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (a variable's value, if set).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<StackConfig, ConfigError> {
        let opt = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let req = |name: &'static str| opt(name).ok_or(ConfigError::Missing(name));
        let invalid = |var: &'static str, reason: String| ConfigError::Invalid { var, reason };

        let stack_name = req("STACK_NAME")?;
        if !stack_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                "STACK_NAME",
                "table names allow only letters, digits, '-', '_' and '.'".into(),
            ));
        }
        let mut crm = CrmConfig::for_env(opt("CRM_ENV").unwrap_or_else(|| "prod".into()));
        if let Some(n) = opt("CRM_MAX_ATTEMPTS") {
            crm.max_attempts = n.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                invalid(
                    "CRM_MAX_ATTEMPTS",
                    format!("{n:?} is not a whole number >= 1"),
                )
            })?;
        }
        if let Some(s) = opt("CRM_LEASE_SECONDS") {
            crm.lease = s
                .parse::<u64>()
                .ok()
                .filter(|s| *s >= 1)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    invalid(
                        "CRM_LEASE_SECONDS",
                        format!("{s:?} is not a whole number >= 1"),
                    )
                })?;
        }
        let count = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match opt(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| invalid(name, format!("{v:?} is not a whole number >= 1"))),
            }
        };
        crm.batch_limit = count("CRM_BATCH_LIMIT", crm.batch_limit)?;
        crm.page_size = count("CRM_PAGE_SIZE", crm.page_size)?;
        let hubspot_base_url =
            opt("HUBSPOT_BASE_URL").unwrap_or_else(|| hubspot_client::DEFAULT_BASE_URL.to_owned());
        url::Url::parse(&hubspot_base_url)
            .map_err(|e| invalid("HUBSPOT_BASE_URL", e.to_string()))?;
        let hubspot_auth = match (
            opt("HUBSPOT_ACCESS_TOKEN"),
            opt("HUBSPOT_CLIENT_ID"),
            opt("HUBSPOT_CLIENT_SECRET"),
        ) {
            (Some(token), None, None) => HubSpotAuth::Static(SecretString::from(token)),
            (None, Some(client_id), Some(secret)) => HubSpotAuth::OAuth {
                client_id,
                client_secret: SecretString::from(secret),
                token_item: opt("HUBSPOT_TOKEN_ITEM").unwrap_or_else(|| "hubspot".into()),
                initial_refresh_token: opt("HUBSPOT_REFRESH_TOKEN").map(SecretString::from),
            },
            (None, Some(_), None) => return Err(ConfigError::Missing("HUBSPOT_CLIENT_SECRET")),
            (None, None, Some(_)) => return Err(ConfigError::Missing("HUBSPOT_CLIENT_ID")),
            (None, None, None) => {
                return Err(invalid(
                    "HUBSPOT_ACCESS_TOKEN",
                    "set it, or HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET for OAuth".into(),
                ));
            }
            (Some(_), _, _) => {
                return Err(invalid(
                    "HUBSPOT_ACCESS_TOKEN",
                    "set it or the OAuth pair HUBSPOT_CLIENT_ID/HUBSPOT_CLIENT_SECRET, not both"
                        .into(),
                ));
            }
        };
        let rate_limit = match opt("HUBSPOT_RATE_LIMIT") {
            Some(text) => parse_rate_limit(&text).map_err(|r| invalid("HUBSPOT_RATE_LIMIT", r))?,
            None => RateLimit::default(),
        };
        let core_base_url = req("THISCOVERY_CORE_URL")?;
        url::Url::parse(&core_base_url)
            .map_err(|e| invalid("THISCOVERY_CORE_URL", e.to_string()))?;
        let core_api_key = SecretString::from(req("THISCOVERY_CORE_API_KEY")?);
        Ok(StackConfig {
            stack_name,
            crm,
            hubspot_base_url,
            hubspot_auth,
            rate_limit,
            core_base_url,
            core_api_key,
        })
    }

    /// The table names.
    pub fn tables(&self) -> TableNames {
        TableNames::for_stack(&self.stack_name)
    }

    /// Builds the stack on DynamoDB with this configuration (clients are built here, once).
    pub fn build(&self, dynamodb: aws_sdk_dynamodb::Client) -> Result<Crm, ConfigError> {
        self.build_with(dynamodb, |builder| builder)
    }

    /// Like [`build`](Self::build), with a chance to adjust the HubSpot client's builder
    /// before it is built (e.g. a test's retry policy:
    /// `|b| b.retry_policy(RetryPolicy::fast_for_tests())`).
    pub fn build_with(
        &self,
        dynamodb: aws_sdk_dynamodb::Client,
        adjust: impl FnOnce(hubspot_client::ClientBuilder) -> hubspot_client::ClientBuilder,
    ) -> Result<Crm, ConfigError> {
        let tables = self.tables();
        let stores = Stores::dynamodb(dynamodb.clone(), &tables);
        let mut builder = hubspot_client::Client::builder()
            .base_url(&self.hubspot_base_url)
            .rate_limit(self.rate_limit.clone());
        builder = match &self.hubspot_auth {
            HubSpotAuth::Static(token) => builder.static_token(token.expose_secret()),
            HubSpotAuth::OAuth {
                client_id,
                client_secret,
                token_item,
                initial_refresh_token,
            } => {
                let store: Arc<dyn TokenStore> = if token_item == MAIN_TOKEN_ITEM {
                    stores.tokens.clone()
                } else {
                    Arc::new(DynamoTokenStore::new(
                        dynamodb,
                        tables.tokens.clone(),
                        token_item.clone(),
                    ))
                };
                let mut oauth =
                    OAuthConfig::new(client_id.clone(), client_secret.expose_secret(), store);
                if let Some(token) = initial_refresh_token {
                    oauth = oauth.refresh_token(token.expose_secret());
                }
                builder.oauth(oauth)
            }
        };
        let hubspot = adjust(builder).build().map_err(|e| ConfigError::Setup {
            what: "the HubSpot client",
            reason: e.to_string(),
        })?;
        let directory = HttpDirectory::new(&self.core_base_url, self.core_api_key.expose_secret())
            .map_err(|e| ConfigError::Setup {
                what: "the thiscovery-core client",
                reason: e.to_string(),
            })?;
        Crm::builder()
            .hubspot(hubspot)
            .stores(stores)
            .directory(Arc::new(directory))
            .config(self.crm.clone())
            .build()
            .map_err(|e| ConfigError::Setup {
                what: "the stack",
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("STACK_NAME", "thiscovery-crm-prod"),
        ("HUBSPOT_ACCESS_TOKEN", "pat-SECRET"),
        ("THISCOVERY_CORE_URL", "https://core.example.org/"),
        ("THISCOVERY_CORE_API_KEY", "core-SECRET"),
    ];

    #[test]
    fn minimal_configuration_and_defaults() {
        let c = StackConfig::from_lookup(env(BASE)).unwrap();
        assert_eq!(
            c.tables().notifications,
            "thiscovery-crm-prod-notifications"
        );
        assert_eq!(c.crm.env, "prod");
        assert_eq!(c.crm.max_attempts, 3);
        assert_eq!(c.rate_limit, RateLimit::default());
        assert_eq!(c.hubspot_base_url, "https://api.hubapi.com");
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn every_problem_names_its_variable() {
        let without = |name: &str| -> Vec<(&str, &str)> {
            BASE.iter().copied().filter(|(k, _)| *k != name).collect()
        };
        let with = |extra: (&'static str, &'static str)| -> Vec<(&str, &str)> {
            let mut v: Vec<(&str, &str)> = BASE.to_vec();
            v.push(extra);
            v
        };
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (without("STACK_NAME"), "STACK_NAME"),
            (without("THISCOVERY_CORE_URL"), "THISCOVERY_CORE_URL"),
            (
                without("THISCOVERY_CORE_API_KEY"),
                "THISCOVERY_CORE_API_KEY",
            ),
            (without("HUBSPOT_ACCESS_TOKEN"), "HUBSPOT_ACCESS_TOKEN"),
            (with(("HUBSPOT_CLIENT_ID", "id")), "HUBSPOT_ACCESS_TOKEN"),
            (with(("HUBSPOT_RATE_LIMIT", "lots")), "HUBSPOT_RATE_LIMIT"),
            (with(("HUBSPOT_RATE_LIMIT", "1/10s")), "HUBSPOT_RATE_LIMIT"),
            (with(("HUBSPOT_BASE_URL", "not a url")), "HUBSPOT_BASE_URL"),
            (with(("CRM_MAX_ATTEMPTS", "0")), "CRM_MAX_ATTEMPTS"),
            (with(("CRM_LEASE_SECONDS", "soon")), "CRM_LEASE_SECONDS"),
            (with(("CRM_BATCH_LIMIT", "0")), "CRM_BATCH_LIMIT"),
            (with(("CRM_PAGE_SIZE", "many")), "CRM_PAGE_SIZE"),
            (with(("STACK_NAME", "bad name!")), "STACK_NAME"),
        ];
        for (vars, name) in cases {
            // `with` appends, so a later duplicate key wins in the map.
            let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        let oauth_half = [
            ("STACK_NAME", "s"),
            ("HUBSPOT_CLIENT_ID", "id"),
            ("THISCOVERY_CORE_URL", "http://x"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let err = StackConfig::from_lookup(env(&oauth_half)).unwrap_err();
        assert_eq!(err, ConfigError::Missing("HUBSPOT_CLIENT_SECRET"));
    }

    #[test]
    fn oauth_configuration() {
        let vars = [
            ("STACK_NAME", "s"),
            ("HUBSPOT_CLIENT_ID", "id"),
            ("HUBSPOT_CLIENT_SECRET", "secret-SECRET"),
            ("HUBSPOT_RATE_LIMIT", "190/10s"),
            ("CRM_ENV", "staging"),
            ("THISCOVERY_CORE_URL", "http://x"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let c = StackConfig::from_lookup(env(&vars)).unwrap();
        assert!(
            matches!(&c.hubspot_auth, HubSpotAuth::OAuth { token_item, .. } if token_item == "hubspot")
        );
        assert_eq!(c.rate_limit.max_requests, 190);
        assert_eq!(c.crm.env, "staging");
        assert_eq!(c.crm.page_size, 1_000);
        let paged = [("CRM_PAGE_SIZE", "250"), ("CRM_BATCH_LIMIT", "5000")];
        let c = StackConfig::from_lookup(env(&[&vars[..], &paged[..]].concat())).unwrap();
        assert_eq!((c.crm.page_size, c.crm.batch_limit), (250, 5_000));
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn durations_and_limits() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(
            parse_rate_limit("10/100ms").unwrap().window,
            Duration::from_millis(100)
        );
        assert!(parse_rate_limit("100").is_err());
    }
}

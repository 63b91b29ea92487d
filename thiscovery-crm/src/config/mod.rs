//! The stack's configuration, as the Lambda reads it at cold start: from the environment,
//! and from AWS Secrets Manager when `SECRETS_NAMESPACE` is set (as the Python stack's
//! template sets it), for the credentials the environment does not give.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SECRETS_NAMESPACE` | `/{env}/`: read the credentials from the secrets `{ns}hubspot-connection` and `{ns}aws-connection` (see [`secrets`]); names the environment | - (credentials from the variables below) |
//! | `STACK_NAME` | table prefix: `{STACK_NAME}-notifications`, ... | `thiscovery-crm-{env}` when the environment is named (`SECRETS_NAMESPACE` or `CRM_ENV`), else required |
//! | `CRM_ENV` | the environment: lookups namespace (`/{env}/task-signup`); must agree with `SECRETS_NAMESPACE` | `SECRETS_NAMESPACE`'s, else `prod` |
//! | `HUBSPOT_BASE_URL` | HubSpot's API base URL | `https://api.hubapi.com` |
//! | `HUBSPOT_ACCESS_TOKEN` | the main app as a static (private app) token; or use OAuth below | - |
//! | `HUBSPOT_CLIENT_ID`, `HUBSPOT_CLIENT_SECRET` | the main OAuth app (contacts, timeline); its token set lives in the tokens table | from `{ns}hubspot-connection` |
//! | `HUBSPOT_TOKEN_ITEM` | the tokens table item holding the main app's token set | `hubspot` |
//! | `HUBSPOT_REFRESH_TOKEN` | a refresh token to start from when the main tokens item is empty | - |
//! | `HUBSPOT_RATE_LIMIT` | `N/Ws` requests per rolling window, per app | `100/10s` |
//! | `HUBSPOT_EMAILS_ACCESS_TOKEN` | the emails app (transactional single-send) as a static token | - |
//! | `HUBSPOT_EMAILS_CLIENT_ID`, `HUBSPOT_EMAILS_CLIENT_SECRET` | the emails OAuth app | from `{ns}hubspot-connection`; else the main app sends emails |
//! | `HUBSPOT_EMAILS_TOKEN_ITEM` | the tokens table item holding the emails app's token set | `hubspot-emails` |
//! | `HUBSPOT_EMAILS_REFRESH_TOKEN` | a refresh token to start from when the emails tokens item is empty | - |
//! | `HUBSPOT_EMAILS_RATE_LIMIT` | the emails app's own budget | `HUBSPOT_RATE_LIMIT` |
//! | `HUBSPOT_BUDGET` | `shared`: every process of an app spends one rate budget, kept in DynamoDB (see [`hubspot_client::budget`]); `local`: each process its own limit | `shared` |
//! | `HUBSPOT_BUDGET_TABLE` | the table holding the budget items (any table keyed by a string `id`) | `{STACK_NAME}-tokens` |
//! | `HUBSPOT_BUDGET_ITEM`, `HUBSPOT_EMAILS_BUDGET_ITEM` | each app's budget item: give every stack that uses the app the same table and item | `rate-budget/{token item}` (`rate-budget/hubspot`, `rate-budget/hubspot-emails`) |
//! | `HUBSPOT_BUDGET_FALLBACK_SHARE` | while DynamoDB does not answer, a process sends `1/N` of the limit | `4` |
//! | `HUBSPOT_API_VERSION` | HubSpot API version: `2026-09`, `2026-03`, `legacy` (v3 paths) or `latest` | `latest` (`2026-09`) |
//! | `THISCOVERY_CORE_URL` | thiscovery-core's API | `https://api.thiscovery.org/` for `prod`, `https://{env}-api.thiscovery.org/` otherwise, when the environment is named; else required |
//! | `THISCOVERY_CORE_API_KEY` | thiscovery-core's `x-api-key` | `aws-api-key` of `{ns}aws-connection`; else required |
//! | `CRM_MAX_ATTEMPTS` | failed attempts before `dlq` | `3` |
//! | `CRM_LEASE_SECONDS` | claim lease without a Lambda deadline | `300` |
//! | `CRM_BATCH_LIMIT` | most notifications one sweep takes (oldest first) | `10000` |
//! | `CRM_PAGE_SIZE` | notifications a sweep claims and holds at once (two pages in flight) | `1000` |
//! | `CRM_STORE_CONCURRENCY` | claims (and result writes) a page has in flight at once | `32` |
//! | `CRM_EMAIL_MAX_AGE_HOURS` | a transactional email recorded longer ago is dead-lettered `expired: not sent` | `72` |
//!
//! **Where credentials come from.** A variable set explicitly always wins. The HubSpot apps
//! come from the environment if any `HUBSPOT_*ACCESS_TOKEN`, `HUBSPOT_*CLIENT_ID` or
//! `HUBSPOT_*CLIENT_SECRET` variable is set (then the emails app is configured by its
//! `HUBSPOT_EMAILS_*` variables, or the main app sends emails too), else from
//! `{ns}hubspot-connection`; thiscovery-core's key from `THISCOVERY_CORE_API_KEY`, else from
//! `{ns}aws-connection`. For each app, a static token or the OAuth pair, not both. Two apps
//! means two HubSpot clients, each with its own token item, token refresh and rate limiter.
//!
//! **Secrets** are read once, at cold start, by [`StackConfig::from_env_and_secrets`];
//! [`StackConfig::from_env`] reads the environment only and fails (naming
//! `SECRETS_NAMESPACE`) when a credential is to come from a secret. A credential read from a
//! secret is read again once when it is refused, so a rotated secret is picked up without a
//! cold start: an OAuth refresh HubSpot refuses re-reads `{ns}hubspot-connection` and retries
//! the refresh with the new app credentials; a 401/403 from thiscovery-core re-reads
//! `{ns}aws-connection` and resends the call with the new key.
//!
//! DynamoDB and Secrets Manager settings (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`) come from the standard AWS environment through
//! `aws-config`. Every problem is reported naming its variable, or its secret and key; no
//! secret value ever appears in an error, a log line or `Debug` output.

pub mod secrets;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hubspot_client::RateLimit;
use hubspot_client::auth::{ClientCredentials, OAuthConfig, TokenStore};
use hubspot_client::budget::SharedBudget;
use secrecy::{ExposeSecret, SecretString};

use self::secrets::{HubSpotApp, SecretError, Secrets};
use crate::crm::{Crm, CrmConfig, EMAILS_TOKEN_ITEM, MAIN_TOKEN_ITEM, Stores};
use crate::directory::http::HttpDirectory;
use crate::store::dynamodb::{DynamoBudgetStore, DynamoTokenStore, TableNames};

/// The stack name the Python deployer gives `{env}`'s stack: the tables' prefix.
pub fn python_stack_name(env: &str) -> String {
    format!("thiscovery-crm-{env}")
}

/// thiscovery-core's base URL for the environment `env`, as the Python stack derives it.
///
/// ```
/// use thiscovery_crm::config::core_base_url_for;
///
/// assert_eq!(core_base_url_for("prod"), "https://api.thiscovery.org/");
/// assert_eq!(core_base_url_for("staging"), "https://staging-api.thiscovery.org/");
/// ```
pub fn core_base_url_for(env: &str) -> String {
    if env == "prod" {
        "https://api.thiscovery.org/".to_owned()
    } else {
        format!("https://{env}-api.thiscovery.org/")
    }
}

/// A configuration problem, naming the variable (or the secret and its key).
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
    /// A secret could not be read or does not hold what the stack needs.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Building a component from the configuration failed.
    #[error("could not set up {what}: {reason}")]
    Setup {
        /// What.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// How the stack authenticates to one HubSpot app.
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
        /// The tokens table item (`hubspot`, or `hubspot-emails` for the emails app).
        token_item: String,
        /// A refresh token to start from when the item is empty.
        initial_refresh_token: Option<SecretString>,
    },
}

impl HubSpotAuth {
    fn oauth(credentials: ClientCredentials, token_item: &str) -> HubSpotAuth {
        HubSpotAuth::OAuth {
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            token_item: token_item.to_owned(),
            initial_refresh_token: None,
        }
    }

    fn token_item(&self) -> Option<&str> {
        match self {
            HubSpotAuth::Static(_) => None,
            HubSpotAuth::OAuth { token_item, .. } => Some(token_item),
        }
    }
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

/// Which credentials came from Secrets Manager, and the secrets to read them again from.
#[derive(Clone, Debug, Default)]
struct Rotation {
    secrets: Option<Secrets>,
    hubspot: bool,
    core_api_key: bool,
}

/// The stack's configuration: read it with [`StackConfig::from_lookup`] (or `from_env`,
/// `from_env_and_secrets`), adjust its public fields if needed, then build the stack with
/// [`build`](StackConfig::build) or, to change each HubSpot client's builder (a test's retry
/// policy), [`build_with`](StackConfig::build_with).
///
/// ```no_run
/// use thiscovery_crm::config::StackConfig;
///
/// fn stack(dynamodb: aws_sdk_dynamodb::Client) -> Result<thiscovery_crm::Crm, Box<dyn std::error::Error>> {
///     let mut config = StackConfig::from_lookup(|name| match name {
///         "STACK_NAME" => Some("thiscovery-crm-test".into()),
///         "HUBSPOT_ACCESS_TOKEN" => Some("pat-...".into()),
///         "THISCOVERY_CORE_URL" => Some("http://127.0.0.1:8080/".into()),
///         "THISCOVERY_CORE_API_KEY" => Some("key".into()),
///         _ => None,
///     })?;
///     config.crm.max_attempts = 2;
///     let crm = config.build_with(dynamodb, |client| {
///         client.retry_policy(hubspot_client::RetryPolicy::fast_for_tests())
///     })?;
///     Ok(crm)
/// }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StackConfig {
    /// The table prefix.
    pub stack_name: String,
    /// The stack's settings.
    pub crm: CrmConfig,
    /// HubSpot's base URL.
    pub hubspot_base_url: String,
    /// The main HubSpot app (contacts, timeline events; emails too without an emails app).
    pub hubspot_auth: HubSpotAuth,
    /// The main app's client-side rate limit.
    pub rate_limit: RateLimit,
    /// The emails HubSpot app (transactional single-send), if it is a separate app.
    pub emails_hubspot_auth: Option<HubSpotAuth>,
    /// The emails app's client-side rate limit (its own budget).
    pub emails_rate_limit: RateLimit,
    /// The HubSpot API version both clients speak.
    pub api_version: hubspot_client::ApiVersion,
    /// How the HubSpot clients share their rate budget with other processes.
    pub budget: Budget,
    /// thiscovery-core's base URL.
    pub core_base_url: String,
    /// thiscovery-core's API key.
    pub core_api_key: SecretString,
    /// `SECRETS_NAMESPACE`, e.g. `/prod/`, if set.
    pub secrets_namespace: Option<String>,
    rotation: Rotation,
}

impl fmt::Debug for StackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackConfig")
            .field("stack_name", &self.stack_name)
            .field("crm", &self.crm)
            .field("hubspot_base_url", &self.hubspot_base_url)
            .field("hubspot_auth", &self.hubspot_auth)
            .field("rate_limit", &self.rate_limit)
            .field("emails_hubspot_auth", &self.emails_hubspot_auth)
            .field("emails_rate_limit", &self.emails_rate_limit)
            .field("api_version", &self.api_version)
            .field("budget", &self.budget)
            .field("core_base_url", &self.core_base_url)
            .field("core_api_key", &"[REDACTED]")
            .field("secrets_namespace", &self.secrets_namespace)
            .field("hubspot_from_secrets", &self.rotation.hubspot)
            .field("core_api_key_from_secrets", &self.rotation.core_api_key)
            .finish()
    }
}

/// How the stack's HubSpot clients spend HubSpot's per-app rate limit (`HUBSPOT_BUDGET*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Budget {
    /// Each process keeps its own limiter: right only when one process calls HubSpot per app.
    Local,
    /// Every process of an app reserves its requests from one schedule in DynamoDB
    /// ([`DynamoBudgetStore`], in the tokens table by default).
    Shared {
        /// The table of the budget items; `None`: the stack's tokens table.
        table: Option<String>,
        /// The main app's budget item.
        main_item: String,
        /// The emails app's budget item.
        emails_item: String,
        /// While the table does not answer, a process sends `1 / fallback_share` of the limit.
        fallback_share: u32,
    },
}

impl Budget {
    /// The default: shared, in the tokens table, one item per token item.
    pub fn shared_in_tokens_table() -> Self {
        Budget::Shared {
            table: None,
            main_item: crate::store::dynamodb::budget_item_id(MAIN_TOKEN_ITEM),
            emails_item: crate::store::dynamodb::budget_item_id(EMAILS_TOKEN_ITEM),
            fallback_share: 4,
        }
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

/// The variables of one HubSpot app.
struct AppVars {
    token: &'static str,
    client_id: &'static str,
    client_secret: &'static str,
    token_item: &'static str,
    refresh_token: &'static str,
    default_item: &'static str,
}

const MAIN_VARS: AppVars = AppVars {
    token: "HUBSPOT_ACCESS_TOKEN",
    client_id: "HUBSPOT_CLIENT_ID",
    client_secret: "HUBSPOT_CLIENT_SECRET",
    token_item: "HUBSPOT_TOKEN_ITEM",
    refresh_token: "HUBSPOT_REFRESH_TOKEN",
    default_item: MAIN_TOKEN_ITEM,
};

const EMAILS_VARS: AppVars = AppVars {
    token: "HUBSPOT_EMAILS_ACCESS_TOKEN",
    client_id: "HUBSPOT_EMAILS_CLIENT_ID",
    client_secret: "HUBSPOT_EMAILS_CLIENT_SECRET",
    token_item: "HUBSPOT_EMAILS_TOKEN_ITEM",
    refresh_token: "HUBSPOT_EMAILS_REFRESH_TOKEN",
    default_item: EMAILS_TOKEN_ITEM,
};

/// One app's credentials from the environment: `None` when none of its credential
/// variables is set.
fn app_from_env(
    opt: &impl Fn(&'static str) -> Option<String>,
    vars: &AppVars,
) -> Result<Option<HubSpotAuth>, ConfigError> {
    let invalid = |var: &'static str, reason: String| ConfigError::Invalid { var, reason };
    match (
        opt(vars.token),
        opt(vars.client_id),
        opt(vars.client_secret),
    ) {
        (None, None, None) => Ok(None),
        (Some(token), None, None) => Ok(Some(HubSpotAuth::Static(SecretString::from(token)))),
        (None, Some(client_id), Some(secret)) => Ok(Some(HubSpotAuth::OAuth {
            client_id,
            client_secret: SecretString::from(secret),
            token_item: opt(vars.token_item).unwrap_or_else(|| vars.default_item.into()),
            initial_refresh_token: opt(vars.refresh_token).map(SecretString::from),
        })),
        (None, Some(_), None) => Err(ConfigError::Missing(vars.client_secret)),
        (None, None, Some(_)) => Err(ConfigError::Missing(vars.client_id)),
        (Some(_), _, _) => Err(invalid(
            vars.token,
            format!(
                "set it or the OAuth pair {}/{}, not both",
                vars.client_id, vars.client_secret
            ),
        )),
    }
}

/// Everything the environment says, before any secret is read.
struct FromEnv {
    namespace: Option<String>,
    stack_name: String,
    crm: CrmConfig,
    hubspot_base_url: String,
    /// The main and emails apps, if the environment configures HubSpot.
    hubspot: Option<(HubSpotAuth, Option<HubSpotAuth>)>,
    rate_limit: RateLimit,
    emails_rate_limit: RateLimit,
    api_version: hubspot_client::ApiVersion,
    budget: Budget,
    core_base_url: String,
    core_api_key: Option<SecretString>,
}

/// Letters, digits, `-` and `_`: what an environment name may hold (it becomes part of a
/// host name and of table names).
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl FromEnv {
    fn read(get: impl Fn(&str) -> Option<String>) -> Result<FromEnv, ConfigError> {
        let opt = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let invalid = |var: &'static str, reason: String| ConfigError::Invalid { var, reason };

        // The environment's name: from SECRETS_NAMESPACE (`/{env}/`) and/or CRM_ENV.
        let namespace = opt("SECRETS_NAMESPACE");
        let namespace_env = match &namespace {
            None => None,
            Some(ns) => {
                let name = ns
                    .strip_prefix('/')
                    .and_then(|rest| rest.strip_suffix('/'))
                    .filter(|name| is_env_name(name))
                    .ok_or_else(|| {
                        invalid(
                            "SECRETS_NAMESPACE",
                            format!(
                                "{ns:?} is not /{{env}}/ (e.g. /prod/) with an environment name of letters, digits, '-' and '_'"
                            ),
                        )
                    })?;
                Some(name.to_owned())
            }
        };
        let crm_env = opt("CRM_ENV");
        if let Some(name) = &crm_env
            && !is_env_name(name)
        {
            return Err(invalid(
                "CRM_ENV",
                format!("{name:?} is not an environment name (letters, digits, '-' and '_')"),
            ));
        }
        let named_env = match (crm_env, namespace_env) {
            (Some(crm_env), Some(ns_env)) if crm_env != ns_env => {
                return Err(invalid(
                    "CRM_ENV",
                    format!(
                        "{crm_env:?} is not the environment of SECRETS_NAMESPACE (/{ns_env}/): leave CRM_ENV unset, or make them agree"
                    ),
                ));
            }
            (crm_env, ns_env) => crm_env.or(ns_env),
        };

        let stack_name = match (opt("STACK_NAME"), &named_env) {
            (Some(name), _) => name,
            (None, Some(env)) => python_stack_name(env),
            (None, None) => return Err(ConfigError::Missing("STACK_NAME")),
        };
        if !stack_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(
                "STACK_NAME",
                "table names allow only letters, digits, '-', '_' and '.'".into(),
            ));
        }
        let mut crm = CrmConfig::for_env(named_env.clone().unwrap_or_else(|| "prod".into()));
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
        crm.store_concurrency = count("CRM_STORE_CONCURRENCY", crm.store_concurrency)?;
        let hours = count(
            "CRM_EMAIL_MAX_AGE_HOURS",
            (crm.email_max_age.as_secs() / 3600) as usize,
        )?;
        crm.email_max_age = Duration::from_secs(hours as u64 * 3600);
        let hubspot_base_url =
            opt("HUBSPOT_BASE_URL").unwrap_or_else(|| hubspot_client::DEFAULT_BASE_URL.to_owned());
        url::Url::parse(&hubspot_base_url)
            .map_err(|e| invalid("HUBSPOT_BASE_URL", e.to_string()))?;

        let main = app_from_env(&opt, &MAIN_VARS)?;
        let emails = app_from_env(&opt, &EMAILS_VARS)?;
        let hubspot = match (main, emails) {
            (None, None) => None,
            (Some(main), emails) => {
                if let (Some(a), Some(b)) = (
                    main.token_item(),
                    emails.as_ref().and_then(HubSpotAuth::token_item),
                ) && a == b
                {
                    return Err(invalid(
                        "HUBSPOT_EMAILS_TOKEN_ITEM",
                        format!("{b:?} is the main app's token item too: each app needs its own"),
                    ));
                }
                Some((main, emails))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "HUBSPOT_ACCESS_TOKEN",
                    "an emails app (HUBSPOT_EMAILS_*) is set but not the main app: set \
                     HUBSPOT_ACCESS_TOKEN, or HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET, too"
                        .into(),
                ));
            }
        };
        let rate_limit = match opt("HUBSPOT_RATE_LIMIT") {
            Some(text) => parse_rate_limit(&text).map_err(|r| invalid("HUBSPOT_RATE_LIMIT", r))?,
            None => RateLimit::default(),
        };
        let emails_rate_limit = match opt("HUBSPOT_EMAILS_RATE_LIMIT") {
            Some(text) => {
                parse_rate_limit(&text).map_err(|r| invalid("HUBSPOT_EMAILS_RATE_LIMIT", r))?
            }
            None => rate_limit.clone(),
        };
        let api_version = match opt("HUBSPOT_API_VERSION") {
            Some(text) => text
                .parse::<hubspot_client::ApiVersion>()
                .map_err(|r| invalid("HUBSPOT_API_VERSION", r))?,
            None => hubspot_client::ApiVersion::LATEST,
        };
        let budget = match opt("HUBSPOT_BUDGET").as_deref().map(str::trim) {
            None | Some("shared") => {
                let item = |var: &'static str, app: &Option<HubSpotAuth>, default: &str| {
                    opt(var).unwrap_or_else(|| {
                        crate::store::dynamodb::budget_item_id(
                            app.as_ref()
                                .and_then(HubSpotAuth::token_item)
                                .unwrap_or(default),
                        )
                    })
                };
                let (main, emails) = match &hubspot {
                    Some((main, emails)) => (Some(main.clone()), emails.clone()),
                    None => (None, None),
                };
                let fallback_share = match opt("HUBSPOT_BUDGET_FALLBACK_SHARE") {
                    None => 4,
                    Some(v) => v
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            invalid(
                                "HUBSPOT_BUDGET_FALLBACK_SHARE",
                                format!("{v:?} is not a whole number >= 1"),
                            )
                        })?,
                };
                let main_item = item("HUBSPOT_BUDGET_ITEM", &main, MAIN_TOKEN_ITEM);
                let emails_item = item("HUBSPOT_EMAILS_BUDGET_ITEM", &emails, EMAILS_TOKEN_ITEM);
                if main_item == emails_item {
                    return Err(invalid(
                        "HUBSPOT_EMAILS_BUDGET_ITEM",
                        format!(
                            "{emails_item:?} is the main app's budget item too: HubSpot counts each app apart"
                        ),
                    ));
                }
                Budget::Shared {
                    table: opt("HUBSPOT_BUDGET_TABLE"),
                    main_item,
                    emails_item,
                    fallback_share,
                }
            }
            Some("local") => Budget::Local,
            Some(other) => {
                return Err(invalid(
                    "HUBSPOT_BUDGET",
                    format!("{other:?} is neither shared nor local"),
                ));
            }
        };
        let core_base_url = match (opt("THISCOVERY_CORE_URL"), &named_env) {
            (Some(url), _) => url,
            (None, Some(env)) => core_base_url_for(env),
            (None, None) => return Err(ConfigError::Missing("THISCOVERY_CORE_URL")),
        };
        url::Url::parse(&core_base_url)
            .map_err(|e| invalid("THISCOVERY_CORE_URL", e.to_string()))?;
        let core_api_key = opt("THISCOVERY_CORE_API_KEY").map(SecretString::from);
        Ok(FromEnv {
            namespace,
            stack_name,
            crm,
            hubspot_base_url,
            hubspot,
            rate_limit,
            emails_rate_limit,
            api_version,
            budget,
            core_base_url,
            core_api_key,
        })
    }

    /// The configuration from the environment alone: every credential must be in a
    /// variable.
    fn without_secrets(self) -> Result<StackConfig, ConfigError> {
        let from_secret = |what: &str, secret: &str| {
            self.namespace.as_ref().map(|ns| ConfigError::Invalid {
                var: "SECRETS_NAMESPACE",
                reason: format!(
                    "{what} is to be read from the secret {ns}{secret}: load the configuration with StackConfig::from_env_and_secrets"
                ),
            })
        };
        let Some(hubspot) = self.hubspot.clone() else {
            return Err(
                from_secret("HubSpot's OAuth app", secrets::HUBSPOT_CONNECTION).unwrap_or_else(
                    || ConfigError::Invalid {
                        var: "HUBSPOT_ACCESS_TOKEN",
                        reason:
                            "set it, or HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET for OAuth, \
                             or SECRETS_NAMESPACE to read them from Secrets Manager"
                                .into(),
                    },
                ),
            );
        };
        let Some(core_api_key) = self.core_api_key.clone() else {
            return Err(
                from_secret("thiscovery-core's API key", secrets::AWS_CONNECTION)
                    .unwrap_or(ConfigError::Missing("THISCOVERY_CORE_API_KEY")),
            );
        };
        Ok(self.into_config(hubspot, core_api_key, Rotation::default()))
    }

    fn into_config(
        self,
        (hubspot_auth, emails_hubspot_auth): (HubSpotAuth, Option<HubSpotAuth>),
        core_api_key: SecretString,
        rotation: Rotation,
    ) -> StackConfig {
        StackConfig {
            stack_name: self.stack_name,
            crm: self.crm,
            hubspot_base_url: self.hubspot_base_url,
            hubspot_auth,
            rate_limit: self.rate_limit,
            emails_hubspot_auth,
            emails_rate_limit: self.emails_rate_limit,
            api_version: self.api_version,
            budget: self.budget,
            core_base_url: self.core_base_url,
            core_api_key,
            secrets_namespace: self.namespace,
            rotation,
        }
    }
}

impl StackConfig {
    /// Reads the configuration from the process environment only (no Secrets Manager); see
    /// [`from_env_and_secrets`](Self::from_env_and_secrets) for the Lambda's.
    pub fn from_env() -> Result<StackConfig, ConfigError> {
        StackConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get` (a variable's value, if set), without Secrets
    /// Manager: every credential must be in a variable. With `SECRETS_NAMESPACE` set, a
    /// credential no variable gives is an error naming `SECRETS_NAMESPACE`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<StackConfig, ConfigError> {
        FromEnv::read(get)?.without_secrets()
    }

    /// Reads the configuration from the process environment and, when `SECRETS_NAMESPACE` is
    /// set, the credentials no variable gives from Secrets Manager through `secrets_manager`
    /// (see the module docs). What the Lambda calls at cold start.
    pub async fn from_env_and_secrets(
        secrets_manager: aws_sdk_secretsmanager::Client,
    ) -> Result<StackConfig, ConfigError> {
        StackConfig::from_lookup_and_secrets(|name| std::env::var(name).ok(), secrets_manager).await
    }

    /// [`from_env_and_secrets`](Self::from_env_and_secrets) with the variables read through
    /// `get`.
    pub async fn from_lookup_and_secrets(
        get: impl Fn(&str) -> Option<String>,
        secrets_manager: aws_sdk_secretsmanager::Client,
    ) -> Result<StackConfig, ConfigError> {
        let env = FromEnv::read(get)?;
        let Some(namespace) = env.namespace.clone() else {
            return env.without_secrets();
        };
        let secrets = Secrets::new(secrets_manager, namespace);
        let mut rotation = Rotation {
            secrets: Some(secrets.clone()),
            ..Rotation::default()
        };
        let hubspot = match env.hubspot.clone() {
            Some(hubspot) => hubspot,
            None => {
                let connection = secrets.hubspot_connection().await?;
                rotation.hubspot = true;
                (
                    HubSpotAuth::oauth(connection.main, MAIN_TOKEN_ITEM),
                    connection
                        .emails
                        .map(|emails| HubSpotAuth::oauth(emails, EMAILS_TOKEN_ITEM)),
                )
            }
        };
        let core_api_key = match env.core_api_key.clone() {
            Some(key) => key,
            None => {
                rotation.core_api_key = true;
                secrets.aws_connection().await?.api_key
            }
        };
        Ok(env.into_config(hubspot, core_api_key, rotation))
    }

    /// Whether the HubSpot apps' credentials were read from `{ns}hubspot-connection` (and so
    /// are read again when HubSpot refuses a refresh).
    pub fn hubspot_from_secrets(&self) -> bool {
        self.rotation.hubspot
    }

    /// Whether thiscovery-core's key was read from `{ns}aws-connection` (and so is read
    /// again when core refuses it).
    pub fn core_api_key_from_secrets(&self) -> bool {
        self.rotation.core_api_key
    }

    /// The table names.
    pub fn tables(&self) -> TableNames {
        TableNames::for_stack(&self.stack_name)
    }

    /// Builds the stack on DynamoDB with this configuration (clients are built here, once).
    pub fn build(&self, dynamodb: aws_sdk_dynamodb::Client) -> Result<Crm, ConfigError> {
        self.build_with(dynamodb, |builder| builder)
    }

    /// Like [`build`](Self::build), with a chance to adjust each HubSpot client's builder
    /// (the main app's, and the emails app's if there is one) before it is built (e.g. a
    /// test's retry policy: `|b| b.retry_policy(RetryPolicy::fast_for_tests())`).
    pub fn build_with(
        &self,
        dynamodb: aws_sdk_dynamodb::Client,
        adjust: impl Fn(hubspot_client::ClientBuilder) -> hubspot_client::ClientBuilder,
    ) -> Result<Crm, ConfigError> {
        let tables = self.tables();
        let stores = Stores::dynamodb(dynamodb.clone(), &tables);
        let client = |auth: &HubSpotAuth, limit: &RateLimit, app: HubSpotApp| {
            let mut builder = hubspot_client::Client::builder()
                .base_url(&self.hubspot_base_url)
                .api_version(self.api_version)
                .rate_limit(limit.clone());
            if let Budget::Shared {
                table,
                main_item,
                emails_item,
                fallback_share,
            } = &self.budget
            {
                let item = match app {
                    HubSpotApp::Main => main_item,
                    HubSpotApp::Emails => emails_item,
                };
                let store = DynamoBudgetStore::new(
                    dynamodb.clone(),
                    table.clone().unwrap_or_else(|| tables.tokens.clone()),
                    item.clone(),
                );
                builder = builder.shared_budget(
                    SharedBudget::new(Arc::new(store)).fallback_share(*fallback_share),
                );
            }
            builder = match auth {
                HubSpotAuth::Static(token) => builder.static_token(token.expose_secret()),
                HubSpotAuth::OAuth {
                    client_id,
                    client_secret,
                    token_item,
                    initial_refresh_token,
                } => {
                    let store: Arc<dyn TokenStore> = match token_item.as_str() {
                        MAIN_TOKEN_ITEM => stores.tokens.clone(),
                        EMAILS_TOKEN_ITEM => stores.email_tokens.clone(),
                        other => Arc::new(DynamoTokenStore::new(
                            dynamodb.clone(),
                            tables.tokens.clone(),
                            other,
                        )),
                    };
                    let mut oauth =
                        OAuthConfig::new(client_id.clone(), client_secret.expose_secret(), store);
                    if let Some(token) = initial_refresh_token {
                        oauth = oauth.refresh_token(token.expose_secret());
                    }
                    if let (Some(secrets), true) = (&self.rotation.secrets, self.rotation.hubspot) {
                        oauth = oauth.credentials_source(Arc::new(secrets.hubspot_app_source(app)));
                    }
                    builder.oauth(oauth)
                }
            };
            adjust(builder).build().map_err(|e| ConfigError::Setup {
                what: "a HubSpot client",
                reason: e.to_string(),
            })
        };
        let hubspot = client(&self.hubspot_auth, &self.rate_limit, HubSpotApp::Main)?;
        let emails_hubspot = match &self.emails_hubspot_auth {
            Some(auth) => Some(client(auth, &self.emails_rate_limit, HubSpotApp::Emails)?),
            None => None,
        };
        let mut directory =
            HttpDirectory::new(&self.core_base_url, self.core_api_key.expose_secret()).map_err(
                |e| ConfigError::Setup {
                    what: "the thiscovery-core client",
                    reason: e.to_string(),
                },
            )?;
        if let (Some(secrets), true) = (&self.rotation.secrets, self.rotation.core_api_key) {
            directory = directory.with_key_source(Arc::new(secrets.core_api_key_source()));
        }
        let mut builder = Crm::builder()
            .hubspot(hubspot)
            .stores(stores)
            .directory(Arc::new(directory))
            .config(self.crm.clone());
        if let Some(emails) = emails_hubspot {
            builder = builder.emails_hubspot(emails);
        }
        builder.build().map_err(|e| ConfigError::Setup {
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
    fn the_rate_budget_is_shared_by_default_and_can_be_local() {
        let c = StackConfig::from_lookup(env(BASE)).unwrap();
        assert_eq!(c.budget, Budget::shared_in_tokens_table());
        let Budget::Shared {
            table,
            main_item,
            emails_item,
            fallback_share,
        } = &c.budget
        else {
            unreachable!()
        };
        assert_eq!(table, &None);
        assert_eq!(main_item, "rate-budget/hubspot");
        assert_eq!(emails_item, "rate-budget/hubspot-emails");
        assert_eq!(*fallback_share, 4);

        let mut vars = BASE.to_vec();
        vars.extend([
            ("HUBSPOT_BUDGET_TABLE", "shared-budgets"),
            ("HUBSPOT_BUDGET_ITEM", "app-123"),
            ("HUBSPOT_BUDGET_FALLBACK_SHARE", "8"),
        ]);
        let c = StackConfig::from_lookup(env(&vars)).unwrap();
        assert_eq!(
            c.budget,
            Budget::Shared {
                table: Some("shared-budgets".into()),
                main_item: "app-123".into(),
                emails_item: "rate-budget/hubspot-emails".into(),
                fallback_share: 8,
            }
        );

        let mut vars = BASE.to_vec();
        vars.push(("HUBSPOT_BUDGET", "local"));
        assert_eq!(
            StackConfig::from_lookup(env(&vars)).unwrap().budget,
            Budget::Local
        );

        for (var, value) in [
            ("HUBSPOT_BUDGET", "global"),
            ("HUBSPOT_BUDGET_FALLBACK_SHARE", "0"),
            ("HUBSPOT_EMAILS_BUDGET_ITEM", "rate-budget/hubspot"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((var, value));
            let err = StackConfig::from_lookup(env(&vars))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }

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
        assert_eq!(c.api_version, hubspot_client::ApiVersion::V2026_09);
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
            (with(("HUBSPOT_API_VERSION", "v9")), "HUBSPOT_API_VERSION"),
            (with(("HUBSPOT_RATE_LIMIT", "1/10s")), "HUBSPOT_RATE_LIMIT"),
            (with(("HUBSPOT_BASE_URL", "not a url")), "HUBSPOT_BASE_URL"),
            (with(("CRM_MAX_ATTEMPTS", "0")), "CRM_MAX_ATTEMPTS"),
            (with(("CRM_LEASE_SECONDS", "soon")), "CRM_LEASE_SECONDS"),
            (with(("CRM_BATCH_LIMIT", "0")), "CRM_BATCH_LIMIT"),
            (with(("CRM_PAGE_SIZE", "many")), "CRM_PAGE_SIZE"),
            (
                with(("CRM_EMAIL_MAX_AGE_HOURS", "0")),
                "CRM_EMAIL_MAX_AGE_HOURS",
            ),
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
        assert_eq!(c.crm.email_max_age, Duration::from_secs(72 * 3600));
        let paged = [
            ("CRM_PAGE_SIZE", "250"),
            ("CRM_BATCH_LIMIT", "5000"),
            ("CRM_EMAIL_MAX_AGE_HOURS", "100"),
        ];
        let c = StackConfig::from_lookup(env(&[&vars[..], &paged[..]].concat())).unwrap();
        assert_eq!((c.crm.page_size, c.crm.batch_limit), (250, 5_000));
        assert_eq!(c.crm.email_max_age, Duration::from_secs(100 * 3600));
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn two_apps_from_the_environment() {
        let oauth = [
            ("STACK_NAME", "s"),
            ("HUBSPOT_CLIENT_ID", "main-id"),
            ("HUBSPOT_CLIENT_SECRET", "main-SECRET"),
            ("HUBSPOT_EMAILS_CLIENT_ID", "emails-id"),
            ("HUBSPOT_EMAILS_CLIENT_SECRET", "emails-SECRET"),
            ("HUBSPOT_EMAILS_REFRESH_TOKEN", "refresh-SECRET"),
            ("HUBSPOT_RATE_LIMIT", "190/10s"),
            ("THISCOVERY_CORE_URL", "http://x"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let c = StackConfig::from_lookup(env(&oauth)).unwrap();
        assert!(matches!(
            &c.emails_hubspot_auth,
            Some(HubSpotAuth::OAuth { client_id, token_item, initial_refresh_token: Some(_), .. })
                if client_id == "emails-id" && token_item == "hubspot-emails"
        ));
        assert_eq!(
            c.emails_rate_limit.max_requests, 190,
            "the main app's by default"
        );
        assert!(!c.hubspot_from_secrets() && !c.core_api_key_from_secrets());
        assert!(!format!("{c:?}").contains("SECRET"), "{c:?}");
        // A static token for the emails app, with its own budget.
        let mut vars = BASE.to_vec();
        vars.push(("HUBSPOT_EMAILS_ACCESS_TOKEN", "pat-emails-SECRET"));
        vars.push(("HUBSPOT_EMAILS_RATE_LIMIT", "110/10s"));
        let c = StackConfig::from_lookup(env(&vars)).unwrap();
        assert!(matches!(
            c.emails_hubspot_auth,
            Some(HubSpotAuth::Static(_))
        ));
        assert_eq!(c.emails_rate_limit.max_requests, 110);
        assert!(!format!("{c:?}").contains("SECRET"));
        // One app: no emails client.
        let c = StackConfig::from_lookup(env(BASE)).unwrap();
        assert!(c.emails_hubspot_auth.is_none());
    }

    #[test]
    fn emails_app_problems_name_their_variable() {
        let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
            let mut v: Vec<(&str, &str)> = BASE.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                with(&[("HUBSPOT_EMAILS_CLIENT_ID", "e")]),
                "HUBSPOT_EMAILS_CLIENT_SECRET",
            ),
            (
                with(&[("HUBSPOT_EMAILS_CLIENT_SECRET", "e")]),
                "HUBSPOT_EMAILS_CLIENT_ID",
            ),
            (
                with(&[
                    ("HUBSPOT_EMAILS_ACCESS_TOKEN", "t"),
                    ("HUBSPOT_EMAILS_CLIENT_ID", "e"),
                ]),
                "HUBSPOT_EMAILS_ACCESS_TOKEN",
            ),
            (
                with(&[("HUBSPOT_EMAILS_RATE_LIMIT", "1/10s")]),
                "HUBSPOT_EMAILS_RATE_LIMIT",
            ),
        ];
        for (vars, name) in cases {
            let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        // Only the emails app: the main app is what is missing.
        let vars = [
            ("STACK_NAME", "s"),
            ("HUBSPOT_EMAILS_ACCESS_TOKEN", "t"),
            ("THISCOVERY_CORE_URL", "http://x"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("HUBSPOT_ACCESS_TOKEN"), "{err}");
        // Two OAuth apps on one token item.
        let vars = [
            ("STACK_NAME", "s"),
            ("HUBSPOT_CLIENT_ID", "a"),
            ("HUBSPOT_CLIENT_SECRET", "a"),
            ("HUBSPOT_EMAILS_CLIENT_ID", "b"),
            ("HUBSPOT_EMAILS_CLIENT_SECRET", "b"),
            ("HUBSPOT_EMAILS_TOKEN_ITEM", "hubspot"),
            ("THISCOVERY_CORE_URL", "http://x"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(
            err.to_string().contains("HUBSPOT_EMAILS_TOKEN_ITEM"),
            "{err}"
        );
    }

    #[test]
    fn the_environment_name_gives_the_python_stacks_names() {
        // SECRETS_NAMESPACE names the environment: stack, lookups namespace, core URL.
        let vars = [
            ("SECRETS_NAMESPACE", "/staging/"),
            ("HUBSPOT_ACCESS_TOKEN", "t"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let c = StackConfig::from_lookup(env(&vars)).unwrap();
        assert_eq!(c.stack_name, "thiscovery-crm-staging");
        assert_eq!(c.tables().tokens, "thiscovery-crm-staging-tokens");
        assert_eq!(c.crm.env, "staging");
        assert_eq!(c.core_base_url, "https://staging-api.thiscovery.org/");
        assert_eq!(c.secrets_namespace.as_deref(), Some("/staging/"));
        // prod's core is api.thiscovery.org; explicit variables win.
        let vars = [
            ("CRM_ENV", "prod"),
            ("HUBSPOT_ACCESS_TOKEN", "t"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let c = StackConfig::from_lookup(env(&vars)).unwrap();
        assert_eq!(c.stack_name, "thiscovery-crm-prod");
        assert_eq!(c.core_base_url, "https://api.thiscovery.org/");
        let explicit = [
            ("STACK_NAME", "mine"),
            ("THISCOVERY_CORE_URL", "http://127.0.0.1:9/"),
        ];
        let c = StackConfig::from_lookup(env(&[&vars[..], &explicit[..]].concat())).unwrap();
        assert_eq!(c.stack_name, "mine");
        assert_eq!(c.core_base_url, "http://127.0.0.1:9/");
        // Problems.
        for (vars, name) in [
            (
                vec![("SECRETS_NAMESPACE", "prod"), ("HUBSPOT_ACCESS_TOKEN", "t")],
                "SECRETS_NAMESPACE",
            ),
            (
                vec![
                    ("SECRETS_NAMESPACE", "/a/b/"),
                    ("HUBSPOT_ACCESS_TOKEN", "t"),
                ],
                "SECRETS_NAMESPACE",
            ),
            (
                vec![
                    ("SECRETS_NAMESPACE", "/prod/"),
                    ("CRM_ENV", "staging"),
                    ("HUBSPOT_ACCESS_TOKEN", "t"),
                ],
                "CRM_ENV",
            ),
            (
                vec![("CRM_ENV", "not a name"), ("HUBSPOT_ACCESS_TOKEN", "t")],
                "CRM_ENV",
            ),
        ] {
            let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn without_secrets_manager_a_credential_in_a_secret_is_an_error_naming_it() {
        let vars = [
            ("SECRETS_NAMESPACE", "/prod/"),
            ("THISCOVERY_CORE_API_KEY", "k"),
        ];
        let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { var: "SECRETS_NAMESPACE", reason } if reason.contains("/prod/hubspot-connection")),
            "{err}"
        );
        let vars = [
            ("SECRETS_NAMESPACE", "/prod/"),
            ("HUBSPOT_ACCESS_TOKEN", "t"),
        ];
        let err = StackConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("/prod/aws-connection"), "{err}");
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

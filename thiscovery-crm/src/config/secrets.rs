//! The secrets the Python stack deploys with, read from AWS Secrets Manager as it reads them.
//!
//! | secret id | JSON keys | used for |
//! |---|---|---|
//! | `{ns}hubspot-connection` | `client-id`, `client-secret` | the main HubSpot OAuth app (token item `hubspot`) |
//! | | `emails-client-id`, `emails-client-secret` | the emails app (token item `hubspot-emails`); both absent: the main app does everything |
//! | | `app-id`, `emails-app-id`, `api-key` | tolerated, not used |
//! | `{ns}aws-connection` | `aws-api-key` | thiscovery-core's `x-api-key` |
//!
//! `{ns}` is `SECRETS_NAMESPACE`, `/{env}/` (e.g. `/prod/`). Each SecretString is a JSON
//! object; every key read must be a non-empty string. Errors name the secret id and the key,
//! never a value.
//!
//! The stack reads both secrets once per cold start ([`StackConfig::from_env_and_secrets`](
//! super::StackConfig::from_env_and_secrets)) and keeps them. Rotation is handled by reading
//! a secret again when the credential it holds is refused: [`HubSpotAppSource`] after HubSpot
//! refuses an OAuth refresh, [`CoreApiKeySource`] after thiscovery-core refuses the API key;
//! each is asked at most once per refusal.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use hubspot_client::auth::{ClientCredentials, CredentialsSource, TokenStoreError};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::directory::http::{ApiKeySource, ApiKeySourceError};

/// The name (after the namespace) of the secret holding the HubSpot OAuth apps.
pub const HUBSPOT_CONNECTION: &str = "hubspot-connection";
/// The name (after the namespace) of the secret holding thiscovery-core's API key.
pub const AWS_CONNECTION: &str = "aws-connection";

/// A Secrets Manager client with the timeouts the Lambda uses (3 s to connect, 5 s per
/// attempt, 15 s per call), from a configuration builder, e.g. `(&sdk_config).into()`.
pub fn client_with_timeouts(config: aws_sdk_secretsmanager::config::Builder) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build();
    Client::from_conf(config.timeout_config(timeouts).build())
}

/// A secret could not be read, or does not hold what the stack needs. Every variant names
/// the secret id; none holds a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Secrets Manager has no secret with this id.
    #[error("secret {secret_id} does not exist in Secrets Manager")]
    NotFound {
        /// The secret id.
        secret_id: String,
    },
    /// Secrets Manager could not be asked, or refused (e.g. access denied).
    #[error("could not read secret {secret_id} from Secrets Manager: {reason}")]
    Unreadable {
        /// The secret id.
        secret_id: String,
        /// The SDK's error with its causes, rendered (it holds no secret value).
        reason: String,
    },
    /// The SecretString is not a JSON object.
    #[error("secret {secret_id} is not a JSON object: {reason}")]
    NotJson {
        /// The secret id.
        secret_id: String,
        /// Where or why (never the text).
        reason: String,
    },
    /// A key is missing or its value is not a non-empty string.
    #[error("secret {secret_id}: key `{key}` {problem}")]
    Key {
        /// The secret id.
        secret_id: String,
        /// The JSON key.
        key: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// `{ns}hubspot-connection`: the HubSpot OAuth apps. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubSpotConnection {
    /// The main app (`client-id`, `client-secret`): contacts and timeline events.
    pub main: ClientCredentials,
    /// The emails app (`emails-client-id`, `emails-client-secret`): transactional
    /// single-send. `None` when both keys are absent: the main app sends emails too.
    pub emails: Option<ClientCredentials>,
}

impl HubSpotConnection {
    /// Parses the secret `secret_id`'s SecretString.
    pub fn from_json(secret_id: &str, text: &str) -> Result<Self, SecretError> {
        let object = json_object(secret_id, text)?;
        let main = ClientCredentials::new(
            string_key(secret_id, &object, "client-id")?,
            string_key(secret_id, &object, "client-secret")?,
        );
        let present = |key: &str| object.get(key).is_some_and(|v| !v.is_null());
        let emails = match (present("emails-client-id"), present("emails-client-secret")) {
            (false, false) => None,
            (true, false) => {
                return Err(SecretError::Key {
                    secret_id: secret_id.to_owned(),
                    key: "emails-client-secret",
                    problem: "is missing while emails-client-id is set",
                });
            }
            (false, true) => {
                return Err(SecretError::Key {
                    secret_id: secret_id.to_owned(),
                    key: "emails-client-id",
                    problem: "is missing while emails-client-secret is set",
                });
            }
            (true, true) => Some(ClientCredentials::new(
                string_key(secret_id, &object, "emails-client-id")?,
                string_key(secret_id, &object, "emails-client-secret")?,
            )),
        };
        Ok(HubSpotConnection { main, emails })
    }
}

/// `{ns}aws-connection`: thiscovery-core's API key. `Debug` redacts it.
#[derive(Clone)]
#[non_exhaustive]
pub struct AwsConnection {
    /// `aws-api-key`: sent as `x-api-key` on every thiscovery-core call.
    pub api_key: SecretString,
}

impl fmt::Debug for AwsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsConnection")
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

impl AwsConnection {
    /// Parses the secret `secret_id`'s SecretString.
    pub fn from_json(secret_id: &str, text: &str) -> Result<Self, SecretError> {
        let object = json_object(secret_id, text)?;
        Ok(AwsConnection {
            api_key: SecretString::from(string_key(secret_id, &object, "aws-api-key")?),
        })
    }
}

fn json_object(secret_id: &str, text: &str) -> Result<Map<String, Value>, SecretError> {
    let not_json = |reason: String| SecretError::NotJson {
        secret_id: secret_id.to_owned(),
        reason,
    };
    // Parsed as any value first: serde's "invalid type" messages would quote the text.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(not_json(format!("it is {}", json_kind(&other)))),
        Err(e) => Err(not_json(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_key(
    secret_id: &str,
    object: &Map<String, Value>,
    key: &'static str,
) -> Result<String, SecretError> {
    let problem = match object.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => return Ok(s.clone()),
        Some(Value::String(_)) => "is empty",
        None | Some(Value::Null) => "is missing",
        Some(_) => "is not a string",
    };
    Err(SecretError::Key {
        secret_id: secret_id.to_owned(),
        key,
        problem,
    })
}

/// The thiscovery secrets under one namespace (`/{env}/`), read through AWS's Secrets
/// Manager client. Cheap to clone.
#[derive(Clone)]
pub struct Secrets {
    client: Client,
    namespace: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// The secrets under `namespace` (e.g. `/prod/`), read with `client`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        Secrets {
            client,
            namespace: namespace.into(),
        }
    }

    /// The namespace, e.g. `/prod/`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The id of the secret `name` in this namespace, e.g. `/prod/hubspot-connection`.
    pub fn secret_id(&self, name: &str) -> String {
        format!("{}{name}", self.namespace)
    }

    /// Reads `{ns}hubspot-connection`.
    pub async fn hubspot_connection(&self) -> Result<HubSpotConnection, SecretError> {
        let id = self.secret_id(HUBSPOT_CONNECTION);
        HubSpotConnection::from_json(&id, &self.read(&id).await?)
    }

    /// Reads `{ns}aws-connection`.
    pub async fn aws_connection(&self) -> Result<AwsConnection, SecretError> {
        let id = self.secret_id(AWS_CONNECTION);
        AwsConnection::from_json(&id, &self.read(&id).await?)
    }

    /// Where `app`'s credentials are read again after HubSpot refuses a refresh.
    pub fn hubspot_app_source(&self, app: HubSpotApp) -> HubSpotAppSource {
        HubSpotAppSource {
            secrets: self.clone(),
            app,
        }
    }

    /// Where thiscovery-core's API key is read again after core refuses it.
    pub fn core_api_key_source(&self) -> CoreApiKeySource {
        CoreApiKeySource {
            secrets: self.clone(),
        }
    }

    /// The current SecretString of `secret_id`.
    async fn read(&self, secret_id: &str) -> Result<String, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    SecretError::NotFound {
                        secret_id: secret_id.to_owned(),
                    }
                } else {
                    SecretError::Unreadable {
                        secret_id: secret_id.to_owned(),
                        reason: DisplayErrorContext(&e).to_string(),
                    }
                }
            })?;
        tracing::info!(secret_id, "read secret");
        output.secret_string.ok_or_else(|| SecretError::NotJson {
            secret_id: secret_id.to_owned(),
            reason: "it has no SecretString (a binary secret)".to_owned(),
        })
    }
}

/// Which HubSpot OAuth app of `{ns}hubspot-connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubSpotApp {
    /// `client-id`, `client-secret`.
    Main,
    /// `emails-client-id`, `emails-client-secret`.
    Emails,
}

/// A [`CredentialsSource`]: one app's credentials, read again from `{ns}hubspot-connection`.
#[derive(Debug, Clone)]
pub struct HubSpotAppSource {
    secrets: Secrets,
    app: HubSpotApp,
}

#[async_trait]
impl CredentialsSource for HubSpotAppSource {
    async fn reload(&self) -> Result<ClientCredentials, TokenStoreError> {
        let id = self.secrets.secret_id(HUBSPOT_CONNECTION);
        let connection = self.secrets.hubspot_connection().await?;
        match self.app {
            HubSpotApp::Main => Ok(connection.main),
            HubSpotApp::Emails => connection.emails.ok_or_else(|| {
                Box::new(SecretError::Key {
                    secret_id: id,
                    key: "emails-client-id",
                    problem: "is missing (the emails app was configured at cold start)",
                }) as TokenStoreError
            }),
        }
    }
}

/// An [`ApiKeySource`]: thiscovery-core's key, read again from `{ns}aws-connection`.
#[derive(Debug, Clone)]
pub struct CoreApiKeySource {
    secrets: Secrets,
}

#[async_trait]
impl ApiKeySource for CoreApiKeySource {
    async fn reload(&self) -> Result<SecretString, ApiKeySourceError> {
        Ok(self.secrets.aws_connection().await?.api_key)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const ID: &str = "/prod/hubspot-connection";

    #[test]
    fn both_apps_one_app_and_the_tolerated_keys() {
        let both = r#"{"client-id": "main-id", "client-secret": "main-SECRET",
            "emails-client-id": "emails-id", "emails-client-secret": "emails-SECRET",
            "app-id": "123", "emails-app-id": 456, "api-key": "legacy-SECRET"}"#;
        let c = HubSpotConnection::from_json(ID, both).unwrap();
        assert_eq!(c.main.client_id, "main-id");
        assert_eq!(c.main.client_secret.expose_secret(), "main-SECRET");
        let emails = c.emails.clone().unwrap();
        assert_eq!(emails.client_id, "emails-id");
        assert_eq!(emails.client_secret.expose_secret(), "emails-SECRET");
        assert!(!format!("{c:?}").contains("SECRET"), "{c:?}");
        let one = r#"{"client-id": "main-id", "client-secret": "s", "emails-client-id": null}"#;
        assert!(
            HubSpotConnection::from_json(ID, one)
                .unwrap()
                .emails
                .is_none()
        );
        let key =
            AwsConnection::from_json("/prod/aws-connection", r#"{"aws-api-key": "K-SECRET"}"#)
                .unwrap();
        assert_eq!(key.api_key.expose_secret(), "K-SECRET");
        assert!(!format!("{key:?}").contains("SECRET"));
    }

    #[test]
    fn every_problem_names_the_secret_and_the_key_and_never_a_value() {
        let cases = [
            (r#"{"client-secret": "SECRET-1"}"#, "`client-id` is missing"),
            (r#"{"client-id": "i"}"#, "`client-secret` is missing"),
            (
                r#"{"client-id": "i", "client-secret": 7}"#,
                "`client-secret` is not a string",
            ),
            (
                r#"{"client-id": " ", "client-secret": "SECRET-1"}"#,
                "`client-id` is empty",
            ),
            (
                r#"{"client-id": "i", "client-secret": "SECRET-1", "emails-client-id": "e"}"#,
                "`emails-client-secret` is missing",
            ),
            (
                r#"{"client-id": "i", "client-secret": "SECRET-1", "emails-client-secret": "SECRET-2"}"#,
                "`emails-client-id` is missing",
            ),
            (r#""SECRET-1""#, "is not a JSON object: it is a string"),
            (r#"["SECRET-1"]"#, "is not a JSON object: it is an array"),
            (r#"{"client-id": "SECRET-1""#, "invalid JSON at line 1"),
            ("client-id=SECRET-1", "invalid JSON at line 1 column 1"),
        ];
        for (text, expected) in cases {
            let err = HubSpotConnection::from_json(ID, text).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(ID), "{shown}");
            assert!(shown.contains(expected), "{text}: {shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        let err = AwsConnection::from_json("/prod/aws-connection", "{}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret /prod/aws-connection: key `aws-api-key` is missing"
        );
    }
}

//! A real Secrets Manager API for tests: moto's server mode (`moto_server`, PyPI
//! `moto[server]`), started on a free port and stopped when the handle is dropped.
//!
//! [`MotoServer::start`] runs the first `moto_server` it finds, in this order:
//!
//! 1. `MOTO_SERVER_BIN` ([`BIN_ENV`]): the path of the executable (`scripts/test.sh` installs
//!    `moto[server]` into `target/tools-venv` and sets it);
//! 2. `moto_server` on `PATH`;
//! 3. `<workspace>/target/tools-venv/bin/moto_server`, where `scripts/test.sh` installs it.
//!
//! If none is found, or it does not answer, it fails with a message saying how to get one.
//! There is no way to skip: a test that needs Secrets Manager fails without it.
//!
//! Most tests should use [`MotoServer::shared`]: one server per test process (it starts in
//! about a second), with a fresh namespace per test ([`MotoServer::new_namespace`]) so tests
//! run in parallel without seeing each other's secrets. A watchdog stops the server when the
//! test process exits, however it exits (the DynamoDB Local harness's design: see
//! `process.rs`).
//!
//! ```no_run
//! # async fn example() -> Result<(), crm_testkit::secrets::MotoError> {
//! use crm_testkit::secrets::MotoServer;
//!
//! let moto = MotoServer::shared().await?;
//! let ns = moto.new_namespace(); // e.g. "/t-5f1c.../"
//! moto.create_secret(&format!("{ns}aws-connection"), r#"{"aws-api-key": "k"}"#).await?;
//! // point the code under test at moto.endpoint() (AWS_ENDPOINT_URL_SECRETS_MANAGER) ...
//! # Ok(()) }
//! ```

mod error;
mod process;

pub use error::MotoError;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use tokio::sync::OnceCell;

/// Environment variable naming the `moto_server` executable.
pub const BIN_ENV: &str = "MOTO_SERVER_BIN";

/// The environment variable AWS SDKs read the Secrets Manager endpoint from: set it to
/// [`MotoServer::endpoint`] in a process under test.
pub const ENDPOINT_URL_ENV: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";

/// The region the test clients are configured with (moto keeps secrets per region).
pub const TEST_REGION: &str = "eu-west-1";

/// How long [`MotoServer::start`] lets moto take to answer (about a second on a quiet
/// machine; much longer while cargo compiles next to it).
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server. A guard: dropping it stops the server.
#[derive(Debug)]
pub struct MotoServer {
    endpoint: String,
    _process: process::MotoProcess,
}

/// The per-process instance behind [`MotoServer::shared`]: the first result is kept.
static SHARED: OnceCell<Result<MotoServer, Arc<MotoError>>> = OnceCell::const_new();

impl MotoServer {
    /// Starts the `moto_server` found as the module docs say, and waits until it answers.
    pub async fn start() -> Result<Self, MotoError> {
        Self::start_bin(find_bin()?, DEFAULT_START_TIMEOUT).await
    }

    /// Starts this `moto_server` executable, waiting at most `timeout` for it to answer.
    pub async fn start_bin(bin: impl Into<PathBuf>, timeout: Duration) -> Result<Self, MotoError> {
        let bin = bin.into();
        let (process, port) = process::MotoProcess::start(&bin, timeout).await?;
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: process,
        })
    }

    /// The one server of this test process, started on first use with [`Self::start`].
    /// Never dropped, yet it never outlives the process (its watchdog stops it). If the
    /// first start fails, every later call returns that same failure at once.
    pub async fn shared() -> Result<&'static Self, MotoError> {
        let result = SHARED
            .get_or_init(|| async { Self::start().await.map_err(Arc::new) })
            .await;
        result
            .as_ref()
            .map_err(|error| MotoError::Shared(Arc::clone(error)))
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A Secrets Manager client for this server (dummy credentials, region
    /// [`TEST_REGION`]). A new one each call, so it belongs to the caller's runtime.
    pub fn client(&self) -> Client {
        client_for_endpoint(&self.endpoint)
    }

    /// A fresh namespace, `/t-` and 16 hex digits and `/`, to prefix a test's secret ids with
    /// (as `SECRETS_NAMESPACE` is `/{env}/`).
    pub fn new_namespace(&self) -> String {
        format!("/t-{:016x}/", rand::random::<u64>())
    }

    /// Creates the secret `id` with `value` as its SecretString.
    pub async fn create_secret(&self, id: &str, value: &str) -> Result<(), MotoError> {
        self.client()
            .create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| MotoError::request("CreateSecret", id, e))
    }

    /// Gives the secret `id` a new value (a new current version), as a rotation does.
    pub async fn put_secret_value(&self, id: &str, value: &str) -> Result<(), MotoError> {
        self.client()
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| MotoError::request("PutSecretValue", id, e))
    }
}

/// A Secrets Manager client for `endpoint` with dummy credentials and region
/// [`TEST_REGION`].
pub fn client_for_endpoint(endpoint: &str) -> Client {
    Client::from_conf(test_config(endpoint).build())
}

fn test_config(endpoint: &str) -> aws_sdk_secretsmanager::config::Builder {
    aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(TEST_REGION))
        .credentials_provider(Credentials::new(
            "crmtestkit",
            "crmtestkit",
            None,
            None,
            "crm-testkit",
        ))
}

/// A client for readiness polling: no retries, short timeouts.
fn probe_client(endpoint: &str) -> Client {
    use aws_sdk_secretsmanager::config::retry::RetryConfig;
    use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
    let config = test_config(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// Where `scripts/test.sh` installs moto: `<workspace>/target/tools-venv/bin/moto_server`.
fn default_install() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("tools-venv")
        .join("bin")
        .join("moto_server")
}

/// The executable to run: `MOTO_SERVER_BIN`, else `moto_server` on `PATH`, else the default
/// install.
fn find_bin() -> Result<PathBuf, MotoError> {
    if let Some(bin) = std::env::var_os(BIN_ENV).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(MotoError::BinNotFound {
                searched: format!("{BIN_ENV}={}", bin.display()),
            })
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    });
    if let Some(bin) = on_path {
        return Ok(bin);
    }
    let default = default_install();
    if default.is_file() {
        return Ok(default);
    }
    Err(MotoError::BinNotFound {
        searched: format!(
            "{BIN_ENV} (not set), moto_server on PATH, {}",
            default.display()
        ),
    })
}

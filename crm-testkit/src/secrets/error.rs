//! How the moto harness fails: [`MotoError`].

use std::error::Error as StdError;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

/// How the moto harness failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MotoError {
    /// No `moto_server` executable was found.
    #[error(
        "no moto_server found for the Secrets Manager tests (looked at {searched}). Get one by \
         any of:\n\
         \x20 - running `bash scripts/test.sh` (it installs moto[server] into \
         target/tools-venv and sets MOTO_SERVER_BIN);\n\
         \x20 - `pip install 'moto[server]'` and putting moto_server on PATH;\n\
         \x20 - setting MOTO_SERVER_BIN to the path of a moto_server executable.\n\
         These tests are never skipped: they fail until moto is there."
    )]
    BinNotFound {
        /// Where it was looked for, for the message.
        searched: String,
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
    /// moto exited before it answered.
    #[error(
        "moto_server exited with {status} before it was ready; its output ends with:\n{output_tail}"
    )]
    Exited {
        /// moto's exit status.
        status: ExitStatus,
        /// The end of moto's stdout and stderr.
        output_tail: String,
    },
    /// moto did not answer `ListSecrets` in time.
    #[error(
        "moto_server at {endpoint} did not answer ListSecrets within {waited:?}; its output ends \
         with:\n{output_tail}"
    )]
    NotReady {
        /// The endpoint polled.
        endpoint: String,
        /// How long it was given.
        waited: Duration,
        /// The end of moto's stdout and stderr.
        output_tail: String,
        /// The last polling error.
        #[source]
        last_error: Box<dyn StdError + Send + Sync>,
    },
    /// The shared server failed to start (the first failure is kept and returned to every
    /// test).
    #[error(transparent)]
    Shared(Arc<MotoError>),
    /// A Secrets Manager request made by the harness failed.
    #[error("{operation} on {target} failed")]
    Request {
        /// The operation, e.g. `CreateSecret`.
        operation: &'static str,
        /// The secret id.
        target: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl MotoError {
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

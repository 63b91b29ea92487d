//! What the two Rust peers share: configuration from the environment and the work items
//! (the same names and ids as the Python and Node peers use).

use std::future::Future;
use std::process::ExitCode;

/// The marketing email id every single-send uses.
pub const EMAIL_ID: u64 = 1001;

/// Where to send and how much.
pub struct Config {
    pub base_url: String,
    pub token: String,
    pub calls: u32,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let calls = var("PEER_CALLS")?;
        Ok(Config {
            base_url: var("HUBSPOT_BASE_URL")?,
            token: var("HUBSPOT_TOKEN")?,
            calls: calls
                .parse()
                .map_err(|_| format!("PEER_CALLS must be a count, got {calls:?}"))?,
        })
    }
}

/// The i-th contact: email, first name, last name.
pub fn contact(i: u32) -> (String, String, String) {
    (
        format!("peer{i}@example.com"),
        format!("First{i}"),
        format!("Last{i}"),
    )
}

/// The i-th single-send: recipient and send id.
pub fn send(i: u32) -> (String, String) {
    (format!("peer{i}@example.com"), format!("peer-send-{i}"))
}

/// Reads the configuration, runs the peer, reports the outcome as the exit code.
pub async fn main<F, Fut>(run: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let cfg = match Config::from_env() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("peer: {e}");
            return ExitCode::from(2);
        }
    };
    let calls = cfg.calls;
    match run(cfg).await {
        Ok(()) => {
            println!("ok {calls} upserts, {calls} sends");
            println!("peak_rss_kib {}", peak_rss_kib());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// This process's peak resident set (`VmHWM` in `/proc/self/status`), in KiB; 0 where there
/// is no such file. Read by the process itself because the kernel's rusage of a child also
/// counts the memory of the (Python) parent it was forked from.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

//! `fake-hubspot`: the crm-testkit fake HubSpot as a standalone server for local development.
//!
//! ```text
//! cargo run -p crm-testkit --bin fake-hubspot -- --port 8089 --rate-limit 100/10s --seed seed.json
//! ```
//!
//! Prints its URL and credentials on stdout, serves the admin API under `/__fake/`, and stops
//! on Ctrl-C. See the crm-testkit README for the options, the admin API and the seed format.

use std::process::ExitCode;
use std::time::Duration;

use crm_testkit::hubspot::{FakeHubSpot, Seed};

const USAGE: &str = "\
usage: fake-hubspot [options]

  --port N                  port on 127.0.0.1 (default 8089; 0 picks a free one)
  --rate-limit N/DURATION   strict rolling window per app, e.g. 100/10s or 10/100ms
  --daily-limit N           accepted requests per app before 429 DAILY
  --token-ttl DURATION      access-token lifetime, e.g. 1800s, 30m (default 1800s)
  --seed FILE               JSON seed: contacts, static_tokens, timeline_templates,
                            oauth_clients, refresh_tokens
  --rotate-refresh-tokens   issue a new refresh token on every refresh
  --accept-any-template     accept timeline events for any template id
  --single-send-pending     answer single-sends PENDING, as HubSpot does (the default; the
                            status endpoint says COMPLETE)
  --single-send-instant     answer single-sends COMPLETE with their sendResult at once
  --no-auth                 accept API requests without a valid bearer token
  -h, --help                this text

DURATION is a number with a unit: ms, s, m or h (a bare number is seconds).";

/// Prints a line on stdout, ignoring a closed stdout (a parent that stopped reading must not
/// make the server panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

#[derive(Debug)]
struct Args {
    port: u16,
    rate_limit: Option<(u32, Duration)>,
    daily_limit: Option<u64>,
    token_ttl: Duration,
    seed: Option<String>,
    rotate_refresh_tokens: bool,
    accept_any_template: bool,
    single_send_pending: bool,
    no_auth: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 300ms, 30m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        other => Err(format!(
            "invalid duration {s:?}: unknown unit {other:?} (use ms, s, m or h)"
        )),
    }
}

fn parse_rate_limit(s: &str) -> Result<(u32, Duration), String> {
    let (n, window) = s
        .split_once('/')
        .ok_or_else(|| format!("invalid --rate-limit {s:?}: expected N/DURATION, e.g. 100/10s"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("invalid --rate-limit {s:?}: {n:?} is not a count"))?;
    let window = parse_duration(window)?;
    if n == 0 || window.is_zero() {
        return Err(format!(
            "invalid --rate-limit {s:?}: count and window must be positive"
        ));
    }
    Ok((n, window))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        port: 8089,
        rate_limit: None,
        daily_limit: None,
        token_ttl: FakeHubSpot::DEFAULT_TOKEN_TTL,
        seed: None,
        rotate_refresh_tokens: false,
        accept_any_template: false,
        single_send_pending: true,
        no_auth: false,
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => {
                let v = value("--port")?;
                args.port = v
                    .parse()
                    .map_err(|_| format!("invalid --port {v:?}: expected 0-65535"))?;
            }
            "--rate-limit" => args.rate_limit = Some(parse_rate_limit(&value("--rate-limit")?)?),
            "--daily-limit" => {
                let v = value("--daily-limit")?;
                args.daily_limit = Some(
                    v.parse()
                        .map_err(|_| format!("invalid --daily-limit {v:?}: expected a count"))?,
                );
            }
            "--token-ttl" => args.token_ttl = parse_duration(&value("--token-ttl")?)?,
            "--seed" => args.seed = Some(value("--seed")?),
            "--rotate-refresh-tokens" => args.rotate_refresh_tokens = true,
            "--accept-any-template" => args.accept_any_template = true,
            "--single-send-pending" => args.single_send_pending = true,
            "--single-send-instant" => args.single_send_pending = false,
            "--no-auth" => args.no_auth = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

async fn run(args: Args) -> Result<(), String> {
    let mut builder = FakeHubSpot::builder()
        .token_ttl(args.token_ttl)
        .rotate_refresh_tokens(args.rotate_refresh_tokens)
        .accept_any_template(args.accept_any_template)
        .single_send_pending(args.single_send_pending)
        .require_auth(!args.no_auth);
    if let Some((n, window)) = args.rate_limit {
        builder = builder.rate_limit(n, window);
    }
    if let Some(n) = args.daily_limit {
        builder = builder.daily_limit(n);
    }
    if let Some(path) = &args.seed {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read seed file {path}: {e}"))?;
        let seed = Seed::from_json(&text).map_err(|e| format!("invalid seed file {path}: {e}"))?;
        builder = builder.seed(seed);
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let fake = builder.listener(listener).start().await;
    let tokens = fake.issue_token_set();
    let url = fake.base_url();
    say!("fake-hubspot listening on {url}");
    say!("static token:        {}", FakeHubSpot::STATIC_TOKEN);
    say!("oauth client_id:     {}", FakeHubSpot::CLIENT_ID);
    say!("oauth client_secret: {}", FakeHubSpot::CLIENT_SECRET);
    say!("refresh token:       {}", tokens.refresh_token);
    say!("timeline template:   {}", FakeHubSpot::TIMELINE_TEMPLATE_ID);
    say!(
        "admin API:           {url}/__fake/journal (contacts, timeline-events, emails, faults, reset)"
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    say!("fake-hubspot stopping");
    drop(fake);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-hubspot: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-hubspot: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_limits() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("1800"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(parse_duration("10x").is_err());
        assert_eq!(
            parse_rate_limit("100/10s"),
            Ok((100, Duration::from_secs(10)))
        );
        assert!(parse_rate_limit("100").is_err());
        assert!(parse_rate_limit("0/1s").is_err());
    }

    #[test]
    fn parses_args() {
        let args = parse_args(
            ["--port", "0", "--rate-limit=10/100ms", "--no-auth"]
                .into_iter()
                .map(String::from),
        )
        .expect("valid")
        .expect("not help");
        assert_eq!(args.port, 0);
        assert_eq!(args.rate_limit, Some((10, Duration::from_millis(100))));
        assert!(args.no_auth);
        assert!(parse_args(["--bogus".to_owned()].into_iter()).is_err());
        assert!(parse_args(["--port".to_owned()].into_iter()).is_err());
    }
}

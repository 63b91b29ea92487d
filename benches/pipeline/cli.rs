//! B1's command line (`--help` prints [`USAGE`]): the rows to run, the workload's size and
//! mix, and the rate limit shared by the fake and the client. Included by `pipeline.rs` with
//! `#[path = "pipeline/cli.rs"] mod cli;`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use hubspot_client::RateLimit;
use thiscovery_crm::config::parse_rate_limit;

use crate::workload::Counts;

pub const USAGE: &str = "\
B1: the processor over N mixed notifications against a rate-limited FakeHubSpot.

USAGE:
    cargo bench -p thiscovery-crm-stack --bench pipeline -- [OPTIONS]

OPTIONS:
    --notifications <N>           Notifications per row (default 10000)
    --baseline-notifications <N>  Notifications of the baseline row (default 1000)
    --mix <R,L,S,E>               Percentages of registrations, logins, task signups and
                                  transactional emails (default 40,35,20,5)
    --rate <N/W>                  HubSpot's rolling window, scaled down, for both the fake and
                                  the client's limiter (default 100/1s: HubSpot's 100 per
                                  10 s run 10x faster, so the limiter keeps its production
                                  burst and reserve; the issue's 50/500ms halves both and
                                  so has a lower ceiling)
    --burst <N>                   The client limiter's burst (default RateLimit::new's: 2%
                                  of the limit, at least 2 from 10 up); the fake keeps the
                                  strict window. Each request of burst costs the ceiling
                                  1/N: a burst of 1 trades back-to-back pairs for pacing
    --reserve <N>                 The client limiter's reserve (default 2% of the limit)
    --page-size <N>               The sweep's page size (default CrmConfig's, 1000)
    --store-concurrency <N>       Claims and result writes a page has in flight (default
                                  CrmConfig's, 32)
    --store-latency-ms <MS>       The latency row's round trip per store call, for the
                                  notification store and the shared budget's store alike
                                  (default 8: DynamoDB in-region)
    --rows <list>                 Rows to run, comma-separated: memory, latency, dynamodb,
                                  baseline (default all four)
    --no-dynamodb                 Skip the DynamoDB Local row
    -h, --help                    Show this help
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Memory,
    Latency,
    Dynamo,
    Baseline,
}

impl Row {
    /// The row's name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Row::Memory => "batched, in-memory stores",
            Row::Latency => "batched, modelled DynamoDB latency, shared budget",
            Row::Dynamo => "batched, DynamoDB Local",
            Row::Baseline => "baseline: 1 request/notification, in-memory",
        }
    }

    /// The row's name in `--rows` and in progress lines.
    pub fn label(self) -> &'static str {
        match self {
            Row::Memory => "memory",
            Row::Latency => "latency",
            Row::Dynamo => "dynamodb",
            Row::Baseline => "baseline",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Mix {
    registrations: u32,
    logins: u32,
    signups: u32,
    emails: u32,
}

impl Mix {
    /// Splits `n` by the percentages (rounding down, the remainder to the largest share).
    pub fn split(&self, n: usize) -> Counts {
        let sum = (self.registrations + self.logins + self.signups + self.emails) as usize;
        let share = |p: u32| n * p as usize / sum;
        let mut counts = Counts {
            registrations: share(self.registrations),
            logins: share(self.logins),
            signups: share(self.signups),
            emails: share(self.emails),
        };
        let rest = n - counts.total();
        let largest = [self.registrations, self.logins, self.signups, self.emails]
            .into_iter()
            .max()
            .unwrap_or(0);
        if self.registrations == largest {
            counts.registrations += rest;
        } else if self.logins == largest {
            counts.logins += rest;
        } else if self.signups == largest {
            counts.signups += rest;
        } else {
            counts.emails += rest;
        }
        counts
    }
}

#[derive(Debug)]
pub struct Args {
    pub notifications: usize,
    pub baseline_notifications: usize,
    pub mix: Mix,
    pub rate: RateLimit,
    pub page_size: Option<usize>,
    /// Claims and result writes a page has in flight (default CrmConfig's).
    pub store_concurrency: Option<usize>,
    /// The latency row's round trip per store call.
    pub store_latency: Duration,
    pub rows: Vec<Row>,
}

/// The arguments, or `None` for `--help`. Without `--bench` (run by `cargo test --benches`),
/// a small smoke workload with no DynamoDB row.
pub fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        notifications: 10_000,
        baseline_notifications: 1_000,
        mix: Mix {
            registrations: 40,
            logins: 35,
            signups: 20,
            emails: 5,
        },
        rate: RateLimit::new(100, Duration::from_secs(1)),
        page_size: None,
        store_concurrency: None,
        store_latency: Duration::from_millis(8),
        rows: vec![Row::Memory, Row::Latency, Row::Dynamo, Row::Baseline],
    };
    let mut bench_mode = false;
    let (mut burst, mut reserve) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            // cargo bench passes --bench; cargo test --benches does not.
            "--bench" => bench_mode = true,
            "--notifications" => args.notifications = value(&arg)?.parse()?,
            "--baseline-notifications" => args.baseline_notifications = value(&arg)?.parse()?,
            "--mix" => args.mix = parse_mix(&value(&arg)?)?,
            "--rate" => {
                args.rate = parse_rate_limit(&value(&arg)?).map_err(anyhow::Error::msg)?;
            }
            "--burst" => burst = Some(value(&arg)?.parse()?),
            "--reserve" => reserve = Some(value(&arg)?.parse()?),
            "--page-size" => args.page_size = Some(value(&arg)?.parse()?),
            "--store-concurrency" => args.store_concurrency = Some(value(&arg)?.parse()?),
            "--store-latency-ms" => {
                args.store_latency = Duration::from_millis(value(&arg)?.parse()?)
            }
            "--rows" => args.rows = parse_rows(&value(&arg)?)?,
            "--no-dynamodb" => args.rows.retain(|r| *r != Row::Dynamo),
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    // After the loop, so `--burst` and `--reserve` apply whatever the order of `--rate`.
    args.rate.burst = burst.unwrap_or(args.rate.burst);
    args.rate.reserve = reserve.unwrap_or(args.rate.reserve);
    args.rate
        .validate()
        .context("--rate, --burst and --reserve together")?;
    if !bench_mode {
        eprintln!("pipeline: not run by `cargo bench` (no --bench): a small smoke run only");
        args.notifications = args.notifications.min(300);
        args.baseline_notifications = args.baseline_notifications.min(60);
        args.rows.retain(|r| *r != Row::Dynamo);
    }
    Ok(Some(args))
}

/// `--mix R,L,S,E`.
fn parse_mix(value: &str) -> Result<Mix> {
    let parts: Vec<u32> = value
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .context("--mix takes four whole percentages, e.g. 40,35,20,5")?;
    let [registrations, logins, signups, emails] = parts[..] else {
        bail!("--mix takes four percentages: registrations,logins,signups,emails");
    };
    if parts.iter().sum::<u32>() == 0 {
        bail!("--mix percentages must not all be zero");
    }
    Ok(Mix {
        registrations,
        logins,
        signups,
        emails,
    })
}

/// `--rows memory,dynamodb,baseline`.
fn parse_rows(value: &str) -> Result<Vec<Row>> {
    value
        .split(',')
        .map(|r| match r.trim() {
            "memory" => Ok(Row::Memory),
            "latency" => Ok(Row::Latency),
            "dynamodb" => Ok(Row::Dynamo),
            "baseline" => Ok(Row::Baseline),
            other => bail!("unknown row {other:?} (memory, dynamodb, baseline)"),
        })
        .collect()
}

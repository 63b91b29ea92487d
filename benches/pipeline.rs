//! B1: the processor against HubSpot's rate limit, the physical limit of this stack.
//!
//! ```text
//! cargo bench -p thiscovery-crm-stack --bench pipeline                      # all rows, a few minutes
//! cargo bench -p thiscovery-crm-stack --bench pipeline -- --help
//! cargo bench -p thiscovery-crm-stack --bench pipeline -- --notifications 2000 --no-dynamodb
//! ```
//!
//! Each row records N mixed notifications (not timed) through `Crm::record`, then times
//! `Crm::process_pending` called until nothing is pending, against a FakeHubSpot with a strict
//! rolling window and a client whose `RateLimit` matches it. Rows: in-memory stores, DynamoDB
//! Local, and the baseline (in-memory, `ClientBuilder::batch_size(1)`: one request per
//! notification, as the Python stack does), on a smaller N.
//!
//! The rate-limit bound of a row is the least time HubSpot's limit allows for its work:
//! `ceil(registrations/100) + ceil(logins/100) + ceil(task signups/100) + emails` requests at
//! `N per W`. The ratio is bound / wall time (1.0 = as fast as HubSpot allows). The default
//! window, 100 per second, is HubSpot's 100 per 10 s run ten times faster: the same request
//! count per window, so the client's limiter keeps the burst and reserve it has in production.
//!
//! Without `--bench` (i.e. run by `cargo test --benches`), it runs a small smoke workload.

// Bench code: a failure to set up is a bug in the bench, so unwrap is what we want.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot};
use hubspot_client::{Client, MAX_BATCH, RateLimit};
use thiscovery_crm::config::parse_rate_limit;
use thiscovery_crm::directory::{MemoryDirectory, User};
use thiscovery_crm::notification::{Notification, ProcessingStatus};
use thiscovery_crm::store::dynamodb::TableNames;
use thiscovery_crm::store::{
    Claim, Completion, NotificationStore, PendingKey, PutOutcome, StoreError,
};
use thiscovery_crm::testing;
use thiscovery_crm::{Crm, CrmConfig, Recorded, Stores};

#[path = "common/workload.rs"]
mod workload;
use workload::{Counts, workload};

const ENV: &str = "bench";

const USAGE: &str = "\
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
    --rows <list>                 Rows to run, comma-separated: memory, dynamodb, baseline
                                  (default all three)
    --no-dynamodb                 Skip the DynamoDB Local row
    -h, --help                    Show this help
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Memory,
    Dynamo,
    Baseline,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Memory => "batched, in-memory stores",
            Row::Dynamo => "batched, DynamoDB Local",
            Row::Baseline => "baseline: 1 request/notification, in-memory",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Mix {
    registrations: u32,
    logins: u32,
    signups: u32,
    emails: u32,
}

impl Counts {
    /// The fewest HubSpot requests this work needs: full batches of 100, one per email.
    fn min_requests(&self) -> usize {
        self.registrations.div_ceil(MAX_BATCH)
            + self.logins.div_ceil(MAX_BATCH)
            + self.signups.div_ceil(MAX_BATCH)
            + self.emails
    }
}

impl Mix {
    /// Splits `n` by the percentages (rounding down, the remainder to the largest share).
    fn split(&self, n: usize) -> Counts {
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
struct Args {
    notifications: usize,
    baseline_notifications: usize,
    mix: Mix,
    rate: RateLimit,
    page_size: Option<usize>,
    rows: Vec<Row>,
}

fn parse_args() -> Result<Option<Args>> {
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
        rows: vec![Row::Memory, Row::Dynamo, Row::Baseline],
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
            "--mix" => {
                let parts: Vec<u32> = value(&arg)?
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
                args.mix = Mix {
                    registrations,
                    logins,
                    signups,
                    emails,
                };
            }
            "--rate" => {
                args.rate = parse_rate_limit(&value(&arg)?).map_err(anyhow::Error::msg)?;
            }
            "--burst" => burst = Some(value(&arg)?.parse()?),
            "--reserve" => reserve = Some(value(&arg)?.parse()?),
            "--page-size" => args.page_size = Some(value(&arg)?.parse()?),
            "--rows" => {
                args.rows = value(&arg)?
                    .split(',')
                    .map(|r| match r.trim() {
                        "memory" => Ok(Row::Memory),
                        "dynamodb" => Ok(Row::Dynamo),
                        "baseline" => Ok(Row::Baseline),
                        other => bail!("unknown row {other:?} (memory, dynamodb, baseline)"),
                    })
                    .collect::<Result<_>>()?;
            }
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

/// Forwards to a notification store, counting the calls that write (only while `on`).
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn NotificationStore>,
    on: AtomicBool,
    writes: AtomicU64,
    reads: AtomicU64,
    completes: AtomicU64,
}

impl CountingStore {
    fn new(inner: Arc<dyn NotificationStore>) -> Self {
        CountingStore {
            inner,
            on: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            completes: AtomicU64::new(0),
        }
    }

    fn write(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl NotificationStore for CountingStore {
    async fn put_if_absent(&self, notification: &Notification) -> Result<PutOutcome, StoreError> {
        self.write();
        self.inner.put_if_absent(notification).await
    }

    async fn get(&self, id: &str) -> Result<Option<Notification>, StoreError> {
        self.read();
        self.inner.get(id).await
    }

    async fn list_pending(&self) -> Result<Vec<Notification>, StoreError> {
        self.read();
        self.inner.list_pending().await
    }

    async fn list_pending_keys(&self) -> Result<Vec<PendingKey>, StoreError> {
        self.read();
        self.inner.list_pending_keys().await
    }

    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Notification>, StoreError> {
        self.write();
        self.inner.claim(id, claim).await
    }

    async fn complete(
        &self,
        id: &str,
        owner: &str,
        completion: &Completion,
    ) -> Result<bool, StoreError> {
        self.write();
        self.completes.fetch_add(1, Ordering::Relaxed);
        self.inner.complete(id, owner, completion).await
    }

    async fn list_processed_before(
        &self,
        threshold: &str,
    ) -> Result<Vec<Notification>, StoreError> {
        self.read();
        self.inner.list_processed_before(threshold).await
    }

    async fn delete_processed(&self, id: &str) -> Result<bool, StoreError> {
        self.write();
        self.inner.delete_processed(id).await
    }
}

async fn dynamo_stores(local: &DynamoDbLocal) -> Result<Stores> {
    let stack = local.new_stack_with_tables().await?;
    Ok(Stores::dynamodb(
        local.client(),
        &TableNames::for_stack(&stack),
    ))
}

#[derive(Debug)]
struct Measured {
    row: Row,
    counts: Counts,
    wall: Duration,
    bound: Duration,
    /// The best time the client's own limiter allows for the requests sent (burst, then one
    /// request per period).
    limiter_floor: Duration,
    /// Timed start to the first HubSpot request, the span of the requests, last request to
    /// the end, and the sum of gaps between requests longer than 3 periods.
    head: Duration,
    span: Duration,
    tail: Duration,
    gaps: Duration,
    /// The most requests the fake saw in any rolling window (its limit: `rate.max_requests`).
    busiest_window: usize,
    requests: usize,
    by_endpoint: Vec<(&'static str, usize)>,
    throttled: usize,
    writes: u64,
    reads: u64,
    rounds: usize,
    /// One `list_pending_keys` of the recorded items, measured before the timed phase.
    list_pending: Duration,
    processed: usize,
    dlq: usize,
    other: usize,
    setup: Duration,
}

async fn run_row(
    row: Row,
    n: usize,
    args: &Args,
    dynamodb: Option<&DynamoDbLocal>,
) -> Result<Measured> {
    let label = match row {
        Row::Memory => "memory",
        Row::Dynamo => "dynamodb",
        Row::Baseline => "baseline",
    };
    let setup_started = Instant::now();
    let counts = args.mix.split(n);
    let rate = &args.rate;
    let hubspot = FakeHubSpot::builder()
        .rate_limit(rate.max_requests, rate.window)
        .start()
        .await;
    let mut client = Client::builder()
        .base_url(hubspot.base_url())
        .static_token(FakeHubSpot::STATIC_TOKEN)
        .rate_limit(rate.clone())
        .timeout(Duration::from_secs(30));
    if row == Row::Baseline {
        client = client.batch_size(1);
    }
    let client = client.build()?;
    let stores = match (row, dynamodb) {
        (Row::Dynamo, Some(local)) => dynamo_stores(local).await?,
        (Row::Dynamo, None) => bail!("no DynamoDB Local"),
        _ => Stores::memory(),
    };
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID).await?;
    let counting = Arc::new(CountingStore::new(stores.notifications.clone()));
    let directory = Arc::new(MemoryDirectory::new());
    let envelopes = workload(counts, &hubspot, |id, email| {
        directory.add_user(User::new(id, email).names("Altha", "Alcorn"));
    });
    let mut config = CrmConfig::for_env(ENV);
    if let Some(page_size) = args.page_size {
        config.page_size = page_size;
    }
    let crm = Crm::builder()
        .hubspot(client)
        .stores(stores.with_notifications(counting.clone()))
        .directory(directory)
        .config(config)
        .build()?;

    // Setup: record every event (16 at a time: DynamoDB Local is slow one by one).
    eprintln!(
        "pipeline: [{label}] recording {n} notifications ({} registrations, {} logins, {} task signups, {} emails)...",
        counts.registrations, counts.logins, counts.signups, counts.emails
    );
    let envelopes = Arc::new(envelopes);
    let cursor = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (crm, envelopes, cursor) = (crm.clone(), envelopes.clone(), cursor.clone());
        workers.spawn(async move {
            loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(envelope) = envelopes.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                match crm.record(envelope).await? {
                    Recorded::Created { .. } => {}
                    other => bail!("event {i} was not recorded as new: {other:?}"),
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    // Diagnostic, not timed: how long listing the pending items alone takes.
    let list_started = Instant::now();
    let listed = counting.list_pending_keys().await?.len();
    let list_pending = list_started.elapsed();
    if listed != n {
        bail!("{listed} notifications pending after recording {n}");
    }
    let setup = setup_started.elapsed();
    eprintln!(
        "pipeline: [{label}] recorded in {:.1} s; processing...",
        setup.as_secs_f64()
    );

    // Memory of the timed phase alone: reset the peak to the current RSS (Linux: writing 5 to
    // clear_refs), so the peak read afterwards is the processing's, not the setup's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before_kib = proc_status_kib("VmRSS:");

    // Timed: process until nothing is pending.
    hubspot.clear_journal();
    counting.on.store(true, Ordering::Relaxed);
    let ticker = {
        let counting = counting.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                eprintln!(
                    "pipeline: [{label}]   {:>5.1} s: {} of {n} completed",
                    started.elapsed().as_secs_f64(),
                    counting.completes.load(Ordering::Relaxed)
                );
            }
        })
    };
    let started = Instant::now();
    let started_at = SystemTime::now();
    let mut status: HashMap<String, ProcessingStatus> = HashMap::with_capacity(n);
    let mut rounds = 0;
    loop {
        let summary = crm.process_pending().await?;
        rounds += 1;
        if summary.items.is_empty() && summary.not_claimed == 0 {
            break;
        }
        for item in summary.items {
            status.insert(item.id, item.status);
        }
        if rounds >= 10 {
            eprintln!("pipeline: [{label}] still pending after 10 rounds; stopping");
            break;
        }
    }
    let wall = started.elapsed();
    let ended_at = SystemTime::now();
    if let (Some(before), Some(peak)) = (rss_before_kib, proc_status_kib("VmHWM:")) {
        eprintln!(
            "pipeline: [{label}] RSS {:.1} MiB before processing (stores, fake, client), peak \
             {:.1} MiB while processing: +{:.1} MiB for the sweeps",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0
        );
    }
    counting.on.store(false, Ordering::Relaxed);
    ticker.abort();

    let journal = hubspot.journal();
    let mut by_endpoint: Vec<(&'static str, usize)> = Vec::new();
    for entry in &journal {
        let name = entry.endpoint.name();
        match by_endpoint.iter_mut().find(|(e, _)| *e == name) {
            Some((_, c)) => *c += 1,
            None => by_endpoint.push((name, 1)),
        }
    }
    let min_requests = counts.min_requests();
    let per_second = f64::from(rate.max_requests) / rate.window.as_secs_f64();
    let bound = Duration::from_secs_f64(min_requests as f64 / per_second);
    let limiter_floor = rate.period() * (journal.len().saturating_sub(rate.burst as usize) as u32);
    let mut times: Vec<SystemTime> = journal.iter().map(|e| e.at).collect();
    times.sort();
    let since =
        |later: SystemTime, earlier: SystemTime| later.duration_since(earlier).unwrap_or_default();
    let (head, span, tail) = match (times.first(), times.last()) {
        (Some(&first), Some(&last)) => (
            since(first, started_at),
            since(last, first),
            since(ended_at, last),
        ),
        _ => (wall, Duration::ZERO, Duration::ZERO),
    };
    let gaps = times
        .windows(2)
        .map(|w| since(w[1], w[0]))
        .filter(|gap| *gap > rate.period() * 3)
        .sum();
    let mut busiest_window = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while since(times[hi], times[lo]) >= rate.window {
            lo += 1;
        }
        busiest_window = busiest_window.max(hi - lo + 1);
    }
    let processed = status
        .values()
        .filter(|s| **s == ProcessingStatus::Processed)
        .count();
    let dlq = status
        .values()
        .filter(|s| **s == ProcessingStatus::Dlq)
        .count();
    let measured = Measured {
        row,
        counts,
        wall,
        bound,
        limiter_floor,
        head,
        span,
        tail,
        gaps,
        busiest_window,
        requests: journal.len(),
        by_endpoint,
        throttled: journal.iter().filter(|e| e.status == Some(429)).count(),
        writes: counting.writes.load(Ordering::Relaxed),
        reads: counting.reads.load(Ordering::Relaxed),
        rounds,
        list_pending,
        processed,
        dlq,
        other: n - processed - dlq,
        setup,
    };
    eprintln!(
        "pipeline: [{label}] done in {:.2} s (bound {:.2} s), {} requests, {} x 429",
        wall.as_secs_f64(),
        bound.as_secs_f64(),
        measured.requests,
        measured.throttled
    );
    if hubspot.requests_to(Endpoint::OAuthToken) > 0 {
        eprintln!("pipeline: [{label}] note: OAuth token requests were made");
    }
    Ok(measured)
}

fn table(rows: &[Measured], args: &Args) -> String {
    let mut out = String::new();
    let rate = &args.rate;
    let _ = writeln!(
        out,
        "\nB1: processor vs HubSpot's rate limit ({} requests per rolling {:?}; client limiter: burst {}, reserve {}, period {:?})\n",
        rate.max_requests,
        rate.window,
        rate.burst,
        rate.reserve,
        rate.period()
    );
    let _ = writeln!(
        out,
        "| row | notifications | wall s | bound s | ratio | limiter ceiling | HubSpot req/notif | 429s | notif/s | store writes/notif | processed |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in rows {
        let n = m.counts.total() as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.4} | {} | {:.0} | {:.2} | {}{} |",
            m.row.name(),
            m.counts.total(),
            m.wall.as_secs_f64(),
            m.bound.as_secs_f64(),
            m.bound.as_secs_f64() / m.wall.as_secs_f64(),
            m.bound.as_secs_f64() / m.limiter_floor.as_secs_f64().max(1e-9),
            m.requests as f64 / n,
            m.throttled,
            n / m.wall.as_secs_f64(),
            m.writes as f64 / n,
            m.processed,
            if m.dlq + m.other > 0 {
                format!(" ({} dlq, {} other)", m.dlq, m.other)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(out);
    for m in rows {
        let endpoints: Vec<String> = m
            .by_endpoint
            .iter()
            .map(|(e, c)| format!("{e} {c}"))
            .collect();
        let _ = writeln!(
            out,
            "- {}: {} registrations, {} logins, {} task signups, {} emails; minimum {} requests, sent {} ({}); {} processing round(s); store reads (calls) {}; setup (not timed) {:.1} s, in which one list_pending_keys of the {} items took {:.2} s; wall = {:.2} s to the first request + {:.2} s of requests (of which {:.2} s in gaps > 3 periods) + {:.2} s after the last; busiest rolling window {} of {} requests",
            m.row.name(),
            m.counts.registrations,
            m.counts.logins,
            m.counts.signups,
            m.counts.emails,
            m.counts.min_requests(),
            m.requests,
            endpoints.join(", "),
            m.rounds,
            m.reads,
            m.setup.as_secs_f64(),
            m.counts.total(),
            m.list_pending.as_secs_f64(),
            m.head.as_secs_f64(),
            m.span.as_secs_f64(),
            m.gaps.as_secs_f64(),
            m.tail.as_secs_f64(),
            m.busiest_window,
            args.rate.max_requests,
        );
    }
    let _ = writeln!(
        out,
        "\nbound = minimum requests / ({} per {:?}); ratio = bound / wall; limiter ceiling = bound / (time the client's limiter needs for the requests the row sent: (requests - burst) x period), the best ratio the row could reach with its client; store writes = put_if_absent + claim + complete + delete_processed calls during the timed phase only (recording is setup).",
        rate.max_requests, rate.window
    );
    if rows.iter().any(|m| m.row == Row::Baseline)
        && args.baseline_notifications != args.notifications
    {
        let _ = writeln!(
            out,
            "The baseline row is scaled down to {} notifications (same mix) so it finishes in seconds; its ratio and per-notification figures are comparable, its wall time is not.",
            args.baseline_notifications
        );
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let Some(args) = parse_args()? else {
        print!("{USAGE}");
        return Ok(());
    };
    let mut results = Vec::new();
    let mut dynamodb: Option<DynamoDbLocal> = None;
    for &row in &args.rows {
        let n = match row {
            Row::Baseline => args.baseline_notifications,
            _ => args.notifications,
        };
        if row == Row::Dynamo {
            eprintln!("pipeline: starting DynamoDB Local...");
            match DynamoDbLocal::start().await {
                Ok(local) => {
                    eprintln!("pipeline: DynamoDB Local at {}", local.endpoint());
                    dynamodb = Some(local);
                }
                Err(e) => {
                    println!(
                        "note: DynamoDB Local row skipped: DynamoDB Local is unavailable ({e}); run scripts/install-dynamodb-local.sh or set DYNAMODB_ENDPOINT"
                    );
                    continue;
                }
            }
        }
        results.push(run_row(row, n, &args, dynamodb.as_ref()).await?);
    }
    print!("{}", table(&results, &args));
    if let Some(kib) = proc_status_kib("VmHWM:") {
        println!(
            "\npeak RSS of this process since the last row's processing began: {:.1} MiB (an upper bound for the processor alone: it \
             includes the in-process fake HubSpot with its journal and, for in-memory rows, \
             every notification item)",
            kib as f64 / 1024.0
        );
    }
    Ok(())
}

/// A KiB figure of this process from `/proc/self/status` (`VmHWM:` the peak resident set,
/// `VmRSS:` the current one), where `/proc` has it.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

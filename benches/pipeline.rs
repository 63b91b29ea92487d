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
//! rolling window and a client whose `RateLimit` matches it. Rows: in-memory stores; the same
//! with every notification-store call and every shared-budget reservation answering 8 ms
//! later (`--store-latency-ms`), DynamoDB's in-region round trip without the emulator's
//! own slowness; DynamoDB Local; and the baseline (in-memory, `ClientBuilder::batch_size(1)`: one request per
//! notification, as the Python stack does), on a smaller N.
//!
//! The rate-limit bound of a row is the least time HubSpot's limit allows for its work:
//! `ceil(registrations/100) + ceil(logins/100) + ceil(task signups/100) + emails` requests at
//! `N per W`. The ratio is bound / wall time (1.0 = as fast as HubSpot allows). The default
//! window, 100 per second, is HubSpot's 100 per 10 s run ten times faster: the same request
//! count per window, so the client's limiter keeps the burst and reserve it has in production.
//!
//! Without `--bench` (i.e. run by `cargo test --benches`), it runs a small smoke workload.
//!
//! This file is the bench's flow (a row: set up and record, then the timed phase, then its
//! figures); the command line is in `pipeline/cli.rs`, the table in `pipeline/report.rs`,
//! and the store's call counting and the journal's analysis in `common/`.

// Bench code: a failure to set up is a bug in the bench, so unwrap is what we want.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, bail};
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot};
use hubspot_client::budget::{MemoryBudgetStore, SharedBudget};
use hubspot_client::{Client, MAX_BATCH, RateLimit};
use thiscovery_crm::directory::{MemoryDirectory, User};
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::ProcessingStatus;
use thiscovery_crm::store::NotificationStore;
use thiscovery_crm::store::dynamodb::TableNames;
use thiscovery_crm::testing;
use thiscovery_crm::{Crm, CrmConfig, Recorded, Stores};

#[path = "pipeline/cli.rs"]
mod cli;
#[path = "common/counting_store.rs"]
mod counting_store;
#[path = "common/journal.rs"]
mod journal;
#[path = "pipeline/report.rs"]
mod report;
#[path = "common/workload.rs"]
mod workload;

use cli::{Args, Row, USAGE, parse_args};
use counting_store::CountingStore;
use journal::JournalStats;
use report::{Measured, table};
use workload::{Counts, workload};

const ENV: &str = "bench";

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

/// One row: `n` notifications set up and recorded (not timed), then processed (timed).
async fn run_row(
    row: Row,
    n: usize,
    args: &Args,
    dynamodb: Option<&DynamoDbLocal>,
) -> Result<Measured> {
    let label = row.label();
    let setup_started = Instant::now();
    let counts = args.mix.split(n);
    let (world, envelopes) = set_up(row, counts, args, dynamodb).await?;
    eprintln!(
        "pipeline: [{label}] recording {n} notifications ({} registrations, {} logins, {} task signups, {} emails)...",
        counts.registrations, counts.logins, counts.signups, counts.emails
    );
    record_all(&world.crm, envelopes).await?;
    // Diagnostic, not timed: how long listing the pending items alone takes.
    let list_started = Instant::now();
    let listed = world.counting.list_pending_keys().await?.len();
    let list_pending = list_started.elapsed();
    if listed != n {
        bail!("{listed} notifications pending after recording {n}");
    }
    let setup = setup_started.elapsed();
    eprintln!(
        "pipeline: [{label}] recorded in {:.1} s; processing...",
        setup.as_secs_f64()
    );

    let timed = process_all(&world, label, n).await?;

    let rate = &args.rate;
    let journal = JournalStats::of(
        &world.hubspot.journal(),
        rate,
        timed.started_at,
        timed.ended_at,
    );
    let count = |wanted: ProcessingStatus| timed.status.values().filter(|s| **s == wanted).count();
    let (processed, dlq) = (
        count(ProcessingStatus::Processed),
        count(ProcessingStatus::Dlq),
    );
    let measured = Measured {
        row,
        counts,
        wall: timed.wall,
        bound: bound(counts, rate),
        limiter_floor: limiter_floor(journal.requests, rate),
        journal,
        writes: world.counting.writes.load(Ordering::Relaxed),
        reads: world.counting.reads.load(Ordering::Relaxed),
        claim_time: Duration::from_nanos(world.counting.claim_ns.load(Ordering::Relaxed)),
        complete_time: Duration::from_nanos(world.counting.complete_ns.load(Ordering::Relaxed)),
        store_concurrency: world.crm.config().store_concurrency,
        rounds: timed.rounds,
        list_pending,
        processed,
        dlq,
        other: n - processed - dlq,
        setup,
    };
    eprintln!(
        "pipeline: [{label}] done in {:.2} s (bound {:.2} s), {} requests, {} x 429",
        measured.wall.as_secs_f64(),
        measured.bound.as_secs_f64(),
        measured.journal.requests,
        measured.journal.throttled
    );
    if world.hubspot.requests_to(Endpoint::OAuthToken) > 0 {
        eprintln!("pipeline: [{label}] note: OAuth token requests were made");
    }
    Ok(measured)
}

/// A row's stack: the fake, the processor on it, and its notification store's counter.
struct World {
    hubspot: FakeHubSpot,
    crm: Crm,
    counting: Arc<CountingStore>,
}

/// The fake with a strict rolling window, a client whose `RateLimit` matches it (one request
/// per notification for the baseline), the row's stores seeded, and the workload's events
/// with their users and contacts in place.
async fn set_up(
    row: Row,
    counts: Counts,
    args: &Args,
    dynamodb: Option<&DynamoDbLocal>,
) -> Result<(World, Vec<Envelope>)> {
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
    if row == Row::Latency {
        // The budget shared as in production, through a store as slow as DynamoDB.
        let store = MemoryBudgetStore::with_latency(args.store_latency);
        client = client.shared_budget(SharedBudget::new(Arc::new(store)));
    }
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
    let mut counting = CountingStore::new(stores.notifications.clone());
    if row == Row::Latency {
        counting = counting.with_latency(args.store_latency);
    }
    let counting = Arc::new(counting);
    let directory = Arc::new(MemoryDirectory::new());
    let envelopes = workload(counts, &hubspot, |id, email| {
        directory.add_user(User::new(id, email).names("Altha", "Alcorn"));
    });
    let mut config = CrmConfig::for_env(ENV);
    if let Some(page_size) = args.page_size {
        config.page_size = page_size;
    }
    if let Some(n) = args.store_concurrency {
        config.store_concurrency = n;
    }
    let crm = Crm::builder()
        .hubspot(client)
        .stores(stores.with_notifications(counting.clone()))
        .directory(directory)
        .config(config)
        .build()?;
    let world = World {
        hubspot,
        crm,
        counting,
    };
    Ok((world, envelopes))
}

async fn dynamo_stores(local: &DynamoDbLocal) -> Result<Stores> {
    let stack = local.new_stack_with_tables().await?;
    Ok(Stores::dynamodb(
        local.client(),
        &TableNames::for_stack(&stack),
    ))
}

/// Records every event (16 at a time: DynamoDB Local is slow one by one); each must be new.
async fn record_all(crm: &Crm, envelopes: Vec<Envelope>) -> Result<()> {
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
    Ok(())
}

/// What the timed phase saw.
struct Timed {
    wall: Duration,
    started_at: SystemTime,
    ended_at: SystemTime,
    /// Each notification's status as the last round that took it reported it.
    status: HashMap<String, ProcessingStatus>,
    rounds: usize,
}

/// The timed phase: `Crm::process_pending` until nothing is pending (at most 10 rounds), the
/// store's calls counted, progress every 2 s and the peak RSS of the processing alone.
async fn process_all(world: &World, label: &'static str, n: usize) -> Result<Timed> {
    // Memory of the timed phase alone: reset the peak to the current RSS (Linux: writing 5 to
    // clear_refs), so the peak read afterwards is the processing's, not the setup's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before_kib = proc_status_kib("VmRSS:");

    // Timed: process until nothing is pending.
    world.hubspot.clear_journal();
    world.counting.on.store(true, Ordering::Relaxed);
    let ticker = progress(world.counting.clone(), label, n);
    let started = Instant::now();
    let started_at = SystemTime::now();
    let mut status: HashMap<String, ProcessingStatus> = HashMap::with_capacity(n);
    let mut rounds = 0;
    loop {
        let summary = world.crm.process_pending().await?;
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
    world.counting.on.store(false, Ordering::Relaxed);
    ticker.abort();
    Ok(Timed {
        wall,
        started_at,
        ended_at,
        status,
        rounds,
    })
}

/// Prints every 2 s how many of the `n` notifications are completed, until aborted.
fn progress(
    counting: Arc<CountingStore>,
    label: &'static str,
    n: usize,
) -> tokio::task::JoinHandle<()> {
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
}

impl Counts {
    /// The fewest HubSpot requests this work needs: full batches of 100, one per email; a
    /// batch of logins is two (the batch read of the contacts' last login dates, which keeps
    /// an older login from overwriting a newer one and a login from creating a contact, then
    /// the upsert).
    fn min_requests(&self) -> usize {
        self.registrations.div_ceil(MAX_BATCH)
            + 2 * self.logins.div_ceil(MAX_BATCH)
            + self.signups.div_ceil(MAX_BATCH)
            + self.emails
    }
}

/// The least time HubSpot's limit allows for `counts`: its minimum requests at `rate`.
fn bound(counts: Counts, rate: &RateLimit) -> Duration {
    let per_second = f64::from(rate.max_requests) / rate.window.as_secs_f64();
    Duration::from_secs_f64(counts.min_requests() as f64 / per_second)
}

/// The best time the client's limiter allows for `requests`: the burst, then one request per
/// period.
fn limiter_floor(requests: usize, rate: &RateLimit) -> Duration {
    rate.period() * (requests.saturating_sub(rate.burst as usize) as u32)
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

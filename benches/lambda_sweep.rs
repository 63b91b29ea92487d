//! B4 under load: the deployed Lambda's (examples/lambda.rs) peak RSS while one invocation
//! sweeps N pending notifications.
//!
//! ```text
//! cargo build --release -p thiscovery-crm-lambda
//! export DYNAMODB_LOCAL_DIR="$(scripts/install-dynamodb-local.sh)"
//! cargo bench -p thiscovery-crm-stack --bench lambda_sweep                      # 10,000, one run
//! cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- --notifications 2500 --runs 3
//! cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- --help
//! ```
//!
//! Each run starts from fresh DynamoDB Local tables (the email template fixture and the
//! task-signup lookup seeded as in tests/lambda.rs), a FakeHubSpot (no rate limiting) and a
//! FakeCore, and records N mixed notifications (40% registrations, 35% logins, 20% task signups,
//! 5% transactional emails, as benches/pipeline.rs) through `Crm::record` in this process:
//! setup, not measured. It then spawns the release Lambda binary with the stack's environment
//! (`HUBSPOT_RATE_LIMIT=1000/1s`, `RUST_LOG=warn`) against a local Lambda Runtime API stub
//! (`crm_testkit::lambda`) that hands out one `{"action": "process_notifications"}` event and
//! then holds the next poll, so the process idles.
//!
//! Measured, from the Lambda's `/proc/<pid>/status`: `VmHWM` (peak RSS) when its first
//! `GET .../invocation/next` arrives (idle after init) and when its response is posted (peak
//! of the whole sweep), `VmRSS` at both, plus the wall time from spawn to the response. A run
//! fails unless every notification was processed (the response's counts, no pending item
//! left, and the HubSpot and thiscovery-core effects expected).
//!
//! `--cleanup N` measures the other scheduled action instead: N `processed` notifications
//! created 10 days ago (35% registrations, 30% logins, 15% task signups, 20% transactional
//! emails; each kind's `details` as `Crm::record` stores the fixture event of
//! `thiscovery_crm::testing::fixtures`, so items have production size) are written straight
//! into DynamoDB Local with `BatchWriteItem` (25 a request, unprocessed items retried): setup,
//! not measured. The Lambda gets one `{"action": "cleanup"}`; the same memory figures are read,
//! and a run fails unless the answer says `deleted` = the non-email count, `kept_emails` = the
//! email count and `kept_recent` = 0, and the table then holds exactly the emails.
//!
//! ```text
//! cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- --cleanup 100000
//! ```
//!
//! Without `--bench` (i.e. run by `cargo test --benches`), it runs a small smoke workload, and
//! skips with a note when the release binary or DynamoDB Local is missing.
//!
//! Files: this one has the sweep mode and the report; `lambda_sweep/cli.rs` the options,
//! `lambda_sweep/process.rs` the Lambda process (memory from /proc, the Runtime API stub, one
//! invocation), `lambda_sweep/cleanup.rs` the cleanup mode.

// Bench code: a failure to set up is a bug in the bench, so unwrap is what we want.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::{PutRequest, Select, WriteRequest};
use crm_testkit::core::FakeCore;
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot};
use crm_testkit::lambda::{AnswerKind, Call, Deadline, LambdaRuntime};
use hubspot_client::Client;
use serde_json::{Value, json};
use thiscovery_crm::directory::MemoryDirectory;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::{Notification, NotificationType, ProcessingStatus};
use thiscovery_crm::store::NotificationStore;
use thiscovery_crm::store::dynamodb::{
    DynamoNotificationStore, TableNames, notification_from_item, notification_to_item,
};
use thiscovery_crm::testing::{self, fixtures};
use thiscovery_crm::{Crm, CrmConfig, Recorded, Stores, timestamp};
use time::OffsetDateTime;

#[path = "lambda_sweep/cleanup.rs"]
mod cleanup;
#[path = "lambda_sweep/cli.rs"]
mod cli;
#[path = "lambda_sweep/process.rs"]
mod process;
#[path = "common/workload.rs"]
mod workload;
use cleanup::*;
use cli::*;
use process::*;
use workload::{Counts, workload};

/// The stack's `CRM_ENV` (the namespace of the task-signup lookup).
const ENV: &str = "bench";
/// The percentages of registrations, logins, task signups and transactional emails.
const MIX: [usize; 4] = [40, 35, 20, 5];
/// Events recorded at once during setup (DynamoDB Local is slow one by one).
const RECORD_CONCURRENCY: usize = 32;
/// The Lambda's default `CRM_BATCH_LIMIT`: one sweep takes at most this many notifications.
const DEFAULT_BATCH_LIMIT: usize = 10_000;
/// The invocation's deadline, from when the event is handed out (Lambda's maximum).
const DEADLINE: Duration = Duration::from_secs(900);
/// How long a run may take from spawn to response before it is abandoned.
const RUN_TIMEOUT: Duration = Duration::from_secs(1200);

/// The share of each kind in `n` notifications (rounding down, the remainder to the largest).
fn split(n: usize) -> Counts {
    let sum: usize = MIX.iter().sum();
    let [r, l, s, e] = MIX.map(|p| n * p / sum);
    Counts {
        registrations: r + (n - r - l - s - e),
        logins: l,
        signups: s,
        emails: e,
    }
}

/// thiscovery-core's user record for a registration (crm-testkit/fixtures/core-user.json),
/// `crm_id` unset, so the Lambda's write-back finds it.
fn core_user(user_id: &str, address: &str) -> Value {
    json!({
        "id": user_id,
        "created": "2022-02-25T10:48:31.036000+00:00",
        "modified": "2022-02-25T10:48:31.036000+00:00",
        "email": address,
        "title": null,
        "first_name": "Altha",
        "last_name": "Alcorn",
        "country_code": "GB",
        "country_name": "United Kingdom",
        "auth0_id": null,
        "crm_id": null,
        "status": null,
        "has_demo_project": false,
        "has_live_project": false,
        "avatar_string": "AA"
    })
}

/// What the Lambda talks to, as tests/lambda.rs `world()` sets it up: fresh tables with the
/// template fixture and the task-signup lookup, FakeHubSpot and FakeCore.
struct World {
    hubspot: FakeHubSpot,
    core: FakeCore,
    stack: String,
    notifications: Arc<DynamoNotificationStore>,
    stores: Stores,
}

async fn world(ddb: &DynamoDbLocal) -> Result<World> {
    let hubspot = FakeHubSpot::start().await;
    let core = FakeCore::start().await;
    let stack = ddb.new_stack_with_tables().await?;
    let client = ddb.client();
    let tables = TableNames::for_stack(&stack);
    let stores = Stores::dynamodb(client.clone(), &tables);
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID).await?;
    let notifications = Arc::new(DynamoNotificationStore::new(client, tables.notifications));
    Ok(World {
        hubspot,
        core,
        stack,
        notifications,
        stores,
    })
}

/// Records every event through `Crm::record` (no processing), `RECORD_CONCURRENCY` at a
/// time. Returns the notification ids.
async fn record_all(world: &World, envelopes: Vec<Envelope>) -> Result<Vec<String>> {
    let client = Client::builder()
        .base_url(world.hubspot.base_url())
        .static_token(FakeHubSpot::STATIC_TOKEN)
        .build()?;
    let crm = Crm::builder()
        .hubspot(client)
        .stores(world.stores.clone())
        .directory(Arc::new(MemoryDirectory::new()))
        .config(CrmConfig::for_env(ENV))
        .build()?;
    let n = envelopes.len();
    let envelopes = Arc::new(envelopes);
    let cursor = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..RECORD_CONCURRENCY {
        let (crm, envelopes, cursor) = (crm.clone(), envelopes.clone(), cursor.clone());
        workers.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(envelope) = envelopes.get(i) else {
                    return Ok::<_, anyhow::Error>(ids);
                };
                match crm.record(envelope).await? {
                    Recorded::Created { id, .. } => ids.push(id),
                    other => bail!("event {i} was not recorded as new: {other:?}"),
                }
                if (i + 1).is_multiple_of(2_500) {
                    eprintln!("lambda_sweep:   recorded {} of {n}", i + 1);
                }
            }
        });
    }
    let mut ids = Vec::with_capacity(n);
    while let Some(done) = workers.join_next().await {
        ids.extend(done??);
    }
    Ok(ids)
}

async fn run_once(ddb: &DynamoDbLocal, args: &Args, binary: &Path, run: usize) -> Result<Measured> {
    let n = args.notifications;
    let counts = split(n);

    // Setup, not measured.
    let seeding_started = Instant::now();
    let world = world(ddb).await?;
    eprintln!(
        "lambda_sweep: [run {run}] recording {n} notifications ({} registrations, {} logins, {} task signups, {} emails) into stack {}...",
        counts.registrations, counts.logins, counts.signups, counts.emails, world.stack
    );
    let envelopes = workload(counts, &world.hubspot, |id, email| {
        world.core.seed_user(core_user(id, email));
    });
    let ids = record_all(&world, envelopes).await?;
    let seeding = seeding_started.elapsed();
    eprintln!(
        "lambda_sweep: [run {run}] seeding took {:.1} s; spawning the Lambda...",
        seeding.as_secs_f64()
    );

    let mut extra_env = Vec::new();
    if n > DEFAULT_BATCH_LIMIT {
        eprintln!(
            "lambda_sweep: note: {n} notifications exceed the default CRM_BATCH_LIMIT ({DEFAULT_BATCH_LIMIT}); setting CRM_BATCH_LIMIT={n}"
        );
        extra_env.push(("CRM_BATCH_LIMIT", n.to_string()));
    }
    let Invocation {
        init,
        wall,
        idle,
        peak,
        idle_after,
        sampled: _,
        ok,
        body,
        response,
        log_path,
    } = invoke(
        ddb,
        &world,
        args,
        binary,
        run,
        json!({"action": "process_notifications"}),
        &extra_env,
        "sweeping",
    )
    .await?;
    let measured = Measured {
        notifications: n,
        seeding,
        init,
        wall,
        idle,
        peak,
        idle_after,
        hubspot_requests: world.hubspot.requests_to(Endpoint::Any),
        response,
    };
    eprintln!(
        "lambda_sweep: [run {run}] {} in {:.2} s: peak VmHWM {:.1} MiB (idle after init {:.1} MiB); response {}",
        if ok { "answered" } else { "FAILED" },
        measured.wall.as_secs_f64(),
        mib(peak.hwm_kib),
        mib(idle.hwm_kib),
        measured.response
    );

    // Everything processed?
    let mut problems = Vec::new();
    if !ok {
        problems.push(format!("the invocation failed: {body}"));
    } else {
        let response: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let count = |field: &str| response[field].as_u64();
        if count("processed") != Some(n as u64) {
            problems.push(format!("processed {:?}, expected {n}", count("processed")));
        }
        for field in ["retrying", "dlq", "not_claimed"] {
            if count(field) != Some(0) {
                problems.push(format!("{field} {:?}, expected 0", count(field)));
            }
        }
    }
    let pending = world.notifications.list_pending().await?.len();
    if pending > 0 {
        problems.push(format!("{pending} notifications still pending"));
    }
    let effects = [
        (
            "emails sent",
            world.hubspot.sent_emails().len(),
            counts.emails,
        ),
        (
            "timeline events",
            world.hubspot.timeline_events().len(),
            counts.signups,
        ),
        (
            "crm_id write-backs",
            world.core.crm_id_patches().len(),
            counts.registrations,
        ),
    ];
    for (what, got, expected) in effects {
        if got != expected {
            problems.push(format!("{what}: {got}, expected {expected}"));
        }
    }
    if !problems.is_empty() {
        let unfinished = unfinished(&world.notifications, &ids).await?;
        bail!(
            "run {run}: not everything was processed: {}\n{unfinished}\nLambda output (tail, RUST_LOG={}):\n{}",
            problems.join("; "),
            args.rust_log,
            output_tail(&log_path)
        );
    }
    let _ = std::fs::remove_file(&log_path);
    Ok(measured)
}

/// The notifications not `processed`, counted by status, with a few examples and their
/// error messages.
async fn unfinished(store: &Arc<DynamoNotificationStore>, ids: &[String]) -> Result<String> {
    let ids: Arc<Vec<String>> = Arc::new(ids.to_vec());
    let cursor = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..RECORD_CONCURRENCY {
        let (store, ids, cursor) = (store.clone(), ids.clone(), cursor.clone());
        workers.spawn(async move {
            let mut found = Vec::new();
            loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = ids.get(i) else {
                    return Ok::<_, anyhow::Error>(found);
                };
                match store.get(id).await? {
                    Some(item) if item.status == ProcessingStatus::Processed => {}
                    Some(item) => found.push(format!(
                        "{} {} {}: {}",
                        item.status,
                        item.kind,
                        item.id,
                        item.error_message.as_deref().unwrap_or("-")
                    )),
                    None => found.push(format!("missing {id}")),
                }
            }
        });
    }
    let mut found = Vec::new();
    while let Some(done) = workers.join_next().await {
        found.extend(done??);
    }
    let mut by_status: Vec<(String, usize)> = Vec::new();
    for line in &found {
        let status = line.split(' ').next().unwrap_or_default().to_owned();
        match by_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, c)) => *c += 1,
            None => by_status.push((status, 1)),
        }
    }
    let mut out = format!(
        "{} of {} notifications not processed",
        found.len(),
        ids.len()
    );
    for (status, count) in by_status {
        let _ = write!(out, "; {status}: {count}");
    }
    for line in found.iter().take(5) {
        let _ = write!(out, "\n  {line}");
    }
    Ok(out)
}

// --- `--cleanup N`: the Lambda deleting N old processed notifications ---------------------

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn table(rows: &[Measured], args: &Args, binary: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nB4 under load: {} (RUST_LOG={}, HUBSPOT_RATE_LIMIT=1000/1s), one `process_notifications` invocation over N pending notifications in DynamoDB Local\n",
        binary.display(),
        args.rust_log
    );
    let _ = writeln!(
        out,
        "| run | notifications | seeding s (not measured) | init ms | wall s | idle VmHWM MiB | peak VmHWM MiB | VmRSS at response MiB | VmRSS idle after MiB | HubSpot requests | response |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for (i, m) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {} | {} | `{}` |",
            i + 1,
            m.notifications,
            m.seeding.as_secs_f64(),
            m.init.as_secs_f64() * 1000.0,
            m.wall.as_secs_f64(),
            mib(m.idle.hwm_kib),
            mib(m.peak.hwm_kib),
            mib(m.peak.rss_kib),
            m.idle_after
                .map_or_else(|| "-".to_owned(), |mem| format!("{:.1}", mib(mem.rss_kib))),
            m.hubspot_requests,
            m.response
        );
    }
    if rows.len() > 1 {
        let of = |f: &dyn Fn(&Measured) -> f64| median(rows.iter().map(f).collect());
        let _ = writeln!(
            out,
            "| median of {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | | | |",
            rows.len(),
            rows[0].notifications,
            of(&|m| m.seeding.as_secs_f64()),
            of(&|m| m.init.as_secs_f64() * 1000.0),
            of(&|m| m.wall.as_secs_f64()),
            of(&|m| mib(m.idle.hwm_kib)),
            of(&|m| mib(m.peak.hwm_kib)),
            of(&|m| mib(m.peak.rss_kib)),
        );
    }
    let _ = writeln!(
        out,
        "\nidle VmHWM: peak RSS when the first runtime poll arrives (init done); peak VmHWM: when the response is posted (the whole sweep); wall: spawn to response (init + sweep)."
    );
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let Some(args) = parse_args()? else {
        print!("{USAGE}");
        return Ok(());
    };
    let binary = match &args.binary {
        Some(binary) => binary.clone(),
        None => default_binary()?,
    };
    if !binary.is_file() {
        let message = format!(
            "the Lambda binary {} does not exist: run `cargo build --release -p thiscovery-crm-lambda` first (or pass --binary PATH / set LAMBDA_BINARY)",
            binary.display()
        );
        if !args.bench_mode {
            println!("lambda_sweep: skipped: {message}");
            return Ok(());
        }
        bail!(message);
    }
    eprintln!("lambda_sweep: starting DynamoDB Local...");
    let ddb = match DynamoDbLocal::start().await {
        Ok(ddb) => ddb,
        Err(e) if !args.bench_mode => {
            println!("lambda_sweep: skipped: DynamoDB Local is unavailable ({e})");
            return Ok(());
        }
        Err(e) => {
            return Err(e).context(
                "DynamoDB Local is unavailable: export DYNAMODB_LOCAL_DIR=\"$(scripts/install-dynamodb-local.sh)\" or set DYNAMODB_ENDPOINT",
            );
        }
    };
    eprintln!("lambda_sweep: DynamoDB Local at {}", ddb.endpoint());
    if let Some(n) = args.cleanup {
        let mut rows = Vec::with_capacity(args.runs);
        for run in 1..=args.runs {
            rows.push(cleanup_once(&ddb, &args, &binary, run, n).await?);
        }
        print!("{}", cleanup_table(&rows, &args, &binary));
        return Ok(());
    }
    let mut rows = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        rows.push(run_once(&ddb, &args, &binary, run).await?);
    }
    print!("{}", table(&rows, &args, &binary));
    Ok(())
}

//! B4 under load: the deployed Lambda's (examples/lambda.rs) peak RSS while one invocation
//! sweeps N pending notifications.
//!
//! ```text
//! cargo build --release --example lambda
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
use thiscovery_crm::store::dynamodb::{
    DynamoLookupStore, DynamoNotificationStore, DynamoTemplateStore, TableNames,
    notification_from_item, notification_to_item,
};
use thiscovery_crm::store::{
    EmailTemplate, LookupStore, NotificationStore, TemplateStore, task_signup_lookup_key,
};
use thiscovery_crm::testing::fixtures;
use thiscovery_crm::{Crm, CrmConfig, Recorded, Stores, timestamp};
use time::OffsetDateTime;

#[path = "common/workload.rs"]
mod workload;
use workload::{Counts, workload};
const TEMPLATE: &str = include_str!("../thiscovery-crm/tests/fixtures/items/email-template.json");

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

const USAGE: &str = "\
B4 under load: the release Lambda's peak RSS while one invocation sweeps N notifications.

USAGE:
    cargo build --release --example lambda
    cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- [OPTIONS]

OPTIONS:
    --binary <PATH>         The release Lambda binary (default: env LAMBDA_BINARY, else
                            <target dir>/release/examples/lambda)
    --notifications <N>     Notifications recorded before the sweep (default 10000)
    --cleanup <N>           Measure `{\"action\": \"cleanup\"}` instead of the sweep: N processed
                            notifications created 10 days ago (20% emails, kept) are written
                            into the table first; --notifications is then unused
    --runs <R>              Runs, each from fresh tables and fakes (default 1)
    --rust-log <FILTER>     The Lambda's RUST_LOG (default warn; info logs every notification)
    -h, --help              Show this help

Needs DynamoDB Local: export DYNAMODB_LOCAL_DIR=\"$(scripts/install-dynamodb-local.sh)\"
(or DYNAMODB_ENDPOINT), and Linux (/proc).
";

#[derive(Debug)]
struct Args {
    binary: Option<PathBuf>,
    notifications: usize,
    /// `--cleanup N`: the cleanup mode with N processed items, instead of the sweep.
    cleanup: Option<usize>,
    runs: usize,
    rust_log: String,
    bench_mode: bool,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        binary: std::env::var_os("LAMBDA_BINARY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        notifications: 10_000,
        cleanup: None,
        runs: 1,
        rust_log: "warn".to_owned(),
        bench_mode: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            // cargo bench passes --bench; cargo test --benches does not.
            "--bench" => args.bench_mode = true,
            "--binary" => args.binary = Some(PathBuf::from(value(&arg)?)),
            "--notifications" => args.notifications = value(&arg)?.parse()?,
            "--cleanup" => args.cleanup = Some(value(&arg)?.parse()?),
            "--runs" => args.runs = value(&arg)?.parse()?,
            "--rust-log" => args.rust_log = value(&arg)?,
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if args.notifications == 0 || args.runs == 0 || args.cleanup == Some(0) {
        bail!("--notifications, --cleanup and --runs must be at least 1");
    }
    if !args.bench_mode {
        eprintln!("lambda_sweep: not run by `cargo bench` (no --bench): a small smoke run only");
        args.notifications = args.notifications.min(200);
        args.cleanup = args.cleanup.map(|n| n.min(200));
        args.runs = 1;
    }
    Ok(Some(args))
}

/// `<target dir>/release/examples/lambda`: `CARGO_TARGET_DIR`, else the target directory this
/// bench runs from (`<target>/<profile>/deps/lambda_sweep-<hash>`).
fn default_binary() -> Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe()?;
            exe.ancestors()
                .nth(3)
                .context("cannot tell the target directory from this executable's path")?
                .to_path_buf()
        }
    };
    Ok(target.join("release").join("examples").join("lambda"))
}

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
    templates: Arc<DynamoTemplateStore>,
    lookups: Arc<DynamoLookupStore>,
}

async fn world(ddb: &DynamoDbLocal) -> Result<World> {
    let hubspot = FakeHubSpot::start().await;
    let core = FakeCore::start().await;
    let stack = ddb.new_stack_with_tables().await?;
    let client = ddb.client();
    let tables = TableNames::for_stack(&stack);
    let notifications = Arc::new(DynamoNotificationStore::new(
        client.clone(),
        tables.notifications,
    ));
    let templates = Arc::new(DynamoTemplateStore::new(client.clone(), tables.templates));
    let lookups = Arc::new(DynamoLookupStore::new(client, tables.lookups));
    let template: EmailTemplate = serde_json::from_str(TEMPLATE)?;
    templates.put_template(&template).await?;
    lookups
        .put_lookup(
            &task_signup_lookup_key(ENV),
            &json!({"hubspot_id": FakeHubSpot::TIMELINE_TEMPLATE_ID}),
        )
        .await?;
    Ok(World {
        hubspot,
        core,
        stack,
        notifications,
        templates,
        lookups,
    })
}

/// Records every event through `Crm::record` (no processing), `RECORD_CONCURRENCY` at a
/// time. Returns the notification ids.
async fn record_all(world: &World, envelopes: Vec<Envelope>) -> Result<Vec<String>> {
    let client = Client::builder()
        .base_url(world.hubspot.base_url())
        .static_token(FakeHubSpot::STATIC_TOKEN)
        .build()?;
    let stores = Stores::from_parts(
        world.notifications.clone(),
        world.templates.clone(),
        world.lookups.clone(),
        Arc::new(hubspot_client::auth::MemoryTokenStore::new()),
    );
    let crm = Crm::builder()
        .hubspot(client)
        .stores(stores)
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

/// Resident-set figures of a process, KiB.
#[derive(Debug, Clone, Copy)]
struct Mem {
    /// `VmHWM`: the peak resident set so far.
    hwm_kib: u64,
    /// `VmRSS`: the resident set now.
    rss_kib: u64,
}

fn proc_mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Mem {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The Lambda's memory at the Runtime API calls that tell, each read while the process waits
/// on that call being answered (`None`: /proc could not be read).
#[derive(Debug, Default)]
struct MemLog {
    /// At the first poll: init done.
    init_done: Option<Mem>,
    /// At the first answer posted: the peak of the whole sweep.
    answer: Option<Mem>,
    /// At the second poll: idle after the sweep.
    idle_after: Option<Mem>,
}

/// The memory of the process whose pid is stored in `pid` (stored right after spawn; init takes
/// far longer, but do not race it).
fn lambda_mem(pid: &AtomicU32) -> Option<Mem> {
    let started = Instant::now();
    loop {
        match pid.load(Ordering::Acquire) {
            0 if started.elapsed() < Duration::from_secs(1) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            0 => return None,
            pid => return proc_mem(pid),
        }
    }
}

/// A Runtime API whose first poll gets `event` and whose later polls are held, so the process
/// idles; it reads the Lambda's memory into `mems` at the calls [`MemLog`] keeps.
async fn runtime(pid: Arc<AtomicU32>, mems: Arc<Mutex<MemLog>>, event: Value) -> LambdaRuntime {
    let runtime = LambdaRuntime::builder()
        .deadline(Deadline::After(DEADLINE))
        .on_call(move |call| {
            let mut mems = mems.lock().unwrap();
            match call {
                Call::Next { poll: 1 } => mems.init_done = lambda_mem(&pid),
                Call::Next { poll: 2 } => mems.idle_after = lambda_mem(&pid),
                Call::Answer(_) if mems.answer.is_none() => mems.answer = lambda_mem(&pid),
                _ => {}
            }
        })
        .start()
        .await;
    // The request id names the work: `sweep` for `process_notifications`, else the action.
    let request_id = match event["action"].as_str() {
        Some("process_notifications") | None => "sweep".to_owned(),
        Some(action) => action.to_owned(),
    };
    runtime.push(request_id, event);
    runtime
}

/// One run's figures.
#[derive(Debug)]
struct Measured {
    notifications: usize,
    seeding: Duration,
    /// Spawn to the first runtime poll.
    init: Duration,
    /// Spawn to the posted response.
    wall: Duration,
    idle: Mem,
    peak: Mem,
    idle_after: Option<Mem>,
    hubspot_requests: usize,
    response: String,
}

/// The last bytes of the Lambda's output, for error messages.
fn output_tail(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let start = text.len().saturating_sub(4000);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// What one invocation of the Lambda measured.
#[derive(Debug)]
struct Invocation {
    /// Spawn to the first runtime poll.
    init: Duration,
    /// Spawn to the posted answer.
    wall: Duration,
    /// At the first poll (idle after init).
    idle: Mem,
    /// When the answer was posted (the peak of the whole invocation).
    peak: Mem,
    /// At the next poll, if it came within 5 s.
    idle_after: Option<Mem>,
    /// The largest `VmHWM` and `VmRSS` read while waiting for the answer (every 20 ms).
    /// Linux updates the high-water mark only at some points (unmapping, exit) and otherwise
    /// shows max(mark, current RSS), so a short peak between updates can be missing from a
    /// later `VmHWM`; the samples catch what lasted 20 ms.
    sampled: Option<Mem>,
    /// Whether the answer was a response (not an error).
    ok: bool,
    /// The answer's body as posted.
    body: String,
    /// The body as compact JSON, if it is JSON.
    response: String,
    /// The Lambda's output (stdout and stderr).
    log_path: PathBuf,
}

/// Spawns the release Lambda against `world` with the stack's environment (plus `extra_env`),
/// hands it `event` through a Runtime API stub, waits for its answer and reads its memory at
/// the calls [`MemLog`] keeps; `doing` names the work in the progress lines.
#[allow(clippy::too_many_arguments)]
async fn invoke(
    ddb: &DynamoDbLocal,
    world: &World,
    args: &Args,
    binary: &Path,
    run: usize,
    event: Value,
    extra_env: &[(&str, String)],
    doing: &str,
) -> Result<Invocation> {
    let pid = Arc::new(AtomicU32::new(0));
    let mems = Arc::new(Mutex::new(MemLog::default()));
    let runtime = runtime(Arc::clone(&pid), Arc::clone(&mems), event).await;
    let log_path =
        std::env::temp_dir().join(format!("lambda-sweep-{}-{run}.log", std::process::id()));
    let log = File::create(&log_path)?;
    let mut cmd = tokio::process::Command::new(binary);
    // tests/lambda.rs `lambda_env` + `World::configure`.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(runtime.function_env())
        .env("STACK_NAME", &world.stack)
        .env("CRM_ENV", ENV)
        .env("HUBSPOT_BASE_URL", world.hubspot.base_url())
        .env("HUBSPOT_ACCESS_TOKEN", FakeHubSpot::STATIC_TOKEN)
        .env("THISCOVERY_CORE_URL", world.core.base_url())
        .env("THISCOVERY_CORE_API_KEY", world.core.api_key())
        .env("AWS_ENDPOINT_URL_DYNAMODB", ddb.endpoint())
        // FakeHubSpot does not rate-limit here: pace the client only loosely.
        .env("HUBSPOT_RATE_LIMIT", "1000/1s")
        // The Lambda defaults to info, one line per notification.
        .env("RUST_LOG", &args.rust_log)
        .envs(extra_env.iter().map(|(k, v)| (*k, v)))
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true);

    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    pid.store(child.id().unwrap_or_default(), Ordering::Release);
    let mut last_tick = Instant::now();
    let mut sampled: Option<Mem> = None;
    loop {
        if let Some(mem) = child.id().and_then(proc_mem) {
            sampled = Some(sampled.map_or(mem, |max| Mem {
                hwm_kib: max.hwm_kib.max(mem.hwm_kib),
                rss_kib: max.rss_kib.max(mem.rss_kib),
            }));
        }
        if !runtime.answers().is_empty() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the Lambda exited before answering ({status}); output:\n{}",
                output_tail(&log_path)
            );
        }
        if started.elapsed() > RUN_TIMEOUT {
            bail!(
                "the Lambda did not answer within {RUN_TIMEOUT:?}; output:\n{}",
                output_tail(&log_path)
            );
        }
        if last_tick.elapsed() >= Duration::from_secs(10) {
            last_tick = Instant::now();
            if let Some(mem) = child.id().and_then(proc_mem) {
                eprintln!(
                    "lambda_sweep: [run {run}]   {:>5.0} s: {doing}, VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                    started.elapsed().as_secs_f64(),
                    mib(mem.rss_kib),
                    mib(mem.hwm_kib)
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next poll, a moment later: the memory the process keeps while idle afterwards.
    let wait_started = Instant::now();
    while runtime.polls().len() < 2 && wait_started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill()?;
    child.wait().await?;
    let init_at = *runtime
        .polls()
        .first()
        .context("no runtime poll recorded")?;
    let answer = runtime.answers().into_iter().next();
    let answer = answer.context("no answer recorded")?;
    drop(runtime);
    let (answer_at, ok, body) = (answer.at, answer.kind == AnswerKind::Response, answer.body);
    let (idle, peak, idle_after) = {
        let mems = mems.lock().unwrap();
        (mems.init_done, mems.answer, mems.idle_after)
    };
    let (Some(idle), Some(peak)) = (idle, peak) else {
        bail!("could not read /proc/<pid>/status of the Lambda (Linux only)");
    };
    let response = serde_json::from_str::<Value>(&body)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| body.clone());
    Ok(Invocation {
        init: init_at.duration_since(started),
        wall: answer_at.duration_since(started),
        idle,
        peak,
        idle_after,
        sampled,
        ok,
        body,
        response,
        log_path,
    })
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

/// How old the cleanup mode's items are: past [`thiscovery_crm::RETENTION`] (7 days).
const CLEANUP_AGE: time::Duration = time::Duration::days(10);
/// How long after its `created` a cleanup item was processed (its `modified`).
const PROCESSED_AFTER: time::Duration = time::Duration::seconds(30);
/// `BatchWriteItem`'s limit: items per request.
const BATCH_WRITE: usize = 25;
/// `BatchWriteItem` requests in flight while seeding the cleanup items.
const SEED_CONCURRENCY: usize = 8;
/// How often a request's unprocessed items are sent again before seeding gives up.
const SEED_RETRIES: u32 = 20;

/// The kinds of the cleanup items in the order they were created, repeated every 20 items:
/// 7 registrations, 6 logins, 3 task signups and 4 emails (35/30/15/20%), interleaved.
/// Indices into [`prototypes`].
const CLEANUP_CYCLE: [usize; 20] = [0, 1, 0, 3, 2, 1, 0, 1, 3, 0, 2, 1, 0, 3, 1, 0, 2, 1, 3, 0];
/// Where [`CLEANUP_CYCLE`] names transactional emails.
const EMAIL_KIND: usize = 3;

/// The kind of the cleanup item at position `j` (oldest first).
fn cleanup_kind(j: usize) -> usize {
    CLEANUP_CYCLE[j % CLEANUP_CYCLE.len()]
}

/// How many of `n` cleanup items are transactional emails.
fn cleanup_emails(n: usize) -> usize {
    (0..n).filter(|&j| cleanup_kind(j) == EMAIL_KIND).count()
}

/// A field of a notification's `details` that differs between items: its JSON pointer and
/// the value of item `i`.
type Field = (&'static str, fn(usize) -> String);

/// One kind of cleanup item: a fixture event as `Crm::record` stores it, and the fields each
/// item sets (as benches/common/workload.rs varies the same fixtures).
struct Prototype {
    /// Tells this kind's ids apart.
    tag: u32,
    notification: Notification,
    fields: &'static [Field],
}

/// A UUID-shaped id, distinct per `tag` and `i` (benches/common/workload.rs's form).
fn bench_uuid(tag: u32, i: usize) -> String {
    format!("{tag:08x}-0000-4000-8000-{i:012x}")
}

impl Prototype {
    /// Item `i` of this kind: the prototype with its own id, fields and label, `processed`,
    /// recorded at `created` and processed [`PROCESSED_AFTER`] later.
    fn item(&self, i: usize, created: OffsetDateTime) -> Notification {
        let mut n = self.notification.clone();
        n.id = bench_uuid(self.tag, i);
        for (pointer, value) in self.fields {
            let value = value(i);
            let slot = n.details.pointer_mut(pointer).unwrap();
            // The label is made of these fields (an email address, a user id, a recipient).
            if let Some(old) = slot.as_str() {
                n.label = n.label.replace(old, &value);
            }
            *slot = Value::String(value);
        }
        n.status = ProcessingStatus::Processed;
        n.created = timestamp::format(created);
        n.modified = timestamp::format(created + PROCESSED_AFTER);
        n
    }
}

/// The four kinds, in [`CLEANUP_CYCLE`]'s order: each fixture event recorded through
/// `Crm::record` into memory stores (no HubSpot call is made), read back as stored.
async fn prototypes() -> Result<Vec<Prototype>> {
    let stores = Stores::memory();
    let notifications = Arc::clone(&stores.notifications);
    let crm = Crm::builder()
        .hubspot(
            Client::builder()
                .base_url("http://127.0.0.1:9")
                .static_token(FakeHubSpot::STATIC_TOKEN)
                .build()?,
        )
        .stores(stores)
        .directory(Arc::new(MemoryDirectory::new()))
        .config(CrmConfig::for_env(ENV))
        .build()?;
    let kinds: [(u32, &str, &'static [Field]); 4] = [
        (
            0x21,
            fixtures::AUTH0_REGISTRATION,
            &[
                ("/data/details/body/email", |i| {
                    format!("registration{i}@bench.example.org")
                }),
                ("/data/details/body/user_metadata/citsci_uuid", |i| {
                    bench_uuid(1, i)
                }),
            ],
        ),
        (
            0x22,
            fixtures::AUTH0_LOGIN,
            &[("/data/user_name", |i| format!("login{i}@bench.example.org"))],
        ),
        (
            0x23,
            fixtures::TASK_SIGNUP,
            &[
                ("/id", |i| bench_uuid(3, i)),
                ("/user_id", |i| bench_uuid(4, i)),
            ],
        ),
        (
            0x24,
            fixtures::EMAIL_TO_ADDRESS,
            &[("/to_recipient_email", |i| {
                format!("email{i}@bench.example.org")
            })],
        ),
    ];
    let mut out = Vec::with_capacity(kinds.len());
    for (tag, event, fields) in kinds {
        let id = match crm.record(&fixtures::envelope(event)).await? {
            Recorded::Created { id, .. } => id,
            other => bail!("a fixture event was not recorded as new: {other:?}"),
        };
        let notification = notifications
            .get(&id)
            .await?
            .context("the recorded fixture is missing")?;
        out.push(Prototype {
            tag,
            notification,
            fields,
        });
    }
    debug_assert_eq!(
        out[EMAIL_KIND].notification.kind,
        NotificationType::TransactionalEmail
    );
    Ok(out)
}

/// Writes `requests` to `table` with `BatchWriteItem`, sending unprocessed items again (with
/// a growing pause) until none are left.
async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
) -> Result<()> {
    for attempt in 0..=SEED_RETRIES {
        if attempt > 0 {
            let pause = Duration::from_millis(10 << attempt.min(7));
            tokio::time::sleep(pause).await;
        }
        let out = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .context("BatchWriteItem")?;
        requests = out
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(table))
            .unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
    }
    bail!(
        "BatchWriteItem: {} items still unprocessed after {SEED_RETRIES} retries",
        requests.len()
    )
}

/// Writes the `n` cleanup items into `table`, the oldest created `CLEANUP_AGE` before `now`,
/// each a millisecond after the one before; `BATCH_WRITE` a request, `SEED_CONCURRENCY`
/// requests at a time. Items are built as they are written, so the bench's own memory does
/// not grow with `n`.
async fn seed_processed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    n: usize,
    now: OffsetDateTime,
    run: usize,
) -> Result<()> {
    let prototypes = Arc::new(prototypes().await?);
    let oldest = now - CLEANUP_AGE;
    let sizes: Vec<String> = prototypes
        .iter()
        .map(|p| {
            let details = serde_json::to_string(&p.item(0, oldest).details).unwrap_or_default();
            format!("{} {} B", p.notification.kind, details.len())
        })
        .collect();
    eprintln!(
        "lambda_sweep: [run {run}]   details as JSON: {}",
        sizes.join(", ")
    );
    let chunks = n.div_ceil(BATCH_WRITE);
    let cursor = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SEED_CONCURRENCY {
        let (client, table) = (client.clone(), table.to_owned());
        let (prototypes, cursor, written) = (prototypes.clone(), cursor.clone(), written.clone());
        workers.spawn(async move {
            loop {
                let chunk = cursor.fetch_add(1, Ordering::Relaxed) as usize;
                if chunk >= chunks {
                    return Ok::<_, anyhow::Error>(());
                }
                let range = chunk * BATCH_WRITE..((chunk + 1) * BATCH_WRITE).min(n);
                let len = range.len() as u64;
                let mut requests = Vec::with_capacity(BATCH_WRITE);
                for j in range {
                    let kind = cleanup_kind(j);
                    let prototype = &prototypes[kind];
                    // The item's number within its kind, for its id and fields.
                    let of_kind = |cycle: &[usize]| cycle.iter().filter(|&&k| k == kind).count();
                    let (cycles, at) = (j / CLEANUP_CYCLE.len(), j % CLEANUP_CYCLE.len());
                    let i = cycles * of_kind(&CLEANUP_CYCLE) + of_kind(&CLEANUP_CYCLE[..at]);
                    let created = oldest + time::Duration::milliseconds(j as i64);
                    let item = notification_to_item(&prototype.item(i, created));
                    requests.push(
                        WriteRequest::builder()
                            .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                            .build(),
                    );
                }
                batch_write(&client, &table, requests).await?;
                let before = written.fetch_add(len, Ordering::Relaxed);
                if (before + len) / 10_000 > before / 10_000 {
                    eprintln!("lambda_sweep: [run {run}]   wrote {} of {n}", before + len);
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(())
}

/// Every item of `table` (a scan, through all its pages), each decoded as a notification.
async fn scan_notifications(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<Notification>> {
    let mut items = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = items.try_next().await.context("scan")? {
        out.push(notification_from_item(table, &item)?);
    }
    Ok(out)
}

/// How many items `table` holds (a `COUNT` scan).
async fn count_items(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<usize> {
    let mut pages = client
        .scan()
        .table_name(table)
        .select(Select::Count)
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.try_next().await.context("count scan")? {
        count += usize::try_from(page.count()).unwrap_or(0);
    }
    Ok(count)
}

/// One cleanup run's figures.
#[derive(Debug)]
struct CleanupMeasured {
    items: usize,
    emails: usize,
    seeding: Duration,
    /// Spawn to the first runtime poll.
    init: Duration,
    /// Spawn to the posted answer.
    wall: Duration,
    idle: Mem,
    peak: Mem,
    idle_after: Option<Mem>,
    /// See [`Invocation::sampled`].
    sampled: Option<Mem>,
    response: String,
}

impl CleanupMeasured {
    /// The peak resident set, KiB: the larger of `VmHWM` at the answer and every `VmHWM` and
    /// `VmRSS` sampled before it.
    fn peak_kib(&self) -> u64 {
        let sampled = self.sampled.map_or(0, |m| m.hwm_kib.max(m.rss_kib));
        self.peak.hwm_kib.max(sampled)
    }

    /// The invocation alone: the event handed out (first poll) to the answer.
    fn cleanup(&self) -> Duration {
        self.wall.saturating_sub(self.init)
    }

    /// Items read per second of the invocation (all of them: deleted and kept).
    fn items_per_s(&self) -> f64 {
        self.items as f64 / self.cleanup().as_secs_f64()
    }
}

async fn cleanup_once(
    ddb: &DynamoDbLocal,
    args: &Args,
    binary: &Path,
    run: usize,
    n: usize,
) -> Result<CleanupMeasured> {
    let emails = cleanup_emails(n);
    let others = n - emails;

    // Setup, not measured.
    let seeding_started = Instant::now();
    let world = world(ddb).await?;
    let client = ddb.client();
    let table = TableNames::for_stack(&world.stack).notifications;
    eprintln!(
        "lambda_sweep: [run {run}] writing {n} processed notifications created {} days ago ({others} registrations, logins and task signups, {emails} emails) into {table}...",
        CLEANUP_AGE.whole_days()
    );
    seed_processed(&client, &table, n, OffsetDateTime::now_utc(), run).await?;
    let seeded = count_items(&client, &table).await?;
    if seeded != n {
        bail!("run {run}: {table} holds {seeded} items after seeding, expected {n}");
    }
    let seeding = seeding_started.elapsed();
    eprintln!(
        "lambda_sweep: [run {run}] seeding took {:.1} s; spawning the Lambda...",
        seeding.as_secs_f64()
    );

    let Invocation {
        init,
        wall,
        idle,
        peak,
        idle_after,
        sampled,
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
        json!({"action": "cleanup"}),
        &[],
        "cleaning up",
    )
    .await?;
    let measured = CleanupMeasured {
        items: n,
        emails,
        seeding,
        init,
        wall,
        idle,
        peak,
        idle_after,
        sampled,
        response,
    };
    eprintln!(
        "lambda_sweep: [run {run}] {} in {:.2} s: peak {:.1} MiB (VmHWM at the answer {:.1} MiB; idle after init {:.1} MiB); response {}",
        if ok { "answered" } else { "FAILED" },
        measured.wall.as_secs_f64(),
        mib(measured.peak_kib()),
        mib(peak.hwm_kib),
        mib(idle.hwm_kib),
        measured.response
    );

    // Every non-email deleted, every email kept?
    let mut problems = Vec::new();
    if !ok {
        problems.push(format!("the invocation failed: {body}"));
    } else {
        let response: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        for (field, expected) in [
            ("deleted", others),
            ("kept_emails", emails),
            ("kept_recent", 0),
        ] {
            let got = response[field].as_u64();
            if got != Some(expected as u64) {
                problems.push(format!("{field} {got:?}, expected {expected}"));
            }
        }
    }
    let left = scan_notifications(&client, &table).await?;
    let left_emails = left
        .iter()
        .filter(|n| {
            n.kind == NotificationType::TransactionalEmail
                && n.status == ProcessingStatus::Processed
        })
        .count();
    if left.len() != emails || left_emails != emails {
        let mut by_kind: Vec<(NotificationType, usize)> = Vec::new();
        for n in &left {
            match by_kind.iter_mut().find(|(k, _)| *k == n.kind) {
                Some((_, c)) => *c += 1,
                None => by_kind.push((n.kind, 1)),
            }
        }
        problems.push(format!(
            "the table holds {} items ({left_emails} processed emails; by type {by_kind:?}), expected exactly the {emails} emails",
            left.len()
        ));
    }
    if !problems.is_empty() {
        bail!(
            "run {run}: the cleanup was not as expected: {}\nLambda output (tail, RUST_LOG={}):\n{}",
            problems.join("; "),
            args.rust_log,
            output_tail(&log_path)
        );
    }
    let _ = std::fs::remove_file(&log_path);
    Ok(measured)
}

fn cleanup_table(rows: &[CleanupMeasured], args: &Args, binary: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nB4 cleanup: {} (RUST_LOG={}), one `cleanup` invocation over N processed notifications created {} days ago in DynamoDB Local (emails kept)\n",
        binary.display(),
        args.rust_log,
        CLEANUP_AGE.whole_days()
    );
    let _ = writeln!(
        out,
        "| run | items | of them emails | seeding s (not measured) | init ms | wall s | cleanup s | items/s | idle VmHWM MiB | peak MiB | VmHWM at response MiB | VmRSS at response MiB | VmRSS idle after MiB | response |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for (i, m) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | `{}` |",
            i + 1,
            m.items,
            m.emails,
            m.seeding.as_secs_f64(),
            m.init.as_secs_f64() * 1000.0,
            m.wall.as_secs_f64(),
            m.cleanup().as_secs_f64(),
            m.items_per_s(),
            mib(m.idle.hwm_kib),
            mib(m.peak_kib()),
            mib(m.peak.hwm_kib),
            mib(m.peak.rss_kib),
            m.idle_after
                .map_or_else(|| "-".to_owned(), |mem| format!("{:.1}", mib(mem.rss_kib))),
            m.response
        );
    }
    if rows.len() > 1 {
        let of = |f: &dyn Fn(&CleanupMeasured) -> f64| median(rows.iter().map(f).collect());
        let _ = writeln!(
            out,
            "| median of {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | | |",
            rows.len(),
            rows[0].items,
            rows[0].emails,
            of(&|m| m.seeding.as_secs_f64()),
            of(&|m| m.init.as_secs_f64() * 1000.0),
            of(&|m| m.wall.as_secs_f64()),
            of(&|m| m.cleanup().as_secs_f64()),
            of(&|m| m.items_per_s()),
            of(&|m| mib(m.idle.hwm_kib)),
            of(&|m| mib(m.peak_kib())),
            of(&|m| mib(m.peak.hwm_kib)),
            of(&|m| mib(m.peak.rss_kib)),
        );
    }
    let _ = writeln!(
        out,
        "\nidle VmHWM: peak RSS when the first runtime poll arrives (init done); peak: the larger of VmHWM when the response is posted and every VmHWM and VmRSS sampled every 20 ms before it (Linux updates the high-water mark lazily); wall: spawn to response; cleanup: first poll to response; items/s: items (deleted and kept) / cleanup s."
    );
    out
}

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
            "the Lambda binary {} does not exist: run `cargo build --release --example lambda` first (or pass --binary PATH / set LAMBDA_BINARY)",
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

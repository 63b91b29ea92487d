//! Issue #16's first check: four OS processes (`examples/budget_worker.rs`) share one HubSpot
//! budget through DynamoDB Local, each sending as fast as it can against FakeHubSpot with a
//! strict rolling window of 50 requests per second: no 429, the busiest rolling second within
//! the limiter's promise (49), and together at least 90% of the limit. The control: the same
//! four processes with a limiter each, which the fake answers with 429s.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::FakeHubSpot;
use serde_json::Value;
use thiscovery_crm::store::dynamodb::{TableNames, budget_item_id};

const PROCESSES: usize = 4;
const CALLERS: usize = 8;
const SECONDS: u64 = 4;
const LIMIT: u32 = 50;
const WINDOW: Duration = Duration::from_secs(1);

fn worker_binary() -> PathBuf {
    // target/<profile>/deps/budget-<hash> -> target/<profile>/examples/budget_worker
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("budget_worker");
    assert!(
        binary.exists(),
        "{} not built: run the suite with scripts/test.sh, or `cargo build --examples` first",
        binary.display()
    );
    binary
}

/// What one run of the four processes did, as the fake saw it and as they reported.
struct Run {
    accepted: usize,
    rate_limited: usize,
    busiest_window: usize,
    per_second: f64,
    workers: Vec<Value>,
}

async fn run(mode: &str) -> Run {
    let hubspot = FakeHubSpot::builder()
        .rate_limit(LIMIT, WINDOW)
        .start()
        .await;
    let local = DynamoDbLocal::shared().await.unwrap();
    let stack = local.new_stack_with_tables().await.unwrap();
    let tables = TableNames::for_stack(&stack);
    let start_at = SystemTime::now() + Duration::from_secs(2);
    let start_ms = start_at.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let mut children = Vec::new();
    for worker in 0..PROCESSES {
        let mut cmd = tokio::process::Command::new(worker_binary());
        cmd.env_clear()
            .env("HUBSPOT_BASE_URL", hubspot.url())
            .env("HUBSPOT_TOKEN", FakeHubSpot::STATIC_TOKEN)
            .env("BUDGET_MODE", mode)
            .env("BUDGET_LIMIT", format!("{LIMIT}/{}ms", WINDOW.as_millis()))
            .env("BUDGET_DYNAMODB_ENDPOINT", local.endpoint())
            .env("BUDGET_TABLE", &tables.tokens)
            .env("BUDGET_ITEM", budget_item_id("hubspot"))
            .env("BUDGET_START_AT_MS", start_ms.to_string())
            .env("BUDGET_SECONDS", SECONDS.to_string())
            .env("BUDGET_CALLERS", CALLERS.to_string())
            .env("BUDGET_WORKER", format!("w{worker}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        children.push(cmd.spawn().unwrap());
    }
    let mut workers = Vec::new();
    for child in children {
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("a worker did not finish within a minute")
            .unwrap();
        assert!(
            out.status.success(),
            "worker failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        workers.push(serde_json::from_slice::<Value>(&out.stdout).unwrap());
    }
    let journal = hubspot.journal();
    let mut accepted: Vec<SystemTime> = journal
        .iter()
        .filter(|e| e.status.is_some_and(|s| s < 300))
        .map(|e| e.at)
        .collect();
    let rate_limited = journal.iter().filter(|e| e.status == Some(429)).count();
    accepted.sort();
    let mut busiest = 0;
    let mut lo = 0;
    for hi in 0..accepted.len() {
        while accepted[hi].duration_since(accepted[lo]).unwrap() >= WINDOW {
            lo += 1;
        }
        busiest = busiest.max(hi - lo + 1);
    }
    // Over the span the fake actually accepted requests in (the last ones answer a little
    // after the workers' SECONDS have passed).
    let span = match (accepted.first(), accepted.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).unwrap().as_secs_f64(),
        _ => 0.0,
    };
    let per_second = accepted.len().saturating_sub(1) as f64 / span.max(1e-9);
    let run = Run {
        accepted: accepted.len(),
        rate_limited,
        busiest_window: busiest,
        per_second,
        workers,
    };
    println!(
        "{mode}: {} accepted ({:.1}/s, {:.3} of the limit), {} answered 429, busiest rolling second {}; workers: {}",
        run.accepted,
        run.per_second,
        run.per_second / f64::from(LIMIT),
        run.rate_limited,
        run.busiest_window,
        serde_json::to_string(&run.workers).unwrap()
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_share_one_budget_without_429s() {
    let shared = run("shared").await;
    assert_eq!(shared.rate_limited, 0, "429s with a shared budget");
    let promise = (hubspot_client::RateLimit::new(LIMIT, WINDOW)).worst_window() as usize;
    assert!(
        shared.busiest_window <= promise,
        "{} in one rolling second, promise {promise}",
        shared.busiest_window
    );
    assert!(
        shared.per_second >= 0.9 * f64::from(LIMIT),
        "{:.1} requests/s together, under 90% of {LIMIT}",
        shared.per_second
    );
    // The store saw far fewer writes than HubSpot saw requests.
    let reservations: u64 = shared
        .workers
        .iter()
        .map(|w| w["reservations"].as_u64().unwrap())
        .sum();
    assert!(
        reservations * 2 < shared.accepted as u64,
        "{reservations} reservations for {} requests",
        shared.accepted
    );
    assert!(shared.workers.iter().all(|w| w["fallbacks"] == 0));

    // The control: a limiter per process. Each keeps its own 49 per second, so together they
    // ask for about four times the limit: the fake refuses the excess with 429s (fewer than
    // the excess, since each 429 and each `Remaining: 0` answer holds that process a while).
    let local = run("local").await;
    assert!(
        local.rate_limited > 0,
        "no 429 without a shared budget: the control shows nothing"
    );
}

//! One process of the shared-budget test and bench (`tests/budget.rs`): it sends contact
//! upserts to a HubSpot as fast as its callers can for a while, through `hubspot-client` with
//! either its own limiter (`BUDGET_MODE=local`) or the budget shared through DynamoDB
//! (`BUDGET_MODE=shared`), and prints one JSON line: its requests, their outcomes, and its
//! limiter's figures.
//!
//! | variable | meaning |
//! |---|---|
//! | `HUBSPOT_BASE_URL`, `HUBSPOT_TOKEN` | where to send, with which static token |
//! | `BUDGET_MODE` | `shared` or `local` |
//! | `BUDGET_LIMIT` | the rate limit, `N/Wms` or `N/Ws` (e.g. `50/1s`) |
//! | `BUDGET_DYNAMODB_ENDPOINT`, `BUDGET_TABLE`, `BUDGET_ITEM` | the shared budget's item (shared mode) |
//! | `BUDGET_START_AT_MS` | wall-clock milliseconds to start at, so all processes overlap |
//! | `BUDGET_SECONDS`, `BUDGET_CALLERS` | how long to send, with how many concurrent callers |
//! | `BUDGET_WORKER` | this worker's name, for its emails and its line |

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hubspot_client::budget::SharedBudget;
use hubspot_client::contacts::Properties;
use hubspot_client::{Client, RetryPolicy};
use serde_json::json;
use thiscovery_crm::config::parse_rate_limit;
use thiscovery_crm::store::dynamodb::DynamoBudgetStore;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn number<T: std::str::FromStr>(name: &str) -> Result<T, String> {
    var(name)?
        .parse()
        .map_err(|_| format!("{name} is not a number"))
}

async fn run() -> Result<serde_json::Value, String> {
    let name = var("BUDGET_WORKER")?;
    let limit = parse_rate_limit(&var("BUDGET_LIMIT")?)?;
    let mut builder = Client::builder()
        .base_url(var("HUBSPOT_BASE_URL")?)
        .static_token(var("HUBSPOT_TOKEN")?)
        .rate_limit(limit)
        // One attempt: every 429 shows in the fake's journal instead of being retried away.
        .retry_policy(RetryPolicy::none());
    match var("BUDGET_MODE")?.as_str() {
        "local" => {}
        "shared" => {
            let dynamodb =
                crm_testkit::dynamodb::client_for_endpoint(&var("BUDGET_DYNAMODB_ENDPOINT")?);
            let store = DynamoBudgetStore::new(dynamodb, var("BUDGET_TABLE")?, var("BUDGET_ITEM")?);
            builder = builder.shared_budget(SharedBudget::new(Arc::new(store)));
        }
        other => return Err(format!("BUDGET_MODE {other:?} is neither shared nor local")),
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let seconds: u64 = number("BUDGET_SECONDS")?;
    let callers: usize = number("BUDGET_CALLERS")?;
    let start_at = UNIX_EPOCH + Duration::from_millis(number("BUDGET_START_AT_MS")?);
    if let Ok(wait) = start_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let client = client.clone();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut limited, mut other) = (0u64, 0u64, 0u64);
            let mut i = 0;
            while tokio::time::Instant::now() < end {
                i += 1;
                let email = format!("{name}-{caller}-{i}@example.org");
                match client
                    .contacts()
                    .upsert_by_email(&email, &Properties::new())
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(e) if e.status() == Some(429) => limited += 1,
                    Err(_) => other += 1,
                }
            }
            (ok, limited, other)
        }));
    }
    let (mut ok, mut limited, mut other) = (0, 0, 0);
    for task in tasks {
        let (o, l, x) = task.await.map_err(|e| e.to_string())?;
        ok += o;
        limited += l;
        other += x;
    }
    let stats = client.limiter_stats();
    Ok(json!({
        "worker": name,
        "ok": ok,
        "rate_limited": limited,
        "other_errors": other,
        "reservations": stats.reservations,
        "slots_reserved": stats.slots_reserved,
        "slots_wasted": stats.slots_wasted,
        "fallbacks": stats.fallbacks,
        "store_errors": stats.store_errors,
        "wait_ms": stats.wait_time.as_millis() as u64,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("budget_worker: {e}");
            ExitCode::FAILURE
        }
    }
}

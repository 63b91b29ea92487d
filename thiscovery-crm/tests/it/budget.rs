//! The shared rate budget on DynamoDB Local: `DynamoBudgetStore` does what
//! `hubspot_client::budget::BudgetStore` promises (one atomic step per call, idle and busy
//! schedules, the `Ahead` refusal, holds that only push forward), concurrent reservations
//! never share a slot, and clients sharing it through one table send within one limit.

use std::sync::Arc;
use std::time::Duration;

use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::FakeHubSpot;
use hubspot_client::budget::{BudgetStore, Reservation, SharedBudget};
use hubspot_client::{Client, RateLimit, RetryPolicy};
use thiscovery_crm::store::dynamodb::{DynamoBudgetStore, TableNames, budget_item_id};

async fn store(item: &str) -> (DynamoBudgetStore, aws_sdk_dynamodb::Client, TableNames) {
    let local = DynamoDbLocal::shared().await.unwrap();
    let stack = local.new_stack_with_tables().await.unwrap();
    let tables = TableNames::for_stack(&stack);
    let client = local.client();
    (
        DynamoBudgetStore::new(client.clone(), &tables.tokens, item),
        client,
        tables,
    )
}

#[tokio::test]
async fn reservations_follow_the_gcra_schedule() {
    let (budget, client, tables) = store(&budget_item_id("hubspot")).await;
    let now = 1_000_000_000;
    // An empty item: the schedule starts now.
    assert_eq!(
        budget.reserve(now, 500, 10_000).await.unwrap(),
        Reservation::Granted { previous_us: 0 }
    );
    // Busy: the next block starts where the last ended.
    assert_eq!(
        budget.reserve(now, 500, 10_000).await.unwrap(),
        Reservation::Granted {
            previous_us: now + 500
        }
    );
    // Promised too far ahead: refused, nothing written.
    assert_eq!(
        budget.reserve(now, 500, 900).await.unwrap(),
        Reservation::Ahead { tat_us: now + 1000 }
    );
    // Idle again later: starts from the new now, not from the old schedule.
    let later = now + 60_000;
    assert_eq!(
        budget.reserve(later, 500, 10_000).await.unwrap(),
        Reservation::Granted {
            previous_us: now + 1000
        }
    );
    // Holds push forward only.
    budget.hold_until(later + 5_000).await.unwrap();
    budget.hold_until(later + 1_000).await.unwrap();
    assert_eq!(
        budget.reserve(later, 500, 10_000).await.unwrap(),
        Reservation::Granted {
            previous_us: later + 5_000
        }
    );
    // The item, as an operator would find it in the tokens table.
    let item = client
        .get_item()
        .table_name(&tables.tokens)
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("rate-budget/hubspot".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["type"].as_s().unwrap(), "rate_budget");
    assert_eq!(item["tat_us"].as_n().unwrap(), &(later + 5_500).to_string());
}

#[tokio::test]
async fn concurrent_reservations_never_share_a_slot() {
    let (budget, _, _) = store("rate-budget/race").await;
    let budget = Arc::new(budget);
    let now = 5_000_000;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..15 {
                match budget.reserve(now, 10, u64::MAX / 2).await.unwrap() {
                    Reservation::Granted { previous_us } => got.push(previous_us.max(now)),
                    other => panic!("{other:?}"),
                }
            }
            got
        }));
    }
    let mut starts = Vec::new();
    for task in tasks {
        starts.extend(task.await.unwrap());
    }
    starts.sort_unstable();
    // 120 blocks of 10 us each, back to back from `now`: every block exactly once.
    let expected: Vec<u64> = (0..120).map(|i| now + i * 10).collect();
    assert_eq!(starts, expected);
}

#[tokio::test]
async fn a_missing_table_is_an_error_naming_it() {
    let local = DynamoDbLocal::shared().await.unwrap();
    let budget = DynamoBudgetStore::new(local.client(), "no-such-table", "rate-budget/x");
    let err = budget.reserve(1, 1, 1).await.unwrap_err().to_string();
    assert!(err.contains("no-such-table"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
}

#[tokio::test]
async fn clients_sharing_one_item_stay_within_one_limit() {
    // Three clients (three processes' worth) on one budget item, against a fake that
    // enforces 20 requests per rolling second strictly: no 429.
    let hubspot = FakeHubSpot::builder()
        .rate_limit(20, Duration::from_secs(1))
        .start()
        .await;
    let (budget, _, _) = store("rate-budget/shared").await;
    let budget = Arc::new(budget);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let client = Client::builder()
            .base_url(hubspot.url())
            .static_token(FakeHubSpot::STATIC_TOKEN)
            .rate_limit(RateLimit::new(20, Duration::from_secs(1)))
            .retry_policy(RetryPolicy::none())
            .shared_budget(SharedBudget::new(budget.clone()))
            .build()
            .unwrap();
        for worker in 0..4 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..5 {
                    client
                        .contacts()
                        .upsert_by_email(&format!("w{worker}-{i}@example.org"), &Default::default())
                        .await
                        .unwrap();
                }
                client.limiter_stats()
            }));
        }
    }
    let mut stats = Vec::new();
    for task in tasks {
        stats.push(task.await.unwrap());
    }
    let statuses: Vec<_> = hubspot.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses.len(), 60);
    assert!(
        statuses.iter().all(|s| *s == Some(200) || *s == Some(201)),
        "{statuses:?}"
    );
    assert!(stats.iter().all(|s| s.fallbacks == 0), "{stats:?}");
}

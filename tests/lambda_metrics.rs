//! The Lambda's metrics: each invocation ends with CloudWatch Embedded Metric Format records
//! on stdout; this test runs the binary against the runtime stub, FakeHubSpot, FakeCore and
//! DynamoDB Local, captures them, and checks their names, dimensions and values.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{fixture, lambda_binary, lambda_env, run_until_answered, world};
use crm_testkit::hubspot::{Endpoint, Fault};
use crm_testkit::lambda::LambdaRuntime;
use serde_json::{Value, json};

/// The EMF records of one invocation: metric name -> (its dimensions, its value).
type Records = Vec<Value>;

/// The EMF documents in `stdout`, grouped by their `RequestId` property.
fn emf_by_request(stdout: &str) -> BTreeMap<String, Records> {
    let mut by_request: BTreeMap<String, Records> = BTreeMap::new();
    for line in stdout.lines() {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if doc.get("_aws").is_none() {
            continue;
        }
        let request = doc["RequestId"].as_str().unwrap_or("").to_owned();
        by_request.entry(request).or_default().push(doc);
    }
    by_request
}

/// The value of `metric` in the record of `records` whose dimensions are `dimensions` (beyond
/// `Stack`), checking the record declares it in namespace `thiscovery-crm`.
fn value(records: &Records, metric: &str, dimensions: &[(&str, &str)]) -> Option<Value> {
    records.iter().find_map(|doc| {
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        let names: Vec<&str> = declared["Metrics"]
            .as_array()?
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        if !names.contains(&metric) {
            return None;
        }
        let dims: Vec<&str> = declared["Dimensions"][0]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut wanted = vec!["Stack"];
        wanted.extend(dimensions.iter().map(|(k, _)| *k));
        let mut sorted = dims.clone();
        sorted.sort_unstable();
        wanted.sort_unstable();
        if sorted != wanted || dimensions.iter().any(|(k, v)| doc[*k] != *v) {
            return None;
        }
        assert_eq!(declared["Namespace"], "thiscovery-crm");
        Some(doc[metric].clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invocation_emits_its_metrics_in_embedded_metric_format() {
    let w = world().await;
    // The first single-send is answered 429 once: a retry, and a hold of the limiter.
    w.hubspot.inject(
        Endpoint::SingleSend,
        Fault::rate_limited().retry_after(1).times(1),
    );
    let mut missing_template = fixture("transactional-email-to-address");
    missing_template["id"] = json!("5c48bcc6-0000-4000-8000-00000000dead");
    missing_template["detail"]["template_name"] = json!("no_such_template");
    let events = [
        ("email", fixture("transactional-email-to-address")),
        ("dead", missing_template),
        // Altha has no HubSpot contact yet: her email waits (retrying).
        ("waiting", fixture("transactional-email-to-user")),
        ("sweep", json!({"action": "process_notifications"})),
    ];
    let runtime = LambdaRuntime::start().await;
    for (id, event) in &events {
        runtime.push(*id, event.clone());
    }
    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &runtime.runtime_api());
    w.configure(&mut cmd);
    let (stdout, _) = run_until_answered(cmd, &runtime, events.len()).await;
    assert!(runtime.errors().is_empty(), "{:?}", runtime.errors());
    let responses: BTreeMap<String, Value> = runtime.responses().into_iter().collect();
    assert_eq!(responses["email"]["outcome"], "processed");
    assert_eq!(responses["dead"]["outcome"], "dlq");
    assert_eq!(responses["waiting"]["outcome"], "retrying");

    let emf = emf_by_request(&stdout);
    let email_type = [("type", "transactional-email")];
    // Every record names the stack.
    for doc in emf.values().flatten() {
        assert_eq!(doc["Stack"], json!(w.stack), "{doc}");
    }

    let sent = &emf["email"];
    assert_eq!(
        value(sent, "notifications.processed", &email_type),
        Some(json!(1))
    );
    // The 429 and its retry: two requests, one answered 429, one retry, one hold.
    assert_eq!(
        value(sent, "hubspot.requests", &[]),
        Some(json!(2)),
        "{sent:?}"
    );
    assert_eq!(value(sent, "hubspot.responses_429", &[]), Some(json!(1)));
    assert_eq!(value(sent, "hubspot.retries", &[]), Some(json!(1)));
    assert_eq!(value(sent, "hubspot.limiter.holds", &[]), Some(json!(1)));
    let waits = value(sent, "hubspot.limiter.wait_seconds", &[]).unwrap();
    assert!(
        waits.as_array().is_some_and(|w| w.len() == 2),
        "one wait per request: {waits}"
    );
    assert_eq!(value(sent, "notifications.dead_lettered_total", &[]), None);
    assert_eq!(
        value(sent, "hubspot.token_refreshes", &[]),
        None,
        "static token"
    );

    let dead = &emf["dead"];
    assert_eq!(
        value(dead, "notifications.dead_lettered", &email_type),
        Some(json!(1))
    );
    assert_eq!(
        value(dead, "notifications.dead_lettered_total", &[]),
        Some(json!(1))
    );
    assert_eq!(value(dead, "notifications.processed", &email_type), None);
    assert_eq!(value(dead, "hubspot.requests", &[]), None, "nothing sent");

    let waiting = &emf["waiting"];
    assert_eq!(
        value(waiting, "notifications.retrying", &email_type),
        Some(json!(1))
    );

    // The sweep retries the waiting email (still no contact) and measures what is left.
    let sweep = &emf["sweep"];
    assert_eq!(
        value(sweep, "notifications.retrying", &email_type),
        Some(json!(1))
    );
    let duration = value(sweep, "sweep.duration_seconds", &[]).unwrap();
    assert!(
        duration[0].as_f64().is_some_and(|d| d > 0.0 && d < 60.0),
        "{duration}"
    );
    assert_eq!(value(sweep, "backlog.items", &[]), Some(json!([1.0])));
    let age = value(sweep, "backlog.oldest_age_seconds", &[]).unwrap();
    assert!(
        age[0].as_f64().is_some_and(|a| (0.0..60.0).contains(&a)),
        "{age}"
    );
    // Units are declared.
    let declared: Vec<Value> = sweep
        .iter()
        .flat_map(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    assert!(
        declared.contains(&json!({"Name": "sweep.duration_seconds", "Unit": "Seconds"})),
        "{declared:?}"
    );
}

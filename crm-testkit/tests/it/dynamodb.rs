//! Tests of crm-testkit's dynamodb module: the harness starts a real DynamoDB Local, creates
//! the production tables, isolates tests by stack and leaves no JVM behind.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ProjectionType};
use crm_testkit::dynamodb::{
    Backend, DynamoDbLocal, HarnessError, PROCESSING_STATUS_INDEX, StartOptions, TABLES,
    notifications_table, tokens_table,
};

/// Env var that turns [`child_probe_starts_the_shared_jvm`] from a no-op into the child half
/// of [`shared_jvm_does_not_outlive_the_test_process`].
const PROBE_ENV: &str = "CRM_TESTKIT_DYNAMODB_PROBE";

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

#[tokio::test]
async fn create_tables_matches_the_production_schema() {
    let Some(ddb) = DynamoDbLocal::shared_or_skip()
        .await
        .expect("DynamoDB Local")
    else {
        return;
    };
    let stack = ddb.new_stack_with_tables().await.expect("create tables");
    let client = ddb.client();

    for spec in TABLES {
        let table = client
            .describe_table()
            .table_name(spec.table_name(&stack))
            .send()
            .await
            .expect("describe table")
            .table
            .expect("table description");
        assert_eq!(table.table_name(), Some(spec.table_name(&stack).as_str()));
        let keys = table.key_schema();
        assert_eq!(keys.len(), 1, "{}: only a hash key", spec.suffix);
        assert_eq!(keys[0].attribute_name(), "id");
        assert_eq!(keys[0].key_type(), &KeyType::Hash);
        assert_eq!(
            table
                .billing_mode_summary()
                .and_then(|summary| summary.billing_mode())
                .map(|mode| mode.as_str()),
            Some("PAY_PER_REQUEST"),
            "{}",
            spec.suffix
        );
        let gsis = table.global_secondary_indexes();
        if spec.suffix == "notifications" {
            assert_eq!(gsis.len(), 1);
            let gsi = &gsis[0];
            assert_eq!(gsi.index_name(), Some(PROCESSING_STATUS_INDEX));
            let keys: Vec<(&str, &KeyType)> = gsi
                .key_schema()
                .iter()
                .map(|key| (key.attribute_name(), key.key_type()))
                .collect();
            assert_eq!(
                keys,
                vec![
                    ("processing_status", &KeyType::Hash),
                    ("created", &KeyType::Range)
                ]
            );
            assert_eq!(
                gsi.projection().and_then(|p| p.projection_type()),
                Some(&ProjectionType::All)
            );
            let mut attributes: Vec<(&str, &str)> = table
                .attribute_definitions()
                .iter()
                .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
                .collect();
            attributes.sort();
            assert_eq!(
                attributes,
                vec![("created", "S"), ("id", "S"), ("processing_status", "S")]
            );
        } else {
            assert!(gsis.is_empty(), "{}: no GSI", spec.suffix);
        }
    }
}

#[tokio::test]
async fn put_get_and_query_the_gsi() {
    let Some(ddb) = DynamoDbLocal::shared_or_skip()
        .await
        .expect("DynamoDB Local")
    else {
        return;
    };
    let stack = ddb.new_stack_with_tables().await.expect("create tables");
    let client = ddb.client();
    let table = notifications_table(&stack);

    client
        .put_item()
        .table_name(&table)
        .item("id", s("n-1"))
        .item("processing_status", s("new"))
        .item("created", s("2022-02-25 10:48:31.407821+00:00"))
        .item("processing_fail_count", AttributeValue::N("0".to_owned()))
        .send()
        .await
        .expect("put");

    let item = client
        .get_item()
        .table_name(&table)
        .key("id", s("n-1"))
        .send()
        .await
        .expect("get")
        .item
        .expect("item");
    assert_eq!(item.get("processing_status"), Some(&s("new")));
    assert_eq!(
        item.get("processing_fail_count"),
        Some(&AttributeValue::N("0".to_owned()))
    );

    let found = client
        .query()
        .table_name(&table)
        .index_name(PROCESSING_STATUS_INDEX)
        .key_condition_expression("processing_status = :s")
        .expression_attribute_values(":s", s("new"))
        .send()
        .await
        .expect("query")
        .items
        .unwrap_or_default();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get("id"), Some(&s("n-1")));
}

#[tokio::test]
async fn stacks_are_isolated_and_run_in_parallel() {
    let Some(ddb) = DynamoDbLocal::shared_or_skip()
        .await
        .expect("DynamoDB Local")
    else {
        return;
    };
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(async move {
                let stack = ddb.new_stack_with_tables().await.expect("create tables");
                let client = ddb.client();
                client
                    .put_item()
                    .table_name(tokens_table(&stack))
                    .item("id", s("hubspot"))
                    .item("owner", s(&format!("task-{n}")))
                    .send()
                    .await
                    .expect("put");
                (n, stack)
            })
        })
        .collect();
    let mut stacks = HashMap::new();
    for task in tasks {
        let (n, stack) = task.await.expect("task");
        stacks.insert(stack, n);
    }
    assert_eq!(stacks.len(), 4, "every task got its own stack");

    let client = ddb.client();
    for (stack, n) in &stacks {
        let items = client
            .scan()
            .table_name(tokens_table(stack))
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        assert_eq!(items.len(), 1, "{stack} sees only its own item");
        assert_eq!(items[0].get("owner"), Some(&s(&format!("task-{n}"))));
    }
}

#[tokio::test]
async fn creating_the_same_stack_twice_is_an_error() {
    let Some(ddb) = DynamoDbLocal::shared_or_skip()
        .await
        .expect("DynamoDB Local")
    else {
        return;
    };
    let stack = ddb.new_stack_with_tables().await.expect("create tables");
    let error = ddb.create_tables(&stack).await.expect_err("tables exist");
    assert!(
        error.to_string().contains("CreateTable"),
        "names the operation: {error}"
    );
}

#[tokio::test]
async fn a_wrong_jar_directory_is_a_clear_error() {
    let error = DynamoDbLocal::start_jar("/nonexistent/dynamodb-local")
        .await
        .expect_err("no jar there");
    assert!(
        matches!(error, HarnessError::JarNotFound { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("/nonexistent/dynamodb-local"), "{message}");
    assert!(message.contains("DynamoDBLocal.jar"), "{message}");
    assert!(
        message.contains("scripts/install-dynamodb-local.sh"),
        "{message}"
    );
}

#[tokio::test]
async fn nothing_available_says_how_to_get_one() {
    let error = DynamoDbLocal::start_with(StartOptions::none())
        .await
        .expect_err("nothing configured");
    let message = error.to_string();
    for needle in [
        "scripts/install-dynamodb-local.sh",
        "DYNAMODB_ENDPOINT",
        "DYNAMODB_LOCAL_DIR",
        "docker",
        "CRM_TESTKIT_SKIP_DYNAMODB=1",
    ] {
        assert!(message.contains(needle), "mentions {needle}: {message}");
    }
}

#[tokio::test]
async fn an_explicit_endpoint_is_used_as_is() {
    let ddb = DynamoDbLocal::start_with(StartOptions::none().endpoint("http://127.0.0.1:1"))
        .await
        .expect("no start needed");
    assert_eq!(ddb.endpoint(), "http://127.0.0.1:1");
    assert_eq!(ddb.backend(), Backend::Endpoint);
    assert_eq!(ddb.java_pid(), None);
}

fn jar_options() -> Option<StartOptions> {
    // The jar tests need the jar even where DYNAMODB_ENDPOINT points elsewhere.
    let options = match std::env::var("DYNAMODB_LOCAL_DIR") {
        Ok(dir) if !dir.is_empty() => StartOptions::none().jar_dir(dir),
        _ => StartOptions::none().search_default_install(true),
    };
    if crm_testkit::dynamodb::skip_requested() {
        eprintln!("skipped: CRM_TESTKIT_SKIP_DYNAMODB is set");
        return None;
    }
    Some(options)
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !process_exists(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !process_exists(pid)
}

#[tokio::test]
async fn dropping_the_guard_stops_java() {
    let Some(options) = jar_options() else { return };
    let started = Instant::now();
    let ddb = DynamoDbLocal::start_with(options)
        .await
        .expect("start the jar");
    eprintln!("DynamoDB Local (jar) ready in {:?}", started.elapsed());
    assert_eq!(ddb.backend(), Backend::Jar);
    let pid = ddb.java_pid().expect("java pid");
    assert!(process_exists(pid));
    ddb.client().list_tables().send().await.expect("it answers");
    drop(ddb);
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "java {pid} still runs"
    );
}

/// The child half of [`shared_jvm_does_not_outlive_the_test_process`]: a no-op unless
/// [`PROBE_ENV`] is set.
#[tokio::test]
async fn child_probe_starts_the_shared_jvm() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    let ddb = DynamoDbLocal::shared()
        .await
        .expect("shared DynamoDB Local");
    let pid = ddb.java_pid().expect("the child runs the jar");
    // The harness prints "test <name> ... " first, without a newline.
    println!("\nJAVA_PID={pid}");
}

#[test]
fn shared_jvm_does_not_outlive_the_test_process() {
    if jar_options().is_none() {
        return;
    }
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "dynamodb::child_probe_starts_the_shared_jvm",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, "1")
        .env_remove("DYNAMODB_ENDPOINT")
        .output()
        .expect("run the child test process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pid: u32 = stdout
        .lines()
        .find_map(|line| line.split("JAVA_PID=").nth(1))
        .expect("the child prints the java pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        wait_gone(pid, Duration::from_secs(15)),
        "java {pid} outlived its test process"
    );
}

#[tokio::test]
async fn restart_keeps_the_endpoint_and_with_a_data_dir_the_tables() {
    let Some(options) = jar_options() else { return };
    let dir = std::env::temp_dir().join(format!(
        "crm-testkit-{}",
        crm_testkit::dynamodb::new_stack()
    ));
    std::fs::create_dir_all(&dir).expect("data dir");
    let mut ddb = DynamoDbLocal::start_with(options.data_dir(&dir))
        .await
        .expect("start the jar");
    let stack = ddb.new_stack_with_tables().await.expect("create tables");
    let client = ddb.client();
    let put = |id: &str| {
        client
            .put_item()
            .table_name(tokens_table(&stack))
            .item("id", s(id))
    };
    put("before").send().await.expect("write while up");
    let first_pid = ddb.java_pid().expect("java pid");

    ddb.stop().expect("stop");
    assert!(!ddb.is_running());
    assert_eq!(ddb.java_pid(), None);
    assert!(wait_gone(first_pid, Duration::from_secs(10)));
    ddb.stop().expect("stopping twice is a no-op");
    // While it is down, calls fail (the SDK reports a dispatch failure: nothing listens).
    let down = put("during").send().await.expect_err("nothing listens");
    let message = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&down));
    assert!(
        message.contains("dispatch failure") || message.contains("onnection refused"),
        "{message}"
    );

    ddb.restart().await.expect("restart");
    assert!(ddb.is_running());
    assert_ne!(ddb.java_pid(), Some(first_pid));
    // The same client (same endpoint) works again, and the data written before is there.
    put("after").send().await.expect("write after the restart");
    let items = client
        .scan()
        .table_name(tokens_table(&stack))
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let mut ids: Vec<_> = items
        .iter()
        .filter_map(|item| item.get("id")?.as_s().ok().cloned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["after", "before"]);
    drop(ddb);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn only_the_jar_backend_can_stop_and_restart() {
    let mut ddb = DynamoDbLocal::start_with(StartOptions::none().endpoint("http://127.0.0.1:1"))
        .await
        .expect("no start needed");
    let error = ddb.stop().expect_err("an external endpoint");
    assert!(matches!(
        error,
        HarnessError::Unsupported { what: "stop", .. }
    ));
    assert_eq!(
        error.to_string(),
        "cannot stop DynamoDB Local on the Endpoint backend: only the jar backend can"
    );
    assert!(ddb.restart().await.is_err());
    assert!(ddb.is_running());
}

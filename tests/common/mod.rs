//! What the tests that run the Lambda binary share: the binary, its process settings, the
//! fixture events, and the world it talks to (FakeHubSpot, FakeCore, DynamoDB Local).
//!
//! Each test binary uses part of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Stdio;

use crm_testkit::core::FakeCore;
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::FakeHubSpot;
use crm_testkit::lambda;
use serde_json::{Value, json};
use thiscovery_crm::store::dynamodb::TableNames;

/// The Lambda binary (`examples/lambda.rs`, the `lambda` binary of the package in `lambda/`),
/// built by `cargo build --workspace --bins`.
pub fn lambda_binary() -> PathBuf {
    // target/<profile>/deps/lambda-<hash> -> target/<profile>/lambda
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let binary = profile_dir.join("lambda");
    assert!(
        binary.exists(),
        "{} not built: run the suite with scripts/test.sh, or `cargo build -p thiscovery-crm-lambda` first",
        binary.display()
    );
    binary
}

/// A fixture event (`thiscovery_crm::testing::fixtures`), by name.
pub fn fixture(name: &str) -> Value {
    serde_json::from_str(thiscovery_crm::testing::fixtures::event(name).unwrap()).unwrap()
}

/// The process settings of every Lambda run here: a clean environment with the variables the
/// Lambda runtime needs, pointed at a Runtime API (`host:port`, or a URL for cargo-lambda's).
pub fn lambda_env(cmd: &mut tokio::process::Command, runtime_api: &str) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(lambda::function_env(runtime_api))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
}

/// What the Lambda talks to: FakeHubSpot (with the task-signup user's contact), FakeCore,
/// and DynamoDB Local tables seeded with the fixture template and the task-signup lookup.
pub struct World {
    /// The fake HubSpot.
    pub hubspot: FakeHubSpot,
    /// The fake thiscovery-core.
    pub core: FakeCore,
    /// DynamoDB Local (shared by the test process).
    pub ddb: &'static DynamoDbLocal,
    /// The stack name: the tables' prefix.
    pub stack: String,
    /// The stack's table names.
    pub tables: TableNames,
    /// Steven's contact id: the task-signup fixture's `crm_id` is pointed at it.
    pub steven: String,
}

/// A [`World`] for environment `e2e`, with the default FakeHubSpot and FakeCore.
pub async fn world() -> World {
    world_on(FakeHubSpot::start().await, FakeCore::start().await, "e2e").await
}

/// [`world`] with this HubSpot and core, the lookups seeded for environment `env`.
pub async fn world_on(hubspot: FakeHubSpot, core: FakeCore, env: &str) -> World {
    let steven = hubspot.seed_contact("steven@email.co.uk", [("firstname", "Steven")]);
    let ddb = DynamoDbLocal::shared().await.unwrap();
    let stack = ddb.new_stack_with_tables().await.unwrap();
    let client = ddb.client();
    let tables = TableNames::for_stack(&stack);
    thiscovery_crm::testing::seed(
        &thiscovery_crm::Stores::dynamodb(client, &tables),
        env,
        FakeHubSpot::TIMELINE_TEMPLATE_ID,
    )
    .await
    .unwrap();
    World {
        hubspot,
        core,
        ddb,
        stack,
        tables,
        steven,
    }
}

impl World {
    /// The stack's configuration, pointed at this world.
    pub fn configure(&self, cmd: &mut tokio::process::Command) {
        cmd.env("STACK_NAME", &self.stack)
            .env("CRM_ENV", "e2e")
            .env("HUBSPOT_BASE_URL", self.hubspot.base_url())
            .env("HUBSPOT_ACCESS_TOKEN", FakeHubSpot::STATIC_TOKEN)
            .env("THISCOVERY_CORE_URL", self.core.base_url())
            .env("THISCOVERY_CORE_API_KEY", self.core.api_key())
            .env("AWS_ENDPOINT_URL_DYNAMODB", self.ddb.endpoint());
    }

    /// The task-signup fixture, pointed at Steven's contact.
    pub fn task_signup(&self) -> Value {
        let mut signup = fixture("task-signup");
        signup["detail"]["extra_data"]["crm_id"] = json!(self.steven);
        signup
    }
}

/// Runs the Lambda `cmd` until `runtime` has `answers` answers (failing if the process exits
/// first or two minutes pass), then stops it and returns its stdout and stderr, in that order.
pub async fn run_until_answered(
    mut cmd: tokio::process::Command,
    runtime: &lambda::LambdaRuntime,
    answers: usize,
) -> (String, String) {
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().unwrap();
    while runtime.answers().len() < answers {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "lambda exited early ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "lambda did not answer every event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the Lambda `cmd`, which must fail its cold start within a minute; returns what it
/// printed (stdout, then stderr).
pub async fn failed_cold_start(mut cmd: tokio::process::Command) -> String {
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

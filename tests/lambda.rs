//! The deployed Lambda (examples/lambda.rs) as a process, against a local Lambda Runtime API
//! stub, FakeHubSpot, FakeCore and DynamoDB Local: every fixture event is invoked through the
//! runtime protocol and the resulting HubSpot state and notification items are checked.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    failed_cold_start, fixture, lambda_binary, lambda_env, run_until_answered, world, world_on,
};
use crm_testkit::core::{ALTHA_EMAIL, ALTHA_USER_ID, FakeCore};
use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use crm_testkit::lambda::{Deadline, LambdaRuntime};
use crm_testkit::secrets::{self as moto, MotoServer};
use hubspot_client::auth::TokenSet;
use serde_json::{Value, json};
use thiscovery_crm::notification::ProcessingStatus;
use thiscovery_crm::store::NotificationStore;
use thiscovery_crm::store::dynamodb::DynamoNotificationStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_handles_every_fixture_through_the_runtime_api() {
    let w = world().await;
    let mut bad = fixture("auth0-login");
    bad.as_object_mut().unwrap().remove("id");
    // A user-task id longer than a DynamoDB key: rejected, and acknowledged (not an error
    // EventBridge would retry until it drops the event).
    let mut unstorable = w.task_signup();
    unstorable["detail"]["id"] = json!("9".repeat(2100));
    let events = vec![
        ("registration", fixture("auth0-registration")),
        ("login", fixture("auth0-login")),
        ("signup", w.task_signup()),
        ("email-address", fixture("transactional-email-to-address")),
        ("email-user", fixture("transactional-email-to-user")),
        ("verification", fixture("auth0-verification")),
        ("bad", bad),
        ("unstorable", unstorable),
        ("duplicate", fixture("transactional-email-to-address")),
        ("sweep", json!({"action": "process_notifications"})),
        // What the Python stack's record functions publish on the thiscovery bus.
        (
            "eventbridge-sweep",
            json!({"version": "0", "id": "5e1f0c3a-0000-4000-8000-000000000001",
                   "detail-type": "process_notifications", "source": "thiscovery",
                   "resources": [], "detail": {}}),
        ),
        (
            "cleanup",
            json!({"detail-type": "Scheduled Event", "resources": ["arn:aws:events:eu-west-1:1:rule/crm-DailyCleanup"], "detail": {}}),
        ),
        (
            "scheduled-sweep",
            json!({"detail-type": "Scheduled Event", "resources": ["arn:aws:events:eu-west-1:1:rule/crm-ProcessNotifications"], "detail": {}}),
        ),
        ("unknown-action", json!({"action": "dance"})),
    ];
    let runtime = LambdaRuntime::start().await;
    for (id, event) in &events {
        runtime.push(*id, event.clone());
    }

    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &runtime.runtime_api());
    w.configure(&mut cmd);
    let (stdout, stderr) = run_until_answered(cmd, &runtime, events.len()).await;
    let logs = stdout + &stderr;

    assert!(runtime.errors().is_empty(), "{:?}", runtime.errors());
    let responses: std::collections::HashMap<String, Value> =
        runtime.responses().into_iter().collect();
    let outcome = |id: &str| {
        responses[id]["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for id in [
        "registration",
        "login",
        "signup",
        "email-address",
        "email-user",
    ] {
        assert_eq!(outcome(id), "processed", "{id}: {}\n{logs}", responses[id]);
    }
    assert_eq!(outcome("verification"), "ignored");
    assert_eq!(outcome("bad"), "rejected");
    assert!(
        responses["bad"]["reason"]
            .as_str()
            .unwrap()
            .contains("`id`")
    );
    assert_eq!(outcome("unstorable"), "rejected");
    assert!(
        responses["unstorable"]["reason"]
            .as_str()
            .unwrap()
            .contains("detail.id"),
        "{}",
        responses["unstorable"]
    );
    assert_eq!(outcome("duplicate"), "duplicate");
    assert_eq!(
        responses["sweep"]["processed"], 0,
        "nothing was left pending"
    );
    assert_eq!(
        responses["eventbridge-sweep"]["processed"], 0,
        "a sweep, not an event: {}",
        responses["eventbridge-sweep"]
    );
    assert!(responses["eventbridge-sweep"]["not_claimed"].is_number());
    assert_eq!(responses["cleanup"]["deleted"], 0, "nothing is old yet");
    assert_eq!(responses["cleanup"]["kept_recent"], 0);
    assert!(
        responses["scheduled-sweep"]["not_claimed"].is_number(),
        "{}",
        responses["scheduled-sweep"]
    );
    assert_eq!(outcome("unknown-action"), "rejected");

    // HubSpot and thiscovery-core saw exactly the effects.
    assert_eq!(
        w.hubspot.contact_by_email(ALTHA_EMAIL).unwrap().properties["thiscovery_last_login_date"],
        // 2021-01-16T12:12:30.147Z to the whole second, as the Python stack sends it.
        "1610799150000"
    );
    assert_eq!(w.hubspot.timeline_events().len(), 1);
    assert_eq!(w.hubspot.sent_emails().len(), 2);
    assert_eq!(w.core.crm_id_patches()[0].user_id, ALTHA_USER_ID);
    let notifications =
        DynamoNotificationStore::new(w.ddb.client(), w.tables.notifications.clone());
    let item = notifications.get(ALTHA_USER_ID).await.unwrap().unwrap();
    assert_eq!(item.status, ProcessingStatus::Processed);
    assert!(notifications.list_pending().await.unwrap().is_empty());

    // Logs: JSON lines, one per event, no secrets or emails.
    let event_lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "event")
        .collect();
    assert_eq!(event_lines.len(), 9, "{logs}");
    assert!(!logs.contains(FakeHubSpot::STATIC_TOKEN), "token in logs");
    assert!(!logs.contains(&w.core.api_key()), "API key in logs");
    assert!(!logs.contains(ALTHA_EMAIL), "personal data in logs");
}

/// The Lambda process is killed (SIGKILL) after it claimed an item and while its HubSpot call
/// is in flight; a new process's sweep takes the item over once the claim's lease has passed,
/// and the email is sent once. The runtime hands out deadline 0 (as a default context does),
/// so the lease is `CRM_LEASE_SECONDS`, 2 s, instead of the deadline plus a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_killed_between_claim_and_mark_loses_nothing() {
    let w = world().await;
    // The send takes long enough for the kill to land while it is in flight.
    w.hubspot.inject(
        Endpoint::SingleSend,
        Fault::latency(Duration::from_secs(3)).times(1),
    );
    let runtime = LambdaRuntime::builder()
        .deadline(Deadline::AtMillis(0))
        .start()
        .await;
    runtime.push("email", fixture("transactional-email-to-address"));
    let runtime_api = runtime.runtime_api();
    let spawn = || {
        let mut cmd = tokio::process::Command::new(lambda_binary());
        lambda_env(&mut cmd, &runtime_api);
        w.configure(&mut cmd);
        cmd.env("CRM_LEASE_SECONDS", "2");
        cmd.spawn().unwrap()
    };
    let notifications =
        DynamoNotificationStore::new(w.ddb.client(), w.tables.notifications.clone());

    let mut first = spawn();
    let started = Instant::now();
    let claimed = loop {
        let pending = notifications.list_pending().await.unwrap();
        if let Some(item) = pending
            .into_iter()
            .find(|n| n.status == ProcessingStatus::Processing)
        {
            break item;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the Lambda never claimed the item"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(runtime.responses().is_empty(), "the killed Lambda answered");
    let item = notifications.get(&claimed.id).await.unwrap().unwrap();
    assert_eq!(item.status, ProcessingStatus::Processing, "left claimed");

    // After the lease, a new process's sweep takes it over.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    runtime.push("sweep", json!({"action": "process_notifications"}));
    let mut second = spawn();
    let started = Instant::now();
    while runtime.responses().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the second Lambda did not answer the sweep"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.start_kill().unwrap();
    second.wait().await.unwrap();
    let (id, sweep) = runtime.responses()[0].clone();
    assert_eq!(id, "sweep");
    assert_eq!(sweep["processed"], 1, "{sweep}");
    let item = notifications.get(&claimed.id).await.unwrap().unwrap();
    assert_eq!(item.status, ProcessingStatus::Processed, "{item:?}");
    // One email, whether or not the killed process's request reached HubSpot.
    assert_eq!(w.hubspot.sent_emails().len(), 1);
}

/// The emails app of [`the_lambda_reads_the_python_stacks_secrets_and_rereads_them_when_refused`].
const EMAILS_CLIENT_ID: &str = "emails-app-id";
const EMAILS_CLIENT_SECRET: &str = "emails-app-secret-ROTATED";
const CORE_KEY: &str = "core-key-ROTATED";

/// A token set the fake issued, saved as obtained an hour ago: its first use refreshes it.
fn expired(issued: crm_testkit::hubspot::TokenSet) -> TokenSet {
    TokenSet::new(
        issued.access_token,
        issued.refresh_token,
        Duration::from_secs(issued.expires_in),
        std::time::SystemTime::now() - Duration::from_secs(3600),
    )
}

/// The deployed configuration: `SECRETS_NAMESPACE` and no credential variable, so the Lambda
/// reads `{ns}hubspot-connection` (two apps) and `{ns}aws-connection` from Secrets Manager
/// (moto) at cold start, and builds two HubSpot clients on the token items `hubspot` and
/// `hubspot-emails`. The secrets it read then hold credentials that were rotated since: the
/// emails app's client secret and core's API key are replaced while the first event is in
/// flight. The emails app's first refresh is refused, so it reads the secret again and
/// retries; core's first answer is 403, so it reads the key again and resends. Nothing
/// secret reaches the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_reads_the_python_stacks_secrets_and_rereads_them_when_refused() {
    let moto = MotoServer::shared().await.unwrap();
    let ns = moto.new_namespace();
    let env_name = ns.trim_matches('/').to_owned();
    let hubspot = FakeHubSpot::builder()
        .oauth_client(EMAILS_CLIENT_ID, EMAILS_CLIENT_SECRET)
        .start()
        .await;
    let core = FakeCore::builder()
        .with_defaults()
        .api_key(CORE_KEY)
        .start()
        .await;
    let w = world_on(hubspot, core, &env_name).await;
    // The token items the Python stack left: main fresh, emails to be refreshed.
    let issued = w.hubspot.issue_token_set();
    let main_tokens = TokenSet::new(
        issued.access_token,
        issued.refresh_token,
        Duration::from_secs(issued.expires_in),
        std::time::SystemTime::now(),
    );
    let stores = thiscovery_crm::Stores::dynamodb(w.ddb.client(), &w.tables);
    stores.tokens.save(&main_tokens).await.unwrap();
    stores
        .email_tokens
        .save(&expired(w.hubspot.issue_token_set_for(EMAILS_CLIENT_ID)))
        .await
        .unwrap();
    // The secrets as the cold start reads them: the emails secret and the key are stale.
    let connection = |emails_secret: &str| {
        json!({
            "client-id": FakeHubSpot::CLIENT_ID,
            "client-secret": FakeHubSpot::CLIENT_SECRET,
            "emails-client-id": EMAILS_CLIENT_ID,
            "emails-client-secret": emails_secret,
            "app-id": "123456",
            "emails-app-id": "654321",
            "api-key": "legacy-hubspot-api-key-STALE"
        })
        .to_string()
    };
    let hubspot_id = format!("{ns}hubspot-connection");
    let aws_id = format!("{ns}aws-connection");
    moto.create_secret(&hubspot_id, &connection("emails-secret-STALE"))
        .await
        .unwrap();
    moto.create_secret(&aws_id, r#"{"aws-api-key": "core-key-STALE"}"#)
        .await
        .unwrap();

    // The registration's upsert is held long enough to rotate the secrets under it.
    w.hubspot.inject(
        Endpoint::ContactsBatchUpsert,
        Fault::latency(Duration::from_secs(3)).times(1),
    );
    let runtime = LambdaRuntime::start().await;
    runtime.push("registration", fixture("auth0-registration"));
    runtime.push("email", fixture("transactional-email-to-address"));
    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &runtime.runtime_api());
    cmd.env("SECRETS_NAMESPACE", &ns)
        .env("STACK_NAME", &w.stack)
        .env("HUBSPOT_BASE_URL", w.hubspot.base_url())
        .env("THISCOVERY_CORE_URL", w.core.base_url())
        .env("AWS_ENDPOINT_URL_DYNAMODB", w.ddb.endpoint())
        .env(moto::ENDPOINT_URL_ENV, moto.endpoint());
    let mut child = cmd.spawn().unwrap();
    // The first poll comes after the cold start (secrets read): rotate now.
    let started = Instant::now();
    while runtime.polls().is_empty() {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "lambda exited at cold start ({status}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no cold start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        w.hubspot
            .contacts()
            .iter()
            .all(|c| c.email() != Some(ALTHA_EMAIL)),
        "the rotation must land before the registration's upsert"
    );
    moto.put_secret_value(&hubspot_id, &connection(EMAILS_CLIENT_SECRET))
        .await
        .unwrap();
    moto.put_secret_value(&aws_id, &json!({ "aws-api-key": CORE_KEY }).to_string())
        .await
        .unwrap();
    while runtime.answers().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "lambda did not answer both events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);

    let responses: std::collections::HashMap<String, Value> =
        runtime.responses().into_iter().collect();
    for id in ["registration", "email"] {
        assert_eq!(
            responses[id]["outcome"], "processed",
            "{id}: {}\n{logs}",
            responses[id]
        );
    }
    // Core: the write-back was refused with the stale key, then resent with the new one.
    let statuses: Vec<u16> = w.core.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.first(), Some(&403), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(w.core.crm_id_patches()[0].user_id, ALTHA_USER_ID);
    // HubSpot: the emails app's refresh was refused once, then retried with the new secret;
    // the main app's fresh token needed none. The email went through the emails app.
    assert_eq!(w.hubspot.requests_to(Endpoint::OAuthToken), 2);
    assert_eq!(w.hubspot.tokens_issued(), 1);
    assert_eq!(w.hubspot.sent_emails().len(), 1);
    let emails_item = stores.email_tokens.load().await.unwrap().unwrap();
    assert!(
        emails_item.obtained_at > std::time::SystemTime::now() - Duration::from_secs(600),
        "the hubspot-emails item holds the refreshed set"
    );
    // The cold start says where its configuration came from.
    let ready = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "ready")
        .unwrap_or_else(|| panic!("no ready line: {logs}"));
    assert_eq!(ready["fields"]["hubspot_apps"], 2, "{ready}");
    assert_eq!(ready["fields"]["hubspot_from_secrets"], true, "{ready}");
    assert_eq!(
        ready["fields"]["core_api_key_from_secrets"], true,
        "{ready}"
    );
    assert_eq!(ready["fields"]["secrets_namespace"], ns.as_str(), "{ready}");
    assert!(
        logs.contains(&hubspot_id),
        "the secret ids read are logged: {logs}"
    );
    for secret in [
        FakeHubSpot::CLIENT_SECRET,
        EMAILS_CLIENT_SECRET,
        "emails-secret-STALE",
        CORE_KEY,
        "core-key-STALE",
        "legacy-hubspot-api-key-STALE",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}

/// A secret the deployed configuration needs but Secrets Manager does not have stops the
/// cold start, naming the secret.
#[tokio::test]
async fn a_missing_secret_fails_the_cold_start_naming_it() {
    let moto = MotoServer::shared().await.unwrap();
    let ns = moto.new_namespace();
    let runtime = LambdaRuntime::start().await;
    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &runtime.runtime_api());
    cmd.env("SECRETS_NAMESPACE", &ns)
        .env("THISCOVERY_CORE_URL", "http://127.0.0.1:9")
        .env(moto::ENDPOINT_URL_ENV, moto.endpoint());
    let text = failed_cold_start(cmd).await;
    assert!(
        text.contains(&format!("secret {ns}hubspot-connection does not exist")),
        "{text}"
    );
}

#[tokio::test]
async fn missing_configuration_fails_the_cold_start_naming_the_variable() {
    let runtime = LambdaRuntime::start().await;
    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &runtime.runtime_api());
    cmd.env("HUBSPOT_ACCESS_TOKEN", "t")
        .env("THISCOVERY_CORE_URL", "http://127.0.0.1:9")
        .env("THISCOVERY_CORE_API_KEY", "k");
    let text = failed_cold_start(cmd).await;
    assert!(text.contains("STACK_NAME"), "{text}");
}

/// `cargo lambda`, from `CARGO_LAMBDA` (a path to the `cargo-lambda` binary), or on `PATH`
/// (`scripts/test.sh` installs it from PyPI into `target/tools-venv`).
fn cargo_lambda() -> PathBuf {
    if let Ok(path) = std::env::var("CARGO_LAMBDA") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("cargo-lambda"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "cargo-lambda not found: run `bash scripts/test.sh` (it installs it), or `pip install cargo-lambda`, or set CARGO_LAMBDA"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The same binary under `cargo lambda watch --only-lambda-apis` (cargo-lambda's Runtime API
/// emulator), driven by `cargo lambda invoke --data-file` with the fixture events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_lambda_invoke_runs_the_fixtures() {
    let cargo_lambda = cargo_lambda();
    let w = world().await;

    let port = free_port();
    let mut watch = tokio::process::Command::new(&cargo_lambda)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-P",
            &port.to_string(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait for the emulator's port.
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cargo lambda watch did not start"
        );
        if let Ok(Some(status)) = watch.try_wait() {
            panic!("cargo lambda watch exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &format!("http://127.0.0.1:{port}/.rt"));
    w.configure(&mut cmd);
    cmd.env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _function = cmd.spawn().unwrap();

    let events = [
        ("registration", fixture("auth0-registration"), "processed"),
        ("login", fixture("auth0-login"), "processed"),
        ("signup", w.task_signup(), "processed"),
        (
            "email",
            fixture("transactional-email-to-address"),
            "processed",
        ),
        ("verification", fixture("auth0-verification"), "ignored"),
        (
            "again",
            fixture("transactional-email-to-address"),
            "duplicate",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("crm-cargo-lambda-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, event, expected) in events {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_vec(&event).unwrap()).unwrap();
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(&cargo_lambda)
                .args(["lambda", "invoke", "-P", &port.to_string(), "--data-file"])
                .arg(&file)
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let response: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(response["outcome"], expected, "{name}: {response}");
    }
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(w.hubspot.sent_emails().len(), 1);
    assert_eq!(w.hubspot.timeline_events().len(), 1);
    assert_eq!(w.core.crm_id_patches()[0].user_id, ALTHA_USER_ID);
}

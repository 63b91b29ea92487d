//! The `crm` binary against DynamoDB Local, FakeCore and FakeHubSpot: each command run as an
//! operator runs it, its output and exit code checked, and the tables, HubSpot and
//! thiscovery-core checked for exactly the effects it should have had.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::Output;
use std::time::{Duration, Instant};

use crm_testkit::core::FakeCore;
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use serde_json::{Value, json};
use thiscovery_crm::Crm;
use thiscovery_crm::config::StackConfig;
use thiscovery_crm::directory::backfill::CHECKPOINT_KEY;
use thiscovery_crm::notification::{Notification, NotificationType, ProcessingStatus};
use thiscovery_crm::store::dynamodb::{DynamoLookupStore, DynamoNotificationStore, TableNames};
use thiscovery_crm::store::{Claim, Completion, LookupStore, NotificationStore};
use thiscovery_crm::testing::fixtures;
use thiscovery_crm::timestamp;
use time::OffsetDateTime;

/// What the binary talks to.
struct World {
    hubspot: FakeHubSpot,
    core: FakeCore,
    ddb: &'static DynamoDbLocal,
    stack: String,
    tables: TableNames,
}

async fn world_with(core: FakeCore) -> World {
    let hubspot = FakeHubSpot::start().await;
    let ddb = DynamoDbLocal::shared().await.unwrap();
    let stack = ddb.new_stack_with_tables().await.unwrap();
    let tables = TableNames::for_stack(&stack);
    thiscovery_crm::testing::seed(
        &thiscovery_crm::Stores::dynamodb(ddb.client(), &tables),
        "e2e",
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
    }
}

async fn world() -> World {
    world_with(FakeCore::start().await).await
}

impl World {
    /// The stack's variables, as the Lambda gets them (`STACK_NAME` left to `--stack`).
    fn vars(&self) -> HashMap<&'static str, String> {
        HashMap::from([
            ("CRM_ENV", "e2e".to_owned()),
            ("HUBSPOT_BASE_URL", self.hubspot.base_url()),
            ("HUBSPOT_ACCESS_TOKEN", FakeHubSpot::STATIC_TOKEN.to_owned()),
            ("HUBSPOT_RATE_LIMIT", "100/1s".to_owned()),
            ("THISCOVERY_CORE_URL", self.core.base_url()),
            ("THISCOVERY_CORE_API_KEY", self.core.api_key()),
        ])
    }

    /// The `crm` command, configured for this world (`--stack` given).
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL_DYNAMODB", self.ddb.endpoint())
            .envs(self.vars())
            .arg("--stack")
            .arg(&self.stack)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `crm args...` to the end.
    async fn crm(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().await.unwrap();
        Run::of(args, output)
    }

    /// The stack as the Lambda builds it, for seeding.
    fn stack_crm(&self) -> Crm {
        let mut vars = self.vars();
        vars.insert("STACK_NAME", self.stack.clone());
        StackConfig::from_lookup(|k| vars.get(k).cloned())
            .unwrap()
            .build(self.ddb.client())
            .unwrap()
    }

    fn notifications(&self) -> DynamoNotificationStore {
        DynamoNotificationStore::new(self.ddb.client(), self.tables.notifications.clone())
    }

    async fn status_of(&self, id: &str) -> ProcessingStatus {
        self.notifications().get(id).await.unwrap().unwrap().status
    }

    /// Records an email event to `to` with `template`; returns its id.
    async fn record_email(&self, template: &str, to: &str, event_id: &str) -> String {
        let mut event: Value = serde_json::from_str(fixtures::EMAIL_TO_ADDRESS).unwrap();
        event["id"] = json!(event_id);
        event["detail"]["template_name"] = json!(template);
        event["detail"]["to_recipient_email"] = json!(to);
        let envelope = fixtures::envelope(&event.to_string());
        match self.stack_crm().record(&envelope).await.unwrap() {
            thiscovery_crm::Recorded::Created { id, .. } => id,
            other => panic!("not recorded: {other:?}"),
        }
    }

    /// Moves a `new` item to `dlq` with `error`, as a processor would.
    async fn dead_letter(&self, id: &str, error: &str) {
        let store = self.notifications();
        let now = OffsetDateTime::now_utc();
        let now_ms = timestamp::epoch_millis(now);
        let claim = Claim {
            owner: "test".into(),
            now_ms,
            lease_until_ms: now_ms + 60_000,
            modified: timestamp::format(now),
        };
        assert!(store.claim(id, &claim).await.unwrap().is_some());
        let done = Completion {
            status: ProcessingStatus::Dlq,
            fail_count: 3,
            error_message: Some(error.to_owned()),
            modified: timestamp::format(now),
        };
        assert!(store.complete(id, "test", &done).await.unwrap());
    }

    /// Emails HubSpot sent with this `sendId`.
    fn sent_with(&self, send_id: &str) -> usize {
        self.hubspot
            .sent_emails()
            .iter()
            .filter(|e| e.send_id.as_deref() == Some(send_id))
            .count()
    }
}

/// A finished run: exit code, stdout as JSON when it is, and both streams for messages.
struct Run {
    what: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(args: &[&str], output: Output) -> Run {
        Run {
            what: args.join(" "),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}): {self}", self.what))
    }

    #[track_caller]
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "crm {}: {self}", self.what);
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_dlq_list_and_show_tell_an_operator_what_the_outbox_holds() {
    let w = world().await;
    let store = w.notifications();
    // Empty: nothing needs attention.
    let empty = w.crm(&["status", "--json"]).await;
    empty.expect(0);
    assert_eq!(empty.json()["totals"]["new"], 0);

    let pending = w
        .record_email("unittests_email_template_1", "a@example.org", "e-pending")
        .await;
    let dead = w
        .record_email("unittests_email_template_1", "b@example.org", "e-dead")
        .await;
    w.dead_letter(&dead, "template \"gone\" not found").await;
    // A claim whose lease passed (a processor killed mid-item).
    let stale = w
        .record_email("unittests_email_template_1", "c@example.org", "e-stale")
        .await;
    let now_ms = timestamp::epoch_millis(OffsetDateTime::now_utc());
    let claim = Claim {
        owner: "killed".into(),
        now_ms,
        lease_until_ms: now_ms - 1_000,
        modified: timestamp::format(OffsetDateTime::now_utc()),
    };
    assert!(store.claim(&stale, &claim).await.unwrap().is_some());

    let status = w.crm(&["status", "--json"]).await;
    status.expect(4);
    let s = status.json();
    assert_eq!(s["counts"]["new"]["transactional-email"], 1, "{s}");
    assert_eq!(s["counts"]["dlq"]["transactional-email"], 1, "{s}");
    assert_eq!(s["counts"]["processing"]["transactional-email"], 1, "{s}");
    assert_eq!(s["totals"]["dlq"], 1);
    assert_eq!(s["expired_claims"], 1);
    assert_eq!(s["expired_claim_ids"], json!([stale]));
    assert_eq!(s["oldest_pending"]["id"], json!(pending), "{s}");
    assert!(s["oldest_pending"]["age_seconds"].as_i64().unwrap() >= 0);
    let text = w.crm(&["status"]).await;
    text.expect(4);
    assert!(text.stdout.contains("oldest pending:"), "{text}");
    assert!(text.stdout.contains("claims past their lease: 1"), "{text}");

    let listed = w.crm(&["dlq", "list", "--json"]).await;
    listed.expect(4);
    let l = listed.json();
    assert_eq!(l["count"], 1);
    assert_eq!(l["items"][0]["id"], json!(dead));
    assert_eq!(l["items"][0]["error"], "template \"gone\" not found");
    assert_eq!(l["items"][0]["fail_count"], 3);
    let other_type = w
        .crm(&["dlq", "list", "--type", "user-login", "--json"])
        .await;
    other_type.expect(0);
    assert_eq!(other_type.json()["count"], 0);
    let recent = w
        .crm(&[
            "dlq",
            "list",
            "--type",
            "transactional-email",
            "--since",
            "1h",
        ])
        .await;
    recent.expect(4);
    assert!(recent.stdout.contains(&dead), "{recent}");
    w.crm(&["dlq", "list", "--type", "parcel"]).await.expect(1);
    w.crm(&["dlq", "list", "--since", "3 weeks"])
        .await
        .expect(2);

    let shown = w.crm(&["show", &dead, "--json"]).await;
    shown.expect(0);
    let item = shown.json();
    assert_eq!(item["processing_status"], "dlq");
    assert_eq!(item["processing_fail_count"], 3);
    assert_eq!(item["details"]["to_recipient_email"], "b@example.org");
    let text = w.crm(&["show", &dead]).await;
    text.expect(0);
    assert!(
        text.stdout
            .contains("processing_error_message  template \"gone\" not found"),
        "{text}"
    );
    w.crm(&["show", "no-such-id"]).await.expect(3);
    // No stack at all: a configuration error naming what to set.
    let mut bare = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"));
    bare.env_clear().arg("status");
    let bare = Run::of(&["status"], bare.output().await.unwrap());
    bare.expect(1);
    assert!(bare.stderr.contains("--stack"), "{bare}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_dead_lettered_email_sends_it_exactly_once() {
    let w = world().await;
    // Dead-lettered before anything was sent: its template did not exist.
    let missing = w
        .record_email("template_added_later", "a@example.org", "e-missing")
        .await;
    let first = w.crm(&["process", "--json"]).await;
    first.expect(4);
    assert_eq!(first.json()["dlq"], 1, "{first}");
    assert_eq!(w.status_of(&missing).await, ProcessingStatus::Dlq);
    assert_eq!(w.hubspot.sent_emails().len(), 0);

    // Sent, then dead-lettered by attempts that ended without a result: HubSpot has it.
    let sent = w
        .record_email("unittests_email_template_1", "b@example.org", "e-sent")
        .await;
    w.crm(&["process"]).await.expect(0);
    assert_eq!(w.sent_with(&sent), 1);
    force_dlq(
        &w,
        &sent,
        "gave up after 3 attempts: 3 of them ended without a result (the processor was killed or timed out)",
    )
    .await;
    // Too old to send: refused.
    let expired = w
        .record_email("unittests_email_template_1", "c@example.org", "e-expired")
        .await;
    w.dead_letter(&expired, "expired: not sent").await;

    let store = w.notifications();
    // A dry run changes nothing.
    let dry = w
        .crm(&[
            "replay",
            "--dlq",
            "--type",
            "transactional-email",
            "--dry-run",
            "--json",
        ])
        .await;
    dry.expect(4); // the expired one is refused
    let d = dry.json();
    assert_eq!(d["would_replay"], 2, "{d}");
    assert_eq!(d["replayed"], 0);
    assert_eq!(d["refused"], 1);
    for id in [&missing, &sent, &expired] {
        assert_eq!(w.status_of(id).await, ProcessingStatus::Dlq, "{id}");
    }
    assert!(
        store
            .get_stored(&missing)
            .await
            .unwrap()
            .unwrap()
            .get("replay_note")
            .is_none()
    );

    // The template now exists; replay both.
    let mut template = fixtures::email_template();
    template.id = "template_added_later".into();
    let stores = thiscovery_crm::Stores::dynamodb(w.ddb.client(), &w.tables);
    stores.templates.put_template(&template).await.unwrap();
    let replay = w.crm(&["replay", &missing, &sent, "--json"]).await;
    replay.expect(0);
    let r = replay.json();
    assert_eq!(r["replayed"], 2, "{r}");
    let by_id: HashMap<String, Value> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i.clone()))
        .collect();
    assert_eq!(by_id[&sent]["possibly_sent"], true);
    assert_eq!(by_id[&sent]["send_id"], json!(sent));
    assert_eq!(by_id[&missing]["possibly_sent"], false);
    let stored = store.get_stored(&missing).await.unwrap().unwrap();
    assert_eq!(stored["processing_status"], "retrying");
    assert_eq!(stored["processing_fail_count"], 0);
    assert_eq!(stored["replay_count"], 1);
    let note = stored["replay_note"].as_str().unwrap();
    assert!(
        note.contains("crm replay")
            && note.contains("not found")
            && note.contains("after 1 failed attempt"),
        "{note}"
    );
    // Python reads it: its attributes are all still there, with their types.
    assert_eq!(stored["type"], "transactional-email");
    assert!(stored["processing_error_message"].is_string());
    assert!(stored.get("lease_owner").is_none());
    assert_eq!(w.status_of(&expired).await, ProcessingStatus::Dlq);

    // The sweep sends the missing one once, and the sent one not again.
    let sweep = w.crm(&["process", "--json"]).await;
    sweep.expect(0);
    assert_eq!(sweep.json()["processed"], 2, "{sweep}");
    assert_eq!(w.sent_with(&missing), 1);
    assert_eq!(w.sent_with(&sent), 1);
    assert_eq!(w.hubspot.sent_emails().len(), 2);
    // Replaying again is refused: they are processed.
    let again = w.crm(&["replay", &missing, "--json"]).await;
    again.expect(4);
    assert_eq!(again.json()["refused"], 1);
    w.crm(&["replay", "no-such-id"]).await.expect(3);
    w.crm(&["process"]).await.expect(0);
    assert_eq!(w.hubspot.sent_emails().len(), 2);
}

/// Puts a `processed` item in `dlq` with `error`, as if its attempts had failed (a
/// processed item cannot be claimed: the item is written whole, as only a test would).
async fn force_dlq(w: &World, id: &str, error: &str) {
    let n = w.notifications().get(id).await.unwrap().unwrap();
    assert_eq!(n.status, ProcessingStatus::Processed);
    let mut copy = n.clone();
    copy.status = ProcessingStatus::Dlq;
    copy.fail_count = 3;
    copy.error_message = Some(error.to_owned());
    w.ddb
        .client()
        .put_item()
        .table_name(&w.tables.notifications)
        .set_item(Some(thiscovery_crm::store::dynamodb::notification_to_item(
            &copy,
        )))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_sweeps_once_and_cleanup_dry_run_changes_nothing() {
    let w = world().await;
    let id = w
        .record_email("unittests_email_template_1", "a@example.org", "e-1")
        .await;
    let run = w.crm(&["process"]).await;
    run.expect(0);
    assert!(run.stdout.contains("processed 1"), "{run}");
    assert_eq!(w.status_of(&id).await, ProcessingStatus::Processed);

    // Old processed items: three registrations to delete, an email to keep, one changed
    // recently to keep.
    let store = w.notifications();
    let old = OffsetDateTime::now_utc() - time::Duration::days(10);
    let mut ids = Vec::new();
    for i in 0..5 {
        let kind = if i == 3 {
            NotificationType::TransactionalEmail
        } else {
            NotificationType::UserRegistration
        };
        let mut n = Notification::new(format!("old-{i}"), kind, "x", json!({}), old);
        n.status = ProcessingStatus::Processed;
        if i == 4 {
            n.modified = timestamp::format(OffsetDateTime::now_utc());
        }
        store.put_if_absent(&n).await.unwrap();
        ids.push(n.id);
    }
    let dry = w.crm(&["cleanup", "--dry-run", "--json"]).await;
    dry.expect(0);
    assert_eq!(
        dry.json(),
        json!({"dry_run": true, "would_delete": 3, "kept_emails": 1, "kept_recent": 1})
    );
    for id in &ids {
        assert!(
            store.get(id).await.unwrap().is_some(),
            "{id} deleted by a dry run"
        );
    }
    let real = w.crm(&["cleanup", "--json"]).await;
    real.expect(0);
    assert_eq!(real.json()["deleted"], 3, "{real}");
    assert!(store.get("old-0").await.unwrap().is_none());
    assert!(store.get("old-3").await.unwrap().is_some());
    assert!(store.get("old-4").await.unwrap().is_some());
    assert!(store.get(&id).await.unwrap().is_some(), "recent item kept");
}

/// `n` users besides FakeCore's defaults, with ids that sort in creation order.
fn core_with_users(n: usize) -> crm_testkit::core::FakeCoreBuilder {
    let mut builder = FakeCore::builder().with_defaults();
    for i in 0..n {
        builder = builder.seed_user(json!({
            "id": format!("user-{i:05}"),
            "email": format!("user{i}@example.org"),
            "first_name": format!("First{i}"),
            "last_name": "Backfill",
            "country_name": "United Kingdom",
            "created": "2020-01-02T03:04:05.000000+00:00",
            "crm_id": null,
        }));
    }
    builder
}

async fn checkpoint(w: &World) -> Option<Value> {
    DynamoLookupStore::new(w.ddb.client(), w.tables.lookups.clone())
        .get_lookup(CHECKPOINT_KEY)
        .await
        .unwrap()
}

/// Starts `crm backfill contacts` and stops it once its checkpoint says `batches` batches are
/// done, with `signal` (`INT`: Ctrl-C, `KILL`: a crash).
async fn backfill_stopped_after(w: &World, batches: u64, signal: &str) -> Run {
    let mut child = w.command(&["backfill", "contacts"]).spawn().unwrap();
    let started = Instant::now();
    loop {
        let done = checkpoint(w)
            .await
            .map_or(0, |c| c["batches"].as_u64().unwrap());
        if done >= batches {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "backfill ended early ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "backfill stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().await.unwrap();
    Run::of(&["backfill", "contacts"], output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_interrupted_and_killed_resumes_from_its_checkpoint_and_upserts_every_user() {
    const USERS: usize = 748; // + Altha and Steven: 750 users, 8 batches
    let w = world_with(core_with_users(USERS).start().await).await;
    let total = w.core.users().len();
    assert_eq!(total, 750);
    // Each batch request takes a while, so the stops land mid-run.
    w.hubspot.inject(
        Endpoint::ContactsBatchUpsert,
        Fault::latency(Duration::from_millis(300)).times(100),
    );

    // A dry run counts and writes nothing.
    let dry = w
        .crm(&["backfill", "contacts", "--dry-run", "--json"])
        .await;
    dry.expect(0);
    assert_eq!(dry.json()["users_left"], 750);
    assert_eq!(dry.json()["batches"], 8);
    assert!(checkpoint(&w).await.is_none());
    assert_eq!(w.hubspot.requests_to(Endpoint::ContactsBatchUpsert), 0);

    // Ctrl-C: the batch in flight finishes, the checkpoint is saved, exit 130.
    let interrupted = backfill_stopped_after(&w, 2, "INT").await;
    interrupted.expect(130);
    let saved = checkpoint(&w).await.unwrap();
    let after_ctrl_c = saved["batches"].as_u64().unwrap();
    assert!(!saved["finished"].as_bool().unwrap());
    assert_eq!(
        w.hubspot.requests_to(Endpoint::ContactsBatchUpsert) as u64,
        after_ctrl_c,
        "after Ctrl-C every batch sent is in the checkpoint"
    );

    // A crash (SIGKILL) loses at most the batch in flight.
    let killed = backfill_stopped_after(&w, after_ctrl_c + 2, "KILL").await;
    assert_eq!(killed.code, -1, "killed by a signal: {killed}");

    let finished = w.crm(&["backfill", "contacts", "--json"]).await;
    finished.expect(0);
    let f = finished.json();
    assert_eq!(f["finished"], true, "{f}");
    assert_eq!(f["resumed"], true);
    assert_eq!(f["checkpoint"]["users"], 750);
    assert_eq!(f["checkpoint"]["batches"], 8);
    assert_eq!(f["checkpoint"]["failed"], 0);
    // Not a terminal: plain progress lines on stderr, with the total, a rate and an ETA.
    assert!(
        finished
            .stderr
            .lines()
            .any(|l| l.starts_with("backfill contacts: ")
                && l.contains("/750")
                && l.contains("/s, ETA")),
        "{finished}"
    );
    // Every user once per batch: 8 batches, plus at most the one the crash cut short.
    let requests = w.hubspot.requests_to(Endpoint::ContactsBatchUpsert);
    assert!((8..=9).contains(&requests), "{requests} batch requests");
    for user in w.core.users() {
        let email = user["email"].as_str().unwrap();
        let contact = w
            .hubspot
            .contact_by_email(email)
            .unwrap_or_else(|| panic!("{email} not in HubSpot"));
        assert_eq!(
            contact.properties["thiscovery_id"],
            user["id"].as_str().unwrap()
        );
        // The contact id was written back where core did not have it.
        assert_eq!(
            user["crm_id"].as_str(),
            Some(contact.id.as_str()),
            "{email}"
        );
    }
    let sample = w.hubspot.contact_by_email("user7@example.org").unwrap();
    assert_eq!(sample.properties["firstname"], "First7");
    assert_eq!(sample.properties["country"], "United Kingdom");
    // Done is done: a further run changes nothing unless told to start again.
    let again = w.crm(&["backfill", "contacts", "--json"]).await;
    again.expect(0);
    assert_eq!(again.json()["already_finished"], true);
    assert_eq!(
        w.hubspot.requests_to(Endpoint::ContactsBatchUpsert),
        requests
    );
}

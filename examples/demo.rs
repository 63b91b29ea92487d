//! The whole thiscovery-crm pipeline on embedded defaults.
//!
//! ```text
//! cargo run --example demo                       # the fixture events, fakes, in-memory stores
//! cargo run --example demo -- --report json      # one JSON record per input event
//! cargo run --example demo -- --events my-events/ # your own EventBridge events
//! cargo run --example demo -- --dynamodb         # DynamoDB Local instead of memory
//! cargo run --example demo -- --help
//! ```
//!
//! It starts an in-process fake HubSpot and a fake thiscovery-core (seeded with the users the
//! fixtures name, and with every user the events register, so that each registration's
//! `crm_id` write-back finds its user, also with `--events`), hands each event to `Crm::handle` as the Lambda does (record it as a
//! notification, process it at once), sweeps the outbox once for anything left pending, runs
//! the 7-day cleanup as if 8 days had passed, and prints each event's `HandleReport`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crm_testkit::core::FakeCore;
use crm_testkit::dynamodb::DynamoDbLocal;
use crm_testkit::hubspot::FakeHubSpot;
use hubspot_client::{Client, RateLimit, RetryPolicy};
use serde_json::{Value, json};
use thiscovery_crm::directory::http::HttpDirectory;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::notification::NotificationType;
use thiscovery_crm::store::dynamodb::TableNames;
use thiscovery_crm::testing::{self, fixtures};
use thiscovery_crm::{Crm, CrmConfig, HandleReport, Outcome, Stores};

const ENV: &str = "demo";

const USAGE: &str = "\
Runs the thiscovery-crm pipeline on embedded defaults and prints what happened to each event.

USAGE:
    cargo run --example demo -- [OPTIONS]

OPTIONS:
    --events <PATH>         EventBridge events to run instead of the embedded fixtures: a file
                            (one JSON object, or JSON Lines) or a directory of such files
    --report <text|json>    Report format (default text; json: one record per input event)
    --dynamodb              Use DynamoDB Local (scripts/install-dynamodb-local.sh, or
                            DYNAMODB_ENDPOINT) instead of in-memory stores
    --hubspot-url <URL>     Send to this HubSpot instead of the in-process fake (a sandbox portal)
    --hubspot-token <TOKEN> The private app token for --hubspot-url (or HUBSPOT_TOKEN)
    -h, --help              Show this help
";

#[derive(Debug, Default)]
struct Args {
    events: Option<PathBuf>,
    json: bool,
    dynamodb: bool,
    hubspot_url: Option<String>,
    hubspot_token: Option<String>,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .with_context(|| format!("{name} needs a value (see --help)"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--events" => args.events = Some(PathBuf::from(value("--events")?)),
            "--report" => match value("--report")?.as_str() {
                "json" => args.json = true,
                "text" => args.json = false,
                other => bail!("--report takes text or json, not {other:?}"),
            },
            "--dynamodb" => args.dynamodb = true,
            "--hubspot-url" => args.hubspot_url = Some(value("--hubspot-url")?),
            "--hubspot-token" => args.hubspot_token = Some(value("--hubspot-token")?),
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if args.hubspot_token.is_none() {
        args.hubspot_token = std::env::var("HUBSPOT_TOKEN").ok();
    }
    if args.hubspot_url.is_some() && args.hubspot_token.is_none() {
        bail!("--hubspot-url needs --hubspot-token (or HUBSPOT_TOKEN)");
    }
    Ok(Some(args))
}

/// One input event: where it came from and its JSON (or why it is not JSON).
struct Input {
    source: String,
    json: Result<Value, String>,
}

fn load_events(path: &Path) -> Result<Vec<Input>> {
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in
            std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?
        {
            let p = entry?.path();
            if p.is_file() {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    let mut inputs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let name = file.display().to_string();
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => inputs.push(Input {
                source: name,
                json: Ok(value),
            }),
            Err(_) => {
                // JSON Lines: one event per non-empty line.
                for (n, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    inputs.push(Input {
                        source: format!("{name}:{}", n + 1),
                        json: serde_json::from_str(line).map_err(|e| format!("not JSON: {e}")),
                    });
                }
            }
        }
    }
    Ok(inputs)
}

fn default_events(steven_contact: Option<&str>) -> Vec<Input> {
    let mut inputs: Vec<Input> = fixtures::EVENTS
        .iter()
        .map(|(name, text)| {
            let mut json: Result<Value, String> =
                serde_json::from_str(text).map_err(|e| e.to_string());
            if *name == "task-signup.json"
                && let (Ok(event), Some(id)) = (&mut json, steven_contact)
            {
                // The fixture's crm_id is a production contact; point it at the fake's one.
                event["detail"]["extra_data"]["crm_id"] = json!(id);
            }
            Input {
                source: (*name).to_owned(),
                json,
            }
        })
        .collect();
    // One deliberately bad event: a signup whose email is not an address.
    let mut bad: Value = serde_json::from_str(fixtures::AUTH0_REGISTRATION).unwrap_or(Value::Null);
    bad["detail"]["data"]["details"]["body"]["email"] = json!("altha-at-email.co.uk");
    bad["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
        json!("0b6c34e4-3d39-4b0c-9b43-4a1d5e7f0c11");
    inputs.push(Input {
        source: "bad-registration (embedded)".into(),
        json: Ok(bad),
    });
    inputs
}

/// The stores, and DynamoDB Local when it runs them (kept alive as long as they are used).
async fn stores(dynamodb: bool) -> Result<(Stores, Option<DynamoDbLocal>)> {
    if !dynamodb {
        return Ok((Stores::memory(), None));
    }
    eprintln!("demo: starting DynamoDB Local...");
    let local = DynamoDbLocal::start()
        .await
        .context("starting DynamoDB Local")?;
    let stack = local
        .new_stack_with_tables()
        .await
        .context("creating the tables")?;
    eprintln!(
        "demo: DynamoDB Local at {}, tables {stack}-*",
        local.endpoint()
    );
    let stores = Stores::dynamodb(local.client(), &TableNames::for_stack(&stack));
    Ok((stores, Some(local)))
}

/// HubSpot: the in-process fake (with Steven's contact, for the task signup) unless a real
/// portal was named.
struct HubSpot {
    client: Client,
    fake: Option<FakeHubSpot>,
    steven: Option<String>,
}

async fn hubspot(args: &Args) -> Result<HubSpot> {
    let fake = match &args.hubspot_url {
        None => Some(FakeHubSpot::start().await),
        Some(_) => None,
    };
    let steven = fake
        .as_ref()
        .map(|f| f.seed_contact("steven@email.co.uk", [("firstname", "Steven")]));
    let builder = match (&fake, &args.hubspot_url, &args.hubspot_token) {
        (Some(f), _, _) => Client::builder()
            .base_url(f.base_url())
            .static_token(FakeHubSpot::STATIC_TOKEN)
            .no_rate_limit()
            .retry_policy(RetryPolicy::fast_for_tests()),
        (None, Some(url), Some(token)) => Client::builder()
            .base_url(url)
            .static_token(token)
            .rate_limit(RateLimit::default()),
        _ => bail!("--hubspot-url needs --hubspot-token"),
    };
    Ok(HubSpot {
        client: builder.build()?,
        fake,
        steven,
    })
}

/// One line of the report: an input and what `Crm::handle` said of it (`None`: rejected
/// with `reason`).
struct Row {
    source: String,
    event_id: Option<String>,
    detail_type: Option<String>,
    report: Option<HandleReport>,
    reason: Option<String>,
}

impl Row {
    fn outcome(&self) -> &'static str {
        self.report
            .as_ref()
            .map_or("rejected", |r| r.outcome.as_str())
    }

    fn reason(&self) -> Option<&str> {
        self.report
            .as_ref()
            .and_then(|r| r.reason.as_deref())
            .or(self.reason.as_deref())
    }

    fn kind(&self) -> Option<NotificationType> {
        self.report.as_ref().and_then(|r| r.kind)
    }

    fn hubspot_ref(&self) -> Option<&str> {
        self.report.as_ref().and_then(|r| r.hubspot_ref.as_deref())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<()> {
    let Some(args) = parse_args()? else {
        print!("{USAGE}");
        return Ok(());
    };
    let started = Instant::now();
    let hubspot = hubspot(&args).await?;
    let core = FakeCore::start().await;
    let (stores, _dynamodb) = stores(args.dynamodb).await?;
    testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID).await?;
    let crm = Crm::builder()
        .hubspot(hubspot.client.clone())
        .stores(stores)
        .directory(Arc::new(HttpDirectory::new(
            &core.base_url(),
            core.api_key(),
        )?))
        .config(CrmConfig::for_env(ENV))
        .build()?;

    let inputs = match &args.events {
        Some(path) => load_events(path)?,
        None => default_events(hubspot.steven.as_deref()),
    };
    register_users(&core, &inputs);
    eprintln!("demo: handling {} events...", inputs.len());
    let mut rows = Vec::with_capacity(inputs.len());
    for input in inputs {
        rows.push(handle(&crm, input).await);
    }
    sweep(&crm, &mut rows).await?;

    eprintln!("demo: running the 7-day cleanup as if 8 days had passed...");
    let cleanup = crm
        .cleanup(time::OffsetDateTime::now_utc() + Duration::from_secs(8 * 24 * 3600))
        .await?;
    if args.json {
        print_json(&rows);
        return Ok(());
    }
    print_text(&rows);
    if let Some(fake) = &hubspot.fake {
        println!(
            "HubSpot (fake) now holds {} contacts, {} timeline events, {} sent emails; it answered {} requests",
            fake.contacts().len(),
            fake.timeline_events().len(),
            fake.sent_emails().len(),
            fake.journal().len()
        );
    }
    println!(
        "cleanup 8 days later: deleted {} processed notifications, kept {} sent emails",
        cleanup.deleted, cleanup.kept_emails
    );
    println!("time taken: {:.0?}", started.elapsed());
    Ok(())
}

/// Adds to the fake thiscovery-core every user an Auth0 signup among `inputs` registers and
/// it does not know yet: in production, core has the user before (or soon after) Auth0's
/// signup reaches this stack, and the `crm_id` write-back needs it.
fn register_users(core: &FakeCore, inputs: &[Input]) {
    for input in inputs {
        let Ok(event) = &input.json else { continue };
        let Ok(envelope) = Envelope::from_value(event.clone()) else {
            continue;
        };
        if envelope.detail_type != thiscovery_crm::events::AUTH0_LOG
            || thiscovery_crm::events::auth0_log_type(&envelope.detail)
                .ok()
                .as_deref()
                != Some("ss")
        {
            continue;
        }
        let Ok(signup) = thiscovery_crm::events::Registration::from_detail(&envelope.detail) else {
            continue;
        };
        if core.user(&signup.user_id).is_some() {
            continue;
        }
        core.seed_user(serde_json::json!({
            "id": signup.user_id,
            "email": signup.email,
            "title": null,
            "first_name": signup.first_name,
            "last_name": signup.last_name,
            "country_code": signup.country_code,
            "country_name": signup.country_name,
            "auth0_id": null,
            "crm_id": null,
            "status": null,
            "has_demo_project": false,
            "has_live_project": false,
        }));
    }
}

/// Hands one input to `Crm::handle`, as the Lambda does with an EventBridge event.
async fn handle(crm: &Crm, input: Input) -> Row {
    let mut row = Row {
        source: input.source,
        event_id: None,
        detail_type: None,
        report: None,
        reason: None,
    };
    let envelope = input
        .json
        .and_then(|v| Envelope::from_value(v).map_err(|e| e.to_string()));
    match envelope {
        Err(reason) => row.reason = Some(reason),
        Ok(envelope) => {
            row.event_id = envelope.id.clone();
            row.detail_type = Some(envelope.detail_type.clone());
            match crm.handle(&envelope).await {
                Ok(report) => row.report = Some(report),
                Err(e) => row.reason = Some(e.to_string()),
            }
        }
    }
    row
}

/// One sweep, as the 5-minute schedule runs it, for what `handle` left pending or retrying.
async fn sweep(crm: &Crm, rows: &mut [Row]) -> Result<()> {
    eprintln!("demo: sweeping the outbox...");
    let summary = crm.process_pending().await?;
    for item in summary.items.iter().filter(|i| !i.lost_claim) {
        let Some(report) = rows
            .iter_mut()
            .filter_map(|r| r.report.as_mut())
            .find(|r| r.notification_id.as_deref() == Some(item.id.as_str()))
        else {
            continue;
        };
        report.outcome = match item.status {
            thiscovery_crm::notification::ProcessingStatus::Processed => Outcome::Processed,
            thiscovery_crm::notification::ProcessingStatus::Dlq => Outcome::Dlq,
            thiscovery_crm::notification::ProcessingStatus::Retrying => Outcome::Retrying,
            _ => Outcome::Pending,
        };
        report.reason = item.message.clone();
        report.hubspot_ref = item.hubspot_ref.clone();
    }
    Ok(())
}

fn print_json(rows: &[Row]) {
    for row in rows {
        let report = row.report.as_ref();
        let record = json!({
            "source": row.source,
            "id": row.event_id,
            "detail_type": row.detail_type,
            "notification_id": report.and_then(|r| r.notification_id.as_deref()),
            "type": row.kind().map(|k| k.as_str()),
            "outcome": row.outcome(),
            "reason": row.reason(),
            "hubspot": hubspot_json(row.kind(), row.hubspot_ref()),
        });
        println!("{record}");
    }
}

fn print_text(rows: &[Row]) {
    println!("thiscovery-crm demo: {} events\n", rows.len());
    for (i, row) in rows.iter().enumerate() {
        let notification_id = row
            .report
            .as_ref()
            .and_then(|r| r.notification_id.as_deref());
        let what = match (&row.detail_type, row.kind()) {
            (Some(dt), Some(kind)) => {
                format!("{dt} -> {kind} notification {}", short(notification_id))
            }
            (Some(dt), None) => dt.clone(),
            (None, _) => "unreadable event".into(),
        };
        println!("[{}] {}\n    {what}", i + 1, row.source);
        let effect = match (row.outcome(), row.kind(), row.hubspot_ref()) {
            ("processed", Some(kind), Some(r)) => format!("processed: {}", effect(kind, r)),
            (outcome, _, _) => match row.reason() {
                Some(reason) => format!("{outcome}: {reason}"),
                None => outcome.to_owned(),
            },
        };
        println!("    => {effect}");
    }
    let count = |o: &str| rows.iter().filter(|r| r.outcome() == o).count();
    println!(
        "\ntotals: {} processed, {} dead-lettered, {} ignored, {} duplicate, {} rejected, {} still pending",
        count("processed"),
        count("dlq"),
        count("ignored"),
        count("duplicate"),
        count("rejected"),
        count("pending") + count("retrying"),
    );
}

fn short(id: Option<&str>) -> String {
    id.map(|s| s.chars().take(8).collect()).unwrap_or_default()
}

fn effect(kind: NotificationType, r: &str) -> String {
    match kind {
        NotificationType::UserRegistration => {
            format!("HubSpot contact {r} (crm_id written back to thiscovery-core)")
        }
        NotificationType::UserLogin => format!("last login date set on HubSpot contact {r}"),
        NotificationType::TaskSignup => format!("HubSpot timeline event {r}"),
        NotificationType::TransactionalEmail => format!("email sent, HubSpot status id {r}"),
    }
}

fn hubspot_json(kind: Option<NotificationType>, r: Option<&str>) -> Value {
    match (kind, r) {
        (Some(NotificationType::UserRegistration | NotificationType::UserLogin), Some(r)) => {
            json!({"contact_id": r})
        }
        (Some(NotificationType::TaskSignup), Some(r)) => json!({"timeline_event_id": r}),
        (Some(NotificationType::TransactionalEmail), Some(r)) => json!({"email_status_id": r}),
        _ => Value::Null,
    }
}

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
//! fixtures name), records every event as a notification, processes the outbox once
//! (registrations first), runs the 7-day cleanup as if 8 days had passed, and prints what
//! happened to each event.

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
use thiscovery_crm::notification::{NotificationType, ProcessingStatus};
use thiscovery_crm::store::dynamodb::{
    DynamoLookupStore, DynamoNotificationStore, DynamoTemplateStore, TableNames,
};
use thiscovery_crm::store::memory::{
    MemoryLookupStore, MemoryNotificationStore, MemoryTemplateStore,
};
use thiscovery_crm::store::{
    EmailTemplate, LookupStore, NotificationStore, TemplateProperty, TemplateStore,
    task_signup_lookup_key,
};
use thiscovery_crm::{Crm, CrmConfig, Recorded};

const ENV: &str = "demo";

/// The embedded fixture events, in the order they are fed.
const FIXTURES: &[(&str, &str)] = &[
    (
        "auth0-registration.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/auth0-registration.json"),
    ),
    (
        "auth0-login.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/auth0-login.json"),
    ),
    (
        "task-signup.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/task-signup.json"),
    ),
    (
        "transactional-email-to-address.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/transactional-email-to-address.json"),
    ),
    (
        "transactional-email-to-user.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/transactional-email-to-user.json"),
    ),
    (
        "custom-email.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/custom-email.json"),
    ),
    (
        "auth0-verification.json",
        include_str!("../thiscovery-crm/tests/fixtures/events/auth0-verification.json"),
    ),
];

const TEMPLATE: &str = include_str!("../thiscovery-crm/tests/fixtures/items/email-template.json");

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
    let mut inputs: Vec<Input> = FIXTURES
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
    let mut bad: Value = serde_json::from_str(FIXTURES[0].1).unwrap_or(Value::Null);
    bad["detail"]["data"]["details"]["body"]["email"] = json!("altha-at-email.co.uk");
    bad["detail"]["data"]["details"]["body"]["user_metadata"]["citsci_uuid"] =
        json!("0b6c34e4-3d39-4b0c-9b43-4a1d5e7f0c11");
    inputs.push(Input {
        source: "bad-registration (embedded)".into(),
        json: Ok(bad),
    });
    inputs
}

struct Stores {
    notifications: Arc<dyn NotificationStore>,
    templates: Arc<dyn TemplateStore>,
    lookups: Arc<dyn LookupStore>,
    _dynamodb: Option<DynamoDbLocal>,
}

async fn stores(dynamodb: bool) -> Result<Stores> {
    if !dynamodb {
        return Ok(Stores {
            notifications: Arc::new(MemoryNotificationStore::new()),
            templates: Arc::new(MemoryTemplateStore::new()),
            lookups: Arc::new(MemoryLookupStore::new()),
            _dynamodb: None,
        });
    }
    eprintln!("demo: starting DynamoDB Local...");
    let local = DynamoDbLocal::start()
        .await
        .context("starting DynamoDB Local")?;
    let stack = local
        .new_stack_with_tables()
        .await
        .context("creating the tables")?;
    let client = local.client();
    let tables = TableNames::for_stack(&stack);
    eprintln!(
        "demo: DynamoDB Local at {}, tables {stack}-*",
        local.endpoint()
    );
    Ok(Stores {
        notifications: Arc::new(DynamoNotificationStore::new(
            client.clone(),
            tables.notifications,
        )),
        templates: Arc::new(DynamoTemplateStore::new(client.clone(), tables.templates)),
        lookups: Arc::new(DynamoLookupStore::new(client, tables.lookups)),
        _dynamodb: Some(local),
    })
}

/// The templates the fixtures use: the production sample, and one for Qualtrics' custom
/// email.
fn templates() -> Result<Vec<EmailTemplate>> {
    let template: EmailTemplate = serde_json::from_str(TEMPLATE)?;
    let mut custom = template.clone();
    custom.id = "test_custom_email".into();
    custom.custom_properties = [
        "file_name",
        "file_description",
        "file_instruction",
        "file_download_url",
        "project_name",
    ]
    .into_iter()
    .map(|name| serde_json::from_value(json!({"name": name, "required": true})))
    .collect::<Result<Vec<TemplateProperty>, _>>()?;
    Ok(vec![template, custom])
}

/// One line of the report.
struct Row {
    source: String,
    event_id: Option<String>,
    detail_type: Option<String>,
    notification_id: Option<String>,
    kind: Option<NotificationType>,
    outcome: String,
    reason: Option<String>,
    hubspot_ref: Option<String>,
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

    // HubSpot: the in-process fake unless a real portal was named.
    let fake = match &args.hubspot_url {
        None => Some(FakeHubSpot::start().await),
        Some(_) => None,
    };
    let steven = fake
        .as_ref()
        .map(|f| f.seed_contact("steven@email.co.uk", [("firstname", "Steven")]));
    let (base_url, token, rate_limit) = match (&fake, &args.hubspot_url, &args.hubspot_token) {
        (Some(f), _, _) => (f.base_url(), FakeHubSpot::STATIC_TOKEN.to_owned(), None),
        (None, Some(url), Some(token)) => (url.clone(), token.clone(), Some(RateLimit::default())),
        _ => bail!("--hubspot-url needs --hubspot-token"),
    };
    let mut builder = Client::builder().base_url(base_url).static_token(token);
    builder = match rate_limit {
        Some(limit) => builder.rate_limit(limit),
        None => builder
            .no_rate_limit()
            .retry_policy(RetryPolicy::fast_for_tests()),
    };
    let hubspot = builder.build()?;

    let core = FakeCore::start().await;
    let stores = stores(args.dynamodb).await?;
    for template in templates()? {
        stores.templates.put_template(&template).await?;
    }
    stores
        .lookups
        .put_lookup(
            &task_signup_lookup_key(ENV),
            &json!({"hubspot_id": FakeHubSpot::TIMELINE_TEMPLATE_ID}),
        )
        .await?;
    let directory = Arc::new(HttpDirectory::new(&core.base_url(), core.api_key())?);
    let crm = Crm::new(
        hubspot,
        stores.notifications.clone(),
        stores.templates.clone(),
        stores.lookups.clone(),
        directory,
    )
    .with_config(CrmConfig::for_env(ENV));

    let inputs = match &args.events {
        Some(path) => load_events(path)?,
        None => default_events(steven.as_deref()),
    };
    eprintln!("demo: recording {} events...", inputs.len());
    let mut rows = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut row = Row {
            source: input.source,
            event_id: None,
            detail_type: None,
            notification_id: None,
            kind: None,
            outcome: "rejected".into(),
            reason: None,
            hubspot_ref: None,
        };
        let envelope = input
            .json
            .map_err(|e| e.to_string())
            .and_then(|v| Envelope::from_value(v).map_err(|e| e.to_string()));
        match envelope {
            Err(reason) => row.reason = Some(reason),
            Ok(envelope) => {
                row.event_id = envelope.id.clone();
                row.detail_type = Some(envelope.detail_type.clone());
                match crm.record(&envelope).await {
                    Err(e) => row.reason = Some(e.to_string()),
                    Ok(Recorded::Ignored { reason }) => {
                        row.outcome = "ignored".into();
                        row.reason = Some(reason);
                    }
                    Ok(Recorded::Duplicate { id, kind }) => {
                        row.outcome = "duplicate".into();
                        row.notification_id = Some(id);
                        row.kind = Some(kind);
                    }
                    Ok(Recorded::Invalid { id, kind, reason }) => {
                        row.outcome = "dlq".into();
                        row.notification_id = Some(id);
                        row.kind = Some(kind);
                        row.reason = Some(reason);
                    }
                    Ok(Recorded::Created { id, kind }) => {
                        row.outcome = "pending".into();
                        row.notification_id = Some(id);
                        row.kind = Some(kind);
                    }
                    Ok(other) => row.reason = Some(format!("{other:?}")),
                }
            }
        }
        rows.push(row);
    }

    eprintln!("demo: processing the outbox...");
    let summary = crm.process_pending().await?;
    for item in &summary.items {
        for row in rows.iter_mut().filter(|r| {
            r.outcome == "pending" && r.notification_id.as_deref() == Some(item.id.as_str())
        }) {
            row.outcome = match item.status {
                ProcessingStatus::Processed => "processed",
                ProcessingStatus::Dlq => "dlq",
                ProcessingStatus::Retrying => "retrying",
                _ => "pending",
            }
            .into();
            row.reason = item.message.clone();
            row.hubspot_ref = item.hubspot_ref.clone();
        }
    }

    eprintln!("demo: running the 7-day cleanup as if 8 days had passed...");
    let cleanup = crm
        .cleanup(time::OffsetDateTime::now_utc() + Duration::from_secs(8 * 24 * 3600))
        .await?;
    let elapsed = started.elapsed();

    if args.json {
        for row in &rows {
            let record = json!({
                "source": row.source,
                "id": row.event_id,
                "detail_type": row.detail_type,
                "notification_id": row.notification_id,
                "type": row.kind.map(|k| k.as_str()),
                "outcome": row.outcome,
                "reason": row.reason,
                "hubspot": hubspot_json(row.kind, row.hubspot_ref.as_deref()),
            });
            println!("{record}");
        }
        return Ok(());
    }

    println!("thiscovery-crm demo: {} events\n", rows.len());
    for (i, row) in rows.iter().enumerate() {
        let what = match (&row.detail_type, row.kind) {
            (Some(dt), Some(kind)) => format!(
                "{dt} -> {kind} notification {}",
                short(row.notification_id.as_deref())
            ),
            (Some(dt), None) => dt.clone(),
            (None, _) => "unreadable event".into(),
        };
        println!("[{}] {}\n    {what}", i + 1, row.source);
        let effect = match (row.outcome.as_str(), row.kind, &row.hubspot_ref) {
            ("processed", Some(kind), Some(r)) => format!("processed: {}", effect(kind, r)),
            (outcome, _, _) => match &row.reason {
                Some(reason) => format!("{outcome}: {reason}"),
                None => outcome.to_owned(),
            },
        };
        println!("    => {effect}");
    }
    let count = |o: &str| rows.iter().filter(|r| r.outcome == o).count();
    println!(
        "\ntotals: {} processed, {} dead-lettered, {} ignored, {} duplicate, {} rejected, {} still pending",
        count("processed"),
        count("dlq"),
        count("ignored"),
        count("duplicate"),
        count("rejected"),
        count("pending") + count("retrying"),
    );
    if let Some(fake) = &fake {
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
    println!("time taken: {:.0?}", elapsed);
    Ok(())
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

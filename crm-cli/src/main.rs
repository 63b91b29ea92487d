//! `crm`: the operator's command for a thiscovery-crm stack.
//!
//! It reads the same configuration as the Lambda (`thiscovery_crm::config`: the environment,
//! Secrets Manager under `SECRETS_NAMESPACE`, and the standard AWS configuration, so
//! `AWS_PROFILE`, `AWS_REGION` and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local work as
//! usual); `--stack` names the table prefix instead of `STACK_NAME`. Commands that only read
//! or change the outbox (`status`, `dlq list`, `show`, `replay`, `cleanup --dry-run`) need
//! the table prefix alone; those that call HubSpot or thiscovery-core (`process`, `cleanup`,
//! `backfill`) need the whole configuration, as the Lambda does.
//!
//! Exit codes (also in `crm --help`):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; nothing needs attention |
//! | 1 | failed: configuration, DynamoDB, HubSpot or thiscovery-core (the message says which) |
//! | 2 | usage: a bad command line |
//! | 3 | not found: an id given to `show` or `replay` does not exist |
//! | 4 | done, and something needs an operator: `status` found dead letters or claims past their lease; `dlq list` listed items; `replay` refused some items; `process` left items retrying or dead-lettered them; `backfill` could not upsert some users |
//! | 130 | interrupted (Ctrl-C); `backfill` saved its checkpoint first |

mod backfill;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use thiscovery_crm::Crm;
use thiscovery_crm::config::{StackConfig, python_stack_name, secrets};
use thiscovery_crm::store::dynamodb::{DynamoNotificationStore, TableNames};

/// Done; nothing needs attention.
pub const EXIT_OK: u8 = 0;
/// Failed (configuration, a store, HubSpot or thiscovery-core).
pub const EXIT_FAILED: u8 = 1;
/// Not found: an id given does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Done, and something needs an operator.
pub const EXIT_ATTENTION: u8 = 4;
/// Interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 130;

const AFTER_HELP: &str = "\
Exit codes: 0 done, nothing needs attention; 1 failed (configuration, DynamoDB, HubSpot or
thiscovery-core); 2 bad command line; 3 an id given does not exist; 4 done, and something needs
an operator (dead letters or expired claims in `status`, items listed by `dlq list`, items
`replay` refused, items `process` left retrying or dead-lettered, users `backfill` could not
upsert); 130 interrupted (Ctrl-C; `backfill` saved its checkpoint first).

Configuration: as the Lambda's (STACK_NAME or --stack, CRM_ENV, SECRETS_NAMESPACE, HUBSPOT_*,
THISCOVERY_CORE_*; see thiscovery_crm::config), and the standard AWS configuration
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local).";

/// The operator's command for a thiscovery-crm stack: the outbox's state, its dead letters,
/// replays, sweeps, cleanup and the contact backfill.
#[derive(Debug, Parser)]
#[command(name = "crm", version, after_help = AFTER_HELP)]
struct Cli {
    /// The stack: the tables' prefix (`{stack}-notifications`, ...). Overrides STACK_NAME.
    #[arg(long, global = true, value_name = "NAME")]
    stack: Option<String>,
    /// Print JSON (one document on stdout) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Counts by status and type, the oldest pending item's age, claims past their lease.
    Status,
    /// Dead-lettered items.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// One item: its attributes, its error, its attempts, its replays.
    Show {
        /// The notification id.
        id: String,
    },
    /// Puts dead-lettered items back to `retrying`, with a fresh attempt count and a note of
    /// the replay on the item. Emails keep their `sendId` (the notification id), so HubSpot
    /// never sends one twice.
    Replay(ReplayArgs),
    /// Sweeps the outbox once now, as the 5-minute schedule does.
    Process,
    /// Deletes processed items older than 7 days (emails kept), as the daily schedule does.
    Cleanup {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Brings existing users into HubSpot.
    Backfill {
        #[command(subcommand)]
        command: BackfillCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Lists dead-lettered items, most recently dead-lettered first.
    List(DlqFilter),
}

/// Which dead-lettered items.
#[derive(Debug, Clone, Args)]
pub struct DlqFilter {
    /// Only items of this type (`user-registration`, `user-login`, `task-signup`,
    /// `transactional-email`).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only items dead-lettered (last modified) in this last period: `30m`, `12h`, `7d`.
    #[arg(long, value_name = "PERIOD", value_parser = commands::parse_period)]
    pub since: Option<time::Duration>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "dlq"])))]
struct ReplayArgs {
    /// The notification ids to replay.
    ids: Vec<String>,
    /// Replay every dead-lettered item (with `--type`, those of one type).
    #[arg(long)]
    dlq: bool,
    /// With `--dlq`: only items of this type.
    #[arg(long = "type", value_name = "TYPE", requires = "dlq")]
    kind: Option<String>,
    /// Say what would be replayed; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
enum BackfillCommand {
    /// Upserts every thiscovery-core user into HubSpot, 100 per batch request, under the
    /// stack's rate limit; resumable from its checkpoint (in the lookups table).
    Contacts(backfill::ContactsArgs),
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Report {
    /// The JSON document (`--json`).
    pub json: serde_json::Value,
    /// The text.
    pub text: String,
    /// The exit code.
    pub code: u8,
}

/// Where a command runs: the stack's tables and the clients to reach them.
#[derive(Debug)]
pub struct Context {
    aws: aws_config::SdkConfig,
    stack_override: Option<String>,
    /// The DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Whether to print JSON.
    pub json: bool,
}

impl Context {
    /// The environment variable `name`, `--stack` standing for `STACK_NAME`.
    fn var(&self, name: &str) -> Option<String> {
        if name == "STACK_NAME"
            && let Some(stack) = &self.stack_override
        {
            return Some(stack.clone());
        }
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// The table prefix, as the Lambda's configuration names it: `--stack`, `STACK_NAME`, or
    /// the Python stack's name for the environment (`CRM_ENV`, or `SECRETS_NAMESPACE`'s).
    pub fn stack_name(&self) -> anyhow::Result<String> {
        if let Some(stack) = self.var("STACK_NAME") {
            return Ok(stack);
        }
        let env = self.var("CRM_ENV").or_else(|| {
            self.var("SECRETS_NAMESPACE")
                .map(|ns| ns.trim_matches('/').to_owned())
                .filter(|ns| !ns.is_empty())
        });
        match env {
            Some(env) => Ok(python_stack_name(&env)),
            None => anyhow::bail!(
                "no stack: pass --stack, or set STACK_NAME (or CRM_ENV / SECRETS_NAMESPACE)"
            ),
        }
    }

    /// The stack's table names.
    pub fn tables(&self) -> anyhow::Result<TableNames> {
        Ok(TableNames::for_stack(&self.stack_name()?))
    }

    /// The notifications table.
    pub fn notifications(&self) -> anyhow::Result<DynamoNotificationStore> {
        Ok(DynamoNotificationStore::new(
            self.dynamodb.clone(),
            self.tables()?.notifications,
        ))
    }

    /// The whole configuration, as the Lambda reads it at cold start.
    pub async fn config(&self) -> anyhow::Result<StackConfig> {
        let secrets_manager = secrets::client_with_timeouts((&self.aws).into());
        Ok(StackConfig::from_lookup_and_secrets(|name| self.var(name), secrets_manager).await?)
    }

    /// The stack wired as the Lambda wires it.
    pub async fn crm(&self) -> anyhow::Result<(StackConfig, Crm)> {
        let config = self.config().await?;
        let crm = config.build(self.dynamodb.clone())?;
        Ok((config, crm))
    }
}

async fn run(cli: Cli) -> anyhow::Result<Report> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        thiscovery_crm::store::dynamodb::with_timeouts((&aws).into()).build(),
    );
    let ctx = Context {
        aws,
        stack_override: cli.stack,
        dynamodb,
        json: cli.json,
    };
    match cli.command {
        Command::Status => commands::status(&ctx).await,
        Command::Dlq {
            command: DlqCommand::List(filter),
        } => commands::dlq_list(&ctx, &filter).await,
        Command::Show { id } => commands::show(&ctx, &id).await,
        Command::Replay(args) => {
            commands::replay(
                &ctx,
                &args.ids,
                args.dlq,
                args.kind.as_deref(),
                args.dry_run,
            )
            .await
        }
        Command::Process => commands::process(&ctx).await,
        Command::Cleanup { dry_run } => commands::cleanup(&ctx, dry_run).await,
        Command::Backfill {
            command: BackfillCommand::Contacts(args),
        } => backfill::contacts(&ctx, &args).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crm: could not start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(report) => {
            if json {
                println!("{}", report.json);
            } else if !report.text.is_empty() {
                print!("{}", report.text);
                if !report.text.ends_with('\n') {
                    println!();
                }
            }
            ExitCode::from(report.code)
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"error": format!("{e:#}")}));
            }
            eprintln!("crm: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

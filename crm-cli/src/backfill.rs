//! `crm backfill contacts`: every thiscovery-core user upserted into HubSpot, a batch of 100
//! at a time, under the stack's rate limit, resumable from its checkpoint (see
//! `thiscovery_crm::directory::backfill` for the user list, the contact, and the checkpoint
//! in the lookups table).
//!
//! A run first counts the users left (one pass over the user list, ids only used), so the
//! progress has a total and an ETA. Ctrl-C lets the batch in flight finish, saves the
//! checkpoint and exits 130; a crash loses at most the batch in flight, which the next run
//! sends again (an upsert by email is idempotent). A batch HubSpot refuses as a whole (its
//! request failed after the client's retries) stops the run with the checkpoint before it,
//! exit 1; users HubSpot refused one by one are reported and the run goes on, exit 4.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use serde_json::json;
use thiscovery_crm::directory::backfill::{Checkpoint, MAX_BATCH};
use thiscovery_crm::timestamp;
use time::OffsetDateTime;

use crate::progress::Progress;
use crate::{Context, EXIT_ATTENTION, EXIT_INTERRUPTED, EXIT_OK, Report};

/// `crm backfill contacts` options.
#[derive(Debug, Args)]
pub struct ContactsArgs {
    /// Start from the first user, ignoring a saved checkpoint.
    #[arg(long)]
    restart: bool,
    /// Users per batch request (HubSpot takes at most 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=100))]
    batch_size: u16,
    /// Count the users a run would upsert; upsert nothing, save no checkpoint.
    #[arg(long)]
    dry_run: bool,
}

/// The most failed user ids a report lists.
const LISTED_FAILURES: usize = 100;

/// `crm backfill contacts`.
pub async fn contacts(ctx: &Context, args: &ContactsArgs) -> anyhow::Result<Report> {
    let (_, crm) = ctx.crm().await?;
    let batch_size = usize::from(args.batch_size).min(MAX_BATCH);
    let saved = crm.backfill_checkpoint().await?;
    let now = timestamp::format(OffsetDateTime::now_utc());
    let resumed = !args.restart && saved.as_ref().is_some_and(|c| !c.finished);
    if !args.restart
        && let Some(done) = saved.as_ref().filter(|c| c.finished)
    {
        return Ok(Report {
            json: json!({"already_finished": true, "checkpoint": done}),
            text: format!(
                "the backfill finished at {} ({} users, {} upserted); --restart runs it again\n",
                done.updated, done.users, done.upserted
            ),
            code: EXIT_OK,
        });
    }
    let mut checkpoint = match saved {
        Some(c) if resumed => c,
        _ => {
            let mut fresh = Checkpoint::default();
            fresh.started = now.clone();
            fresh
        }
    };

    // Count what is left, so the progress has a total.
    let mut left = 0u64;
    let mut cursor = checkpoint.after.clone();
    loop {
        let page = crm.list_users(cursor.as_deref(), MAX_BATCH).await?;
        left += page.users.len() as u64;
        match page.next {
            Some(next) if !page.users.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    if args.dry_run {
        let batches = left.div_ceil(batch_size as u64);
        return Ok(Report {
            json: json!({"dry_run": true, "resumed": resumed, "users_left": left, "batches": batches, "checkpoint": checkpoint}),
            text: format!(
                "would upsert {left} user(s) in {batches} batch(es){}; nothing was changed\n",
                if resumed {
                    format!(" (resuming after {} users)", checkpoint.users)
                } else {
                    String::new()
                }
            ),
            code: EXIT_OK,
        });
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::SeqCst);
                eprintln!(
                    "crm: interrupted; finishing the batch in flight and saving the checkpoint"
                );
            }
        });
    }
    let mut progress = Progress::new(
        "backfill contacts",
        Some(checkpoint.users + left),
        checkpoint.users,
    );
    let mut failed_ids: Vec<serde_json::Value> = Vec::new();
    let mut stopped = false;
    let mut error: Option<anyhow::Error> = None;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            stopped = true;
            break;
        }
        let page = crm
            .list_users(checkpoint.after.as_deref(), batch_size)
            .await?;
        if page.users.is_empty() {
            checkpoint.finished = true;
            break;
        }
        let report = crm.backfill_contacts(&page.users).await;
        let sent = page.users.len() - report.skipped.len();
        if sent > 0 && report.upserted == 0 && report.failed.len() == sent {
            // The whole batch failed (HubSpot unreachable, or refusing every input): stop
            // before it, so the next run tries it again.
            let reason = report
                .failed
                .first()
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            error = Some(anyhow::anyhow!(
                "HubSpot refused a whole batch (after user {}): {reason}; the checkpoint is before it, run the command again to resume",
                checkpoint.after.as_deref().unwrap_or("(start)")
            ));
            break;
        }
        for (id, reason) in report
            .failed
            .iter()
            .chain(report.skipped.iter())
            .chain(report.crm_id_failures.iter())
        {
            tracing::warn!(user = %id, %reason, "backfill: user not upserted or crm_id not written");
            if failed_ids.len() < LISTED_FAILURES {
                failed_ids.push(json!({"id": id, "reason": reason}));
            }
        }
        checkpoint.after = page
            .users
            .last()
            .and_then(|u| u.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or(checkpoint.after.take());
        checkpoint.users += page.users.len() as u64;
        checkpoint.batches += 1;
        checkpoint.upserted += report.upserted;
        checkpoint.created += report.created;
        checkpoint.failed += report.failed.len() as u64;
        checkpoint.skipped += report.skipped.len() as u64;
        checkpoint.crm_ids_written += report.crm_ids_written;
        checkpoint.finished = page.next.is_none();
        checkpoint.updated = timestamp::format(OffsetDateTime::now_utc());
        crm.save_backfill_checkpoint(&checkpoint).await?;
        progress.inc(page.users.len() as u64);
        if checkpoint.finished {
            break;
        }
    }
    if checkpoint.finished {
        checkpoint.updated = timestamp::format(OffsetDateTime::now_utc());
        crm.save_backfill_checkpoint(&checkpoint).await?;
    }
    progress.finish();
    if let Some(error) = error {
        return Err(error);
    }
    let problems = checkpoint.failed + checkpoint.skipped;
    let code = if stopped {
        EXIT_INTERRUPTED
    } else if problems > 0 {
        EXIT_ATTENTION
    } else {
        EXIT_OK
    };
    let state = if stopped {
        "interrupted (checkpoint saved; run again to resume)"
    } else {
        "finished"
    };
    let text = format!(
        "backfill {state}: {} users in {} batches, {} upserted ({} created), {} failed, {} skipped, {} crm_id(s) written back{}\n",
        checkpoint.users,
        checkpoint.batches,
        checkpoint.upserted,
        checkpoint.created,
        checkpoint.failed,
        checkpoint.skipped,
        checkpoint.crm_ids_written,
        if resumed { " (resumed)" } else { "" }
    );
    Ok(Report {
        json: json!({
            "finished": checkpoint.finished,
            "interrupted": stopped,
            "resumed": resumed,
            "checkpoint": checkpoint,
            "problems": failed_ids,
        }),
        text,
        code,
    })
}

//! The outbox commands: `status`, `dlq list`, `show`, `replay`, `process`, `cleanup`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};
use thiscovery_crm::notification::{Notification, NotificationType, ProcessingStatus};
use thiscovery_crm::store::{NotificationStore, ProcessedCursor, Replay, limits};
use thiscovery_crm::{RETENTION, timestamp};
use time::OffsetDateTime;

use crate::progress::Progress;
use crate::{Context, DlqFilter, EXIT_ATTENTION, EXIT_NOT_FOUND, EXIT_OK, Report};

/// Parses a period: `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
pub fn parse_period(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a period like 30m, 12h or 7d"))?;
    match unit {
        "" | "s" => Ok(time::Duration::seconds(n)),
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        "d" => Ok(time::Duration::days(n)),
        other => Err(format!(
            "unknown unit {other:?} in {text:?} (use s, m, h or d)"
        )),
    }
}

/// A type given on the command line, checked against the types this stack handles.
fn parse_kind(kind: Option<&str>) -> anyhow::Result<Option<NotificationType>> {
    kind.map(|k| k.parse::<NotificationType>().map_err(anyhow::Error::msg))
        .transpose()
}

/// `seconds` for people: `2d 3h`, `3h 12m`, `4m 10s`, `12s`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Seconds since `stamp` (the tables' string form), if it parses.
fn age_seconds(stamp: &str, now: OffsetDateTime) -> Option<i64> {
    timestamp::parse(stamp)
        .ok()
        .map(|t| (now - t).whole_seconds())
}

/// `crm status`.
pub async fn status(ctx: &Context) -> anyhow::Result<Report> {
    let store = ctx.notifications()?;
    let now = OffsetDateTime::now_utc();
    let now_ms = timestamp::epoch_millis(now);
    let mut counts: BTreeMap<&'static str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut kinds: BTreeSet<String> = NotificationType::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    let mut oldest: Option<(String, String)> = None;
    let mut expired: Vec<String> = Vec::new();
    for status in ProcessingStatus::ALL {
        let keys = store.list_status_keys(status).await?;
        let row = counts.entry(status.as_str()).or_default();
        for key in keys {
            kinds.insert(key.kind.clone());
            *row.entry(key.kind.clone()).or_default() += 1;
            if ProcessingStatus::PENDING.contains(&key.status)
                && oldest
                    .as_ref()
                    .is_none_or(|(created, _)| key.created < *created)
            {
                oldest = Some((key.created.clone(), key.id.clone()));
            }
            if key.status == ProcessingStatus::Processing
                && key.lease_expires_ms.is_none_or(|lease| lease < now_ms)
            {
                expired.push(key.id);
            }
        }
    }
    let total = |status: &str| -> usize { counts.get(status).map_or(0, |r| r.values().sum()) };
    let dlq = total("dlq");
    let oldest_json = oldest.as_ref().map(|(created, id)| {
        json!({"id": id, "created": created, "age_seconds": age_seconds(created, now)})
    });
    let stack = ctx.stack_name()?;
    let json = json!({
        "stack": stack,
        "counts": counts,
        "totals": ProcessingStatus::ALL.iter().map(|s| (s.as_str(), total(s.as_str()))).collect::<BTreeMap<_, _>>(),
        "oldest_pending": oldest_json,
        "expired_claims": expired.len(),
        "expired_claim_ids": expired.iter().take(100).collect::<Vec<_>>(),
    });
    let mut text = format!("stack {stack}\n\n");
    let width = kinds.iter().map(String::len).max().unwrap_or(4).max(5);
    let _ = write!(text, "{:<width$}", "type");
    for status in ProcessingStatus::ALL {
        let _ = write!(text, " {:>10}", status.as_str());
    }
    text.push('\n');
    for kind in &kinds {
        let _ = write!(text, "{kind:<width$}");
        for status in ProcessingStatus::ALL {
            let n = counts
                .get(status.as_str())
                .and_then(|r| r.get(kind))
                .copied()
                .unwrap_or(0);
            let _ = write!(text, " {n:>10}");
        }
        text.push('\n');
    }
    let _ = write!(text, "{:<width$}", "total");
    for status in ProcessingStatus::ALL {
        let _ = write!(text, " {:>10}", total(status.as_str()));
    }
    text.push_str("\n\n");
    match &oldest {
        Some((created, id)) => {
            let age = age_seconds(created, now).map_or_else(|| "?".to_owned(), human_age);
            let _ = writeln!(text, "oldest pending: {age} ({id}, created {created})");
        }
        None => text.push_str("oldest pending: none\n"),
    }
    let _ = writeln!(text, "claims past their lease: {}", expired.len());
    if dlq > 0 {
        let _ = writeln!(text, "dead-lettered: {dlq} (crm dlq list)");
    }
    let code = if dlq > 0 || !expired.is_empty() {
        EXIT_ATTENTION
    } else {
        EXIT_OK
    };
    Ok(Report { json, text, code })
}

/// The dead-lettered items `filter` selects, most recently dead-lettered first.
async fn dlq_items(
    store: &dyn NotificationStore,
    kind: Option<NotificationType>,
    since: Option<time::Duration>,
) -> anyhow::Result<Vec<Notification>> {
    let now = OffsetDateTime::now_utc();
    let threshold = since.map(|d| timestamp::format(now - d));
    let mut items: Vec<Notification> = store
        .list_status(ProcessingStatus::Dlq)
        .await?
        .into_iter()
        .filter(|n| kind.is_none_or(|k| n.kind == k))
        .filter(|n| {
            threshold.as_ref().is_none_or(|t| {
                timestamp::parse(&n.modified)
                    .ok()
                    .zip(timestamp::parse(t).ok())
                    .is_some_and(|(m, t)| m >= t)
            })
        })
        .collect();
    items.sort_by(|a, b| {
        let key = |n: &Notification| timestamp::parse(&n.modified).ok();
        key(b).cmp(&key(a)).then(a.id.cmp(&b.id))
    });
    Ok(items)
}

fn item_summary(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "type": n.kind.as_str(),
        "label": n.label,
        "created": n.created,
        "modified": n.modified,
        "fail_count": n.fail_count,
        "error": n.error_message,
    })
}

/// `crm dlq list`.
pub async fn dlq_list(ctx: &Context, filter: &DlqFilter) -> anyhow::Result<Report> {
    let kind = parse_kind(filter.kind.as_deref())?;
    let store = ctx.notifications()?;
    let items = dlq_items(&store, kind, filter.since).await?;
    let json =
        json!({"count": items.len(), "items": items.iter().map(item_summary).collect::<Vec<_>>()});
    let mut text = String::new();
    if items.is_empty() {
        text.push_str("no dead-lettered items\n");
    } else {
        let _ = writeln!(
            text,
            "{:<36}  {:<19}  {:<26}  {:>5}  error",
            "id", "type", "dead-lettered", "fails"
        );
        for n in &items {
            let mut error: String = n.error_message.clone().unwrap_or_default();
            if error.chars().count() > 80 {
                error = error.chars().take(79).collect::<String>() + "…";
            }
            let _ = writeln!(
                text,
                "{:<36}  {:<19}  {:<26}  {:>5}  {}",
                n.id,
                n.kind.as_str(),
                n.modified,
                n.fail_count,
                error
            );
        }
        let _ = writeln!(text, "\n{} item(s)", items.len());
    }
    let code = if items.is_empty() {
        EXIT_OK
    } else {
        EXIT_ATTENTION
    };
    Ok(Report { json, text, code })
}

/// `crm show ID`.
pub async fn show(ctx: &Context, id: &str) -> anyhow::Result<Report> {
    let store = ctx.notifications()?;
    let Some(item) = store.get_stored(id).await? else {
        return Ok(Report {
            json: json!({"id": id, "found": false}),
            text: format!("{id}: no such notification\n"),
            code: EXIT_NOT_FOUND,
        });
    };
    let mut text = String::new();
    let order = [
        "id",
        "type",
        "label",
        "processing_status",
        "created",
        "modified",
        "processing_fail_count",
        "processing_error_message",
        "unfinished_attempts",
        "lease_owner",
        "lease_expires",
        "replay_count",
        "replay_note",
    ];
    for name in order {
        if let Some(value) = item.get(name) {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(text, "{name:<25} {shown}");
        }
    }
    for (name, value) in &item {
        if !order.contains(&name.as_str()) && name != "details" {
            let _ = writeln!(text, "{name:<25} {value}");
        }
    }
    if let Some(details) = item.get("details") {
        let pretty = serde_json::to_string_pretty(details).unwrap_or_default();
        let _ = writeln!(text, "details\n{pretty}");
    }
    Ok(Report {
        json: Value::Object(item),
        text,
        code: EXIT_OK,
    })
}

/// What a replay may do with a dead-lettered email.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailCheck {
    /// Replay it; `possibly_sent`: its dead letter says an attempt ended without a result,
    /// so HubSpot may have sent it (the replay's send then carries the same `sendId`, and
    /// HubSpot answers `IDEMPOTENT_IGNORE` instead of sending it again).
    Replay {
        /// Whether HubSpot may have sent it already.
        possibly_sent: bool,
    },
    /// Do not replay it, and why.
    Refuse(String),
}

/// The replay rule for a dead-lettered transactional email (see the README's operator
/// section): one dead-lettered for its age is refused (a replay would dead-letter it again,
/// and an email that old is not to be sent as a surprise); one whose attempts ended without
/// a result is replayed and marked possibly sent.
pub fn email_check(n: &Notification) -> EmailCheck {
    let error = n.error_message.as_deref().unwrap_or("");
    if error.starts_with("expired") {
        return EmailCheck::Refuse(format!(
            "an email dead-lettered for its age ({error}) is not replayed: it would be dead-lettered again, and an email that old is not sent as a surprise"
        ));
    }
    EmailCheck::Replay {
        possibly_sent: error.contains("ended without a result"),
    }
}

/// `crm replay`.
pub async fn replay(
    ctx: &Context,
    ids: &[String],
    all_dlq: bool,
    kind: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Report> {
    let store = ctx.notifications()?;
    let kind = parse_kind(kind)?;
    let targets: Vec<(String, Option<Notification>)> = if all_dlq {
        dlq_items(&store, kind, None)
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), Some(n)))
            .collect()
    } else {
        let mut targets = Vec::with_capacity(ids.len());
        for id in ids {
            targets.push((id.clone(), store.get(id).await?));
        }
        targets
    };
    let now = OffsetDateTime::now_utc();
    let stamp = timestamp::format(now);
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let mut progress = Progress::new("replay", Some(targets.len() as u64), 0);
    let mut results = Vec::with_capacity(targets.len());
    let (mut replayed, mut refused, mut missing) = (0usize, 0usize, 0usize);
    for (id, item) in targets {
        let mut result = json!({"id": id});
        match item {
            None => {
                missing += 1;
                result["result"] = json!("not found");
            }
            Some(n) if n.status != ProcessingStatus::Dlq => {
                refused += 1;
                result["result"] = json!("refused");
                result["reason"] = json!(format!("not dead-lettered (status {})", n.status));
            }
            Some(n) => {
                let check = if n.kind == NotificationType::TransactionalEmail {
                    email_check(&n)
                } else {
                    EmailCheck::Replay {
                        possibly_sent: false,
                    }
                };
                result["type"] = json!(n.kind.as_str());
                match check {
                    EmailCheck::Refuse(reason) => {
                        refused += 1;
                        result["result"] = json!("refused");
                        result["reason"] = json!(reason);
                    }
                    EmailCheck::Replay { possibly_sent } => {
                        if n.kind == NotificationType::TransactionalEmail {
                            result["possibly_sent"] = json!(possibly_sent);
                            result["send_id"] = json!(n.id);
                        }
                        if dry_run {
                            replayed += 1;
                            result["result"] = json!("would replay");
                        } else {
                            let note = limits::bound_message(&format!(
                                "replayed {stamp} by {who} with `crm replay`{}; it had been dead-lettered after {} failed attempt(s): {}",
                                if possibly_sent {
                                    " (possibly sent before: the same sendId makes HubSpot ignore a repeat)"
                                } else {
                                    ""
                                },
                                n.fail_count,
                                n.error_message.as_deref().unwrap_or("no error recorded")
                            ));
                            if store.replay(&n.id, &Replay::new(&stamp, note)).await? {
                                replayed += 1;
                                result["result"] = json!("replayed");
                            } else {
                                refused += 1;
                                result["result"] = json!("refused");
                                result["reason"] =
                                    json!("no longer dead-lettered (changed meanwhile)");
                            }
                        }
                    }
                }
            }
        }
        results.push(result);
        progress.inc(1);
    }
    progress.finish();
    let mut text = String::new();
    for r in &results {
        let _ = write!(
            text,
            "{}  {}",
            r["id"].as_str().unwrap_or(""),
            r["result"].as_str().unwrap_or("")
        );
        if r["possibly_sent"] == json!(true) {
            text.push_str(" (possibly sent before; same sendId, HubSpot will not send it twice)");
        }
        if let Some(reason) = r["reason"].as_str() {
            let _ = write!(text, ": {reason}");
        }
        text.push('\n');
    }
    let verb = if dry_run { "would replay" } else { "replayed" };
    let _ = writeln!(
        text,
        "{verb} {replayed}, refused {refused}, not found {missing}{}",
        if dry_run || replayed == 0 {
            ""
        } else {
            "; the next sweep (or `crm process`) processes them"
        }
    );
    let json = json!({
        "dry_run": dry_run,
        "replayed": if dry_run { 0 } else { replayed },
        "would_replay": if dry_run { replayed } else { 0 },
        "refused": refused,
        "not_found": missing,
        "items": results,
    });
    let code = if missing > 0 {
        EXIT_NOT_FOUND
    } else if refused > 0 {
        EXIT_ATTENTION
    } else {
        EXIT_OK
    };
    Ok(Report { json, text, code })
}

/// `crm process`.
pub async fn process(ctx: &Context) -> anyhow::Result<Report> {
    let (_, crm) = ctx.crm().await?;
    let started = std::time::Instant::now();
    let summary = crm.process_pending().await?;
    let took = started.elapsed();
    let mut by_type: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for item in &summary.items {
        let status = if item.lost_claim {
            "lost_claim"
        } else if item.write_error.is_some() {
            "write_error"
        } else {
            item.status.as_str()
        };
        *by_type
            .entry(item.kind.as_str())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    let processed = summary.count(ProcessingStatus::Processed);
    let retrying = summary.count(ProcessingStatus::Retrying);
    let dlq = summary.count(ProcessingStatus::Dlq);
    let json = json!({
        "processed": processed,
        "retrying": retrying,
        "dlq": dlq,
        "not_claimed": summary.not_claimed,
        "store_errors": summary.store_errors,
        "left_for_next": summary.left_for_next,
        "by_type": by_type,
        "seconds": took.as_secs_f64(),
    });
    let mut text = format!(
        "swept in {:.1}s: processed {processed}, retrying {retrying}, dead-lettered {dlq}, not claimed {}, store errors {}, left for the next sweep {}\n",
        took.as_secs_f64(),
        summary.not_claimed,
        summary.store_errors,
        summary.left_for_next
    );
    for (kind, statuses) in &by_type {
        let parts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let _ = writeln!(text, "  {kind}: {}", parts.join(", "));
    }
    for item in summary
        .items
        .iter()
        .filter(|i| i.status != ProcessingStatus::Processed)
    {
        let _ = writeln!(
            text,
            "  {} {} {}: {}",
            item.id,
            item.kind.as_str(),
            item.status,
            item.write_error
                .as_deref()
                .or(item.message.as_deref())
                .unwrap_or("")
        );
    }
    let code = if retrying + dlq + summary.store_errors > 0 {
        EXIT_ATTENTION
    } else {
        EXIT_OK
    };
    Ok(Report { json, text, code })
}

/// `crm cleanup [--dry-run]`.
pub async fn cleanup(ctx: &Context, dry_run: bool) -> anyhow::Result<Report> {
    let now = OffsetDateTime::now_utc();
    let (deleted, kept_emails, kept_recent) = if dry_run {
        // What `Crm::cleanup` would do, read the same way, nothing deleted.
        let store = ctx.notifications()?;
        let threshold = timestamp::format(now - RETENTION);
        let mut cursor: Option<ProcessedCursor> = None;
        let (mut would, mut emails, mut recent) = (0usize, 0usize, 0usize);
        let mut progress = Progress::new("cleanup (dry run)", None, 0);
        loop {
            let page = store
                .processed_page(&threshold, cursor.as_ref(), 1_000)
                .await?;
            emails += page.skipped_emails;
            let read = page.items.len() + page.skipped_emails;
            for key in &page.items {
                if key.modified.as_str() >= threshold.as_str() {
                    recent += 1;
                } else {
                    would += 1;
                }
            }
            progress.inc(read as u64);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        progress.finish();
        (would, emails, recent)
    } else {
        let (_, crm) = ctx.crm().await?;
        let summary = crm.cleanup(now).await?;
        (summary.deleted, summary.kept_emails, summary.kept_recent)
    };
    let json = if dry_run {
        json!({"dry_run": true, "would_delete": deleted, "kept_emails": kept_emails, "kept_recent": kept_recent})
    } else {
        json!({"dry_run": false, "deleted": deleted, "kept_emails": kept_emails, "kept_recent": kept_recent})
    };
    let verb = if dry_run { "would delete" } else { "deleted" };
    let text = format!(
        "{verb} {deleted} processed item(s) older than 7 days; kept {kept_emails} email(s) and {kept_recent} item(s) changed within 7 days\n"
    );
    Ok(Report {
        json,
        text,
        code: EXIT_OK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_bad_ones_say_why() {
        assert_eq!(parse_period("90"), Ok(time::Duration::seconds(90)));
        assert_eq!(parse_period("30m"), Ok(time::Duration::minutes(30)));
        assert_eq!(parse_period("12h"), Ok(time::Duration::hours(12)));
        assert_eq!(parse_period("7d"), Ok(time::Duration::days(7)));
        assert!(parse_period("7w").unwrap_err().contains("unknown unit"));
        assert!(parse_period("d").is_err());
        assert!(parse_period("").is_err());
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(human_age(12), "12s");
        assert_eq!(human_age(250), "4m 10s");
        assert_eq!(human_age(3 * 3600 + 12 * 60), "3h 12m");
        assert_eq!(human_age(2 * 86_400 + 3 * 3600), "2d 3h");
        assert_eq!(human_age(-5), "0s");
    }

    fn email(error: &str) -> Notification {
        let mut n = Notification::new(
            "e1",
            NotificationType::TransactionalEmail,
            "t_a@b.c",
            json!({}),
            OffsetDateTime::now_utc(),
        );
        n.status = ProcessingStatus::Dlq;
        n.error_message = Some(error.to_owned());
        n
    }

    #[test]
    fn emails_are_replayed_marked_when_maybe_sent_and_refused_when_expired() {
        assert_eq!(
            email_check(&email("template \"x\" not found")),
            EmailCheck::Replay {
                possibly_sent: false
            }
        );
        assert_eq!(
            email_check(&email(
                "gave up after 3 attempts: 3 of them ended without a result (the processor was killed)"
            )),
            EmailCheck::Replay {
                possibly_sent: true
            }
        );
        assert!(matches!(
            email_check(&email("expired: not sent")),
            EmailCheck::Refuse(reason) if reason.contains("expired")
        ));
    }
}

//! B1's results: what one row measured ([`Measured`]) and the Markdown table and notes
//! printed for all rows ([`table`], the format BENCHMARKS.md shows). Included by
//! `pipeline.rs` with `#[path = "pipeline/report.rs"] mod report;`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::{Args, Row};
use crate::journal::JournalStats;
use crate::workload::Counts;

/// One row's figures.
#[derive(Debug)]
pub struct Measured {
    pub row: Row,
    pub counts: Counts,
    pub wall: Duration,
    pub bound: Duration,
    /// The best time the client's own limiter allows for the requests sent (burst, then one
    /// request per period).
    pub limiter_floor: Duration,
    /// What the fake's journal of the timed phase shows.
    pub journal: JournalStats,
    pub writes: u64,
    pub reads: u64,
    /// Time spent inside claims, summed over calls.
    pub claim_time: std::time::Duration,
    /// Time spent inside result writes, summed over calls.
    pub complete_time: std::time::Duration,
    /// Claims (and result writes) in flight at once.
    pub store_concurrency: usize,
    pub rounds: usize,
    /// One `list_pending_keys` of the recorded items, measured before the timed phase.
    pub list_pending: Duration,
    pub processed: usize,
    pub dlq: usize,
    pub other: usize,
    pub setup: Duration,
}

/// The table of all rows, a line of details per row, and what the columns mean.
pub fn table(rows: &[Measured], args: &Args) -> String {
    let mut out = String::new();
    let rate = &args.rate;
    let _ = writeln!(
        out,
        "\nB1: processor vs HubSpot's rate limit ({} requests per rolling {:?}; client limiter: burst {}, reserve {}, period {:?})\n",
        rate.max_requests,
        rate.window,
        rate.burst,
        rate.reserve,
        rate.period()
    );
    let _ = writeln!(
        out,
        "| row | notifications | wall s | bound s | ratio | limiter ceiling | HubSpot req/notif | 429s | notif/s | store writes/notif | processed |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in rows {
        table_row(&mut out, m);
    }
    let _ = writeln!(out);
    for m in rows {
        details(&mut out, m, args);
    }
    let _ = writeln!(
        out,
        "\nbound = minimum requests / ({} per {:?}); ratio = bound / wall; limiter ceiling = bound / (time the client's limiter needs for the requests the row sent: (requests - burst) x period), the best ratio the row could reach with its client; store writes = put_if_absent + claim + complete + delete_processed calls during the timed phase only (recording is setup).",
        rate.max_requests, rate.window
    );
    if rows.iter().any(|m| m.row == Row::Baseline)
        && args.baseline_notifications != args.notifications
    {
        let _ = writeln!(
            out,
            "The baseline row is scaled down to {} notifications (same mix) so it finishes in seconds; its ratio and per-notification figures are comparable, its wall time is not.",
            args.baseline_notifications
        );
    }
    out
}

/// A row of the table.
fn table_row(out: &mut String, m: &Measured) {
    let n = m.counts.total() as f64;
    let _ = writeln!(
        out,
        "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.4} | {} | {:.0} | {:.2} | {}{} |",
        m.row.name(),
        m.counts.total(),
        m.wall.as_secs_f64(),
        m.bound.as_secs_f64(),
        m.bound.as_secs_f64() / m.wall.as_secs_f64(),
        m.bound.as_secs_f64() / m.limiter_floor.as_secs_f64().max(1e-9),
        m.journal.requests as f64 / n,
        m.journal.throttled,
        n / m.wall.as_secs_f64(),
        m.writes as f64 / n,
        m.processed,
        if m.dlq + m.other > 0 {
            format!(" ({} dlq, {} other)", m.dlq, m.other)
        } else {
            String::new()
        }
    );
}

/// A row's line of details under the table.
fn details(out: &mut String, m: &Measured, args: &Args) {
    let endpoints: Vec<String> = m
        .journal
        .by_endpoint
        .iter()
        .map(|(e, c)| format!("{e} {c}"))
        .collect();
    let _ = writeln!(
        out,
        "- {}: {} registrations, {} logins, {} task signups, {} emails; minimum {} requests, sent {} ({}); {} processing round(s); store reads (calls) {}; setup (not timed) {:.1} s, in which one list_pending_keys of the {} items took {:.2} s; wall = {:.2} s to the first request + {:.2} s of requests (of which {:.2} s in gaps > 3 periods) + {:.2} s after the last; busiest rolling window {} of {} requests; store time: claims {:.1} ms each ({:.2} s at {} in flight), result writes {:.1} ms each ({:.2} s)",
        m.row.name(),
        m.counts.registrations,
        m.counts.logins,
        m.counts.signups,
        m.counts.emails,
        m.counts.min_requests(),
        m.journal.requests,
        endpoints.join(", "),
        m.rounds,
        m.reads,
        m.setup.as_secs_f64(),
        m.counts.total(),
        m.list_pending.as_secs_f64(),
        m.journal.head.as_secs_f64(),
        m.journal.span.as_secs_f64(),
        m.journal.gaps.as_secs_f64(),
        m.journal.tail.as_secs_f64(),
        m.journal.busiest_window,
        args.rate.max_requests,
        per_call_ms(m.claim_time, m.processed + m.dlq + m.other),
        m.claim_time.as_secs_f64() / m.store_concurrency.max(1) as f64,
        m.store_concurrency,
        per_call_ms(m.complete_time, m.processed + m.dlq + m.other),
        m.complete_time.as_secs_f64() / m.store_concurrency.max(1) as f64,
    );
}

/// Mean milliseconds per call of `total` over `calls`.
fn per_call_ms(total: std::time::Duration, calls: usize) -> f64 {
    total.as_secs_f64() * 1000.0 / calls.max(1) as f64
}

//! What a FakeHubSpot journal says about a timed phase against a rate limit: requests per
//! endpoint, 429s, where the wall time went (to the first request, the span of requests and
//! the long gaps in it, after the last) and the busiest rolling window. Included with
//! `#[path = "common/journal.rs"] mod journal;`.

use std::time::{Duration, SystemTime};

use crm_testkit::hubspot::JournalEntry;
use hubspot_client::RateLimit;

/// The figures of one journal.
#[derive(Debug)]
pub struct JournalStats {
    /// Requests the fake answered.
    pub requests: usize,
    /// Requests per endpoint name, in order of each endpoint's first request.
    pub by_endpoint: Vec<(&'static str, usize)>,
    /// Requests answered 429.
    pub throttled: usize,
    /// Timed start to the first request (the whole phase without requests).
    pub head: Duration,
    /// First request to last.
    pub span: Duration,
    /// Last request to the end.
    pub tail: Duration,
    /// The sum of gaps between requests longer than 3 of `rate`'s periods.
    pub gaps: Duration,
    /// The most requests in any rolling `rate.window` (the fake's limit is
    /// `rate.max_requests`).
    pub busiest_window: usize,
}

impl JournalStats {
    /// The figures of `journal`, for a timed phase from `started_at` to `ended_at` against
    /// `rate`.
    pub fn of(
        journal: &[JournalEntry],
        rate: &RateLimit,
        started_at: SystemTime,
        ended_at: SystemTime,
    ) -> JournalStats {
        let mut by_endpoint: Vec<(&'static str, usize)> = Vec::new();
        for entry in journal {
            let name = entry.endpoint.name();
            match by_endpoint.iter_mut().find(|(e, _)| *e == name) {
                Some((_, c)) => *c += 1,
                None => by_endpoint.push((name, 1)),
            }
        }
        let mut times: Vec<SystemTime> = journal.iter().map(|e| e.at).collect();
        times.sort();
        let (head, span, tail) = match (times.first(), times.last()) {
            (Some(&first), Some(&last)) => (
                since(first, started_at),
                since(last, first),
                since(ended_at, last),
            ),
            _ => (since(ended_at, started_at), Duration::ZERO, Duration::ZERO),
        };
        let gaps = times
            .windows(2)
            .map(|w| since(w[1], w[0]))
            .filter(|gap| *gap > rate.period() * 3)
            .sum();
        JournalStats {
            requests: journal.len(),
            by_endpoint,
            throttled: journal.iter().filter(|e| e.status == Some(429)).count(),
            head,
            span,
            tail,
            gaps,
            busiest_window: busiest_window(&times, rate.window),
        }
    }
}

/// The most of the sorted `times` in any rolling `window` (strict: a request `window` after
/// another is in the next window).
fn busiest_window(times: &[SystemTime], window: Duration) -> usize {
    let mut busiest = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while since(times[hi], times[lo]) >= window {
            lo += 1;
        }
        busiest = busiest.max(hi - lo + 1);
    }
    busiest
}

/// `later - earlier`, zero if the clock went back.
fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

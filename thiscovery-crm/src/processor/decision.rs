//! The completion decision: what a processed item's result means for its status, its
//! failure count and its message. Pure, so it is table-tested below (as `hubspot-client`'s
//! `policy` module is for status codes).
//!
//! | result | status | `processing_fail_count` |
//! |---|---|---|
//! | done | `processed` | unchanged |
//! | permanent failure (bad input, HubSpot 4xx) | `dlq` | + 1 |
//! | retryable failure, attempts left | `retrying` | + 1 |
//! | retryable failure, the `max_attempts`-th | `dlq` ("gave up after N failed attempts: ...") | + 1 |
//! | HubSpot's `DAILY` limit (retry much later) | `retrying` | unchanged: not the item's fault |

use hubspot_client::{ErrorClass, ItemFailure};

use crate::directory::DirectoryError;
use crate::notification::ProcessingStatus;
use crate::store::StoreError;

/// How a failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailKind {
    /// Dead-letter now.
    Permanent,
    /// Retry, counting an attempt.
    Retry,
    /// Retry later without counting an attempt (daily rate limit).
    Later,
}

/// Why one item failed, and how to treat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: FailKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        Failure {
            kind: FailKind::Permanent,
            message: message.into(),
        }
    }

    pub(crate) fn retry(message: impl Into<String>) -> Self {
        Failure {
            kind: FailKind::Retry,
            message: message.into(),
        }
    }

    /// An event that does not parse: dead-lettered with the field named.
    pub(crate) fn invalid(error: impl std::fmt::Display) -> Self {
        Failure::permanent(format!("invalid event: {error}"))
    }

    fn from_class(class: ErrorClass, message: String) -> Self {
        let kind = match class {
            ErrorClass::Permanent => FailKind::Permanent,
            ErrorClass::RetryLater { .. } => FailKind::Later,
            _ => FailKind::Retry,
        };
        Failure { kind, message }
    }

    /// A failed HubSpot call, classified as the client classifies it.
    pub(crate) fn hubspot(what: &str, e: &hubspot_client::Error) -> Self {
        Failure::from_class(e.class(), format!("{what}: {e}"))
    }

    /// A failed item of a HubSpot batch call.
    pub(crate) fn item(what: &str, f: &ItemFailure) -> Self {
        Failure::from_class(f.class(), format!("{what}: {f}"))
    }

    /// A failed thiscovery-core call where "not found" may pass: core may not have the
    /// user yet (a signup can reach this stack first), so a 404 is retried like an outage,
    /// as the Python stack retries every failure.
    pub(crate) fn directory_pending(what: &str, e: &DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(_) => Failure::retry(format!("{what}: {e}")),
            _ => Failure::directory(what, e),
        }
    }

    /// A failed thiscovery-core call.
    pub(crate) fn directory(what: &str, e: &DirectoryError) -> Self {
        let message = format!("{what}: {e}");
        if e.is_retryable() {
            Failure::retry(message)
        } else {
            Failure::permanent(message)
        }
    }

    /// A failed store read.
    pub(crate) fn store(what: &str, e: &StoreError) -> Self {
        Failure::retry(format!("{what}: {e}"))
    }
}

/// What one item's processing produced: HubSpot's reference for what it did (contact id,
/// timeline event id, email status id), or why it failed.
pub(crate) type ItemResult = Result<Option<String>, Failure>;

/// What to write back for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) status: ProcessingStatus,
    pub(crate) fail_count: u32,
    pub(crate) error_message: Option<String>,
}

/// The completion decision for an item that had failed `fail_count` times before this
/// attempt (see the module docs for the table).
pub(crate) fn decide(fail_count: u32, max_attempts: u32, result: &ItemResult) -> Decision {
    let failure = match result {
        Ok(_) => {
            return Decision {
                status: ProcessingStatus::Processed,
                fail_count,
                error_message: None,
            };
        }
        Err(failure) => failure,
    };
    let attempts = fail_count.saturating_add(1);
    let (status, fail_count, message) = match failure.kind {
        FailKind::Permanent => (ProcessingStatus::Dlq, attempts, failure.message.clone()),
        FailKind::Later => (
            ProcessingStatus::Retrying,
            fail_count,
            failure.message.clone(),
        ),
        FailKind::Retry if attempts >= max_attempts => (
            ProcessingStatus::Dlq,
            attempts,
            format!(
                "gave up after {attempts} failed attempts: {}",
                failure.message
            ),
        ),
        FailKind::Retry => (
            ProcessingStatus::Retrying,
            attempts,
            failure.message.clone(),
        ),
    };
    Decision {
        status,
        fail_count,
        error_message: Some(message),
    }
}

/// The failure to record, instead of processing, for an item claimed with
/// `unfinished_attempts` claims since its last result (this one included) after `fail_count`
/// recorded failures: once the attempts that ended without a result (a killed or timed-out
/// processor) and the recorded failures reach `max_attempts`, the item is dead-lettered, so
/// an item that keeps killing its processor does not cycle for ever.
pub(crate) fn abandoned(
    fail_count: u32,
    unfinished_attempts: u32,
    max_attempts: u32,
) -> Option<Failure> {
    let unfinished = unfinished_attempts.saturating_sub(1);
    if unfinished == 0 || fail_count.saturating_add(unfinished) < max_attempts {
        return None;
    }
    Some(Failure::permanent(format!(
        "gave up after {} attempts: {unfinished} of them ended without a result (the processor \
         stopped or ran out of time before writing one)",
        fail_count.saturating_add(unfinished)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProcessingStatus::{Dlq, Processed, Retrying};

    #[test]
    fn abandoned_attempts_table() {
        // (recorded failures, claims since the last result, max) -> dead-lettered?
        let cases = [
            (0, 0, 3, false), // an item from before claims were counted
            (0, 1, 3, false), // the first claim
            (0, 2, 3, false), // one attempt ended without a result
            (0, 3, 3, false), // two ended without a result: this is the third attempt
            (0, 4, 3, true),  // three ended without a result
            (1, 3, 3, true),  // one failure recorded, two without a result
            (2, 1, 3, false), // two recorded failures: the third attempt runs
            (2, 2, 3, true),  // ... and it was killed: three in all
            (0, 2, 1, true),
            (u32::MAX, u32::MAX, 3, true),
        ];
        for (fails, claims, max, dead) in cases {
            let got = abandoned(fails, claims, max);
            assert_eq!(
                got.is_some(),
                dead,
                "{fails} failures, {claims} claims, max {max}"
            );
            if let Some(f) = got {
                assert_eq!(f.kind, FailKind::Permanent);
                assert!(f.message.contains("without a result"), "{}", f.message);
            }
        }
    }

    #[test]
    fn completion_table() {
        let ok: ItemResult = Ok(Some("1001".into()));
        let permanent: ItemResult = Err(Failure::permanent("bad"));
        let retry: ItemResult = Err(Failure::retry("busy"));
        let later: ItemResult = Err(Failure {
            kind: FailKind::Later,
            message: "daily".into(),
        });
        let gave_up = |n: u32| format!("gave up after {n} failed attempts: busy");
        // (failures before, max attempts, result) -> (status, failures after, message)
        type Case<'a> = (
            u32,
            u32,
            &'a ItemResult,
            ProcessingStatus,
            u32,
            Option<String>,
        );
        let cases: Vec<Case<'_>> = vec![
            (0, 3, &ok, Processed, 0, None),
            (2, 3, &ok, Processed, 2, None),
            (0, 3, &permanent, Dlq, 1, Some("bad".into())),
            (1, 3, &permanent, Dlq, 2, Some("bad".into())),
            (0, 3, &retry, Retrying, 1, Some("busy".into())),
            (1, 3, &retry, Retrying, 2, Some("busy".into())),
            (2, 3, &retry, Dlq, 3, Some(gave_up(3))),
            // Python's items can carry a count already past the limit.
            (7, 3, &retry, Dlq, 8, Some(gave_up(8))),
            (0, 1, &retry, Dlq, 1, Some(gave_up(1))),
            (0, 3, &later, Retrying, 0, Some("daily".into())),
            (2, 3, &later, Retrying, 2, Some("daily".into())),
            (u32::MAX, 3, &retry, Dlq, u32::MAX, Some(gave_up(u32::MAX))),
        ];
        for (before, max, result, status, after, message) in cases {
            let got = decide(before, max, result);
            assert_eq!(
                got,
                Decision {
                    status,
                    fail_count: after,
                    error_message: message,
                },
                "{before} failures, max {max}, {result:?}"
            );
        }
    }
}

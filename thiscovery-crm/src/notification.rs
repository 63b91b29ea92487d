//! The notification item: the outbox record every accepted event becomes, and its status
//! machine.
//!
//! ```text
//! new ──claim──▶ processing ──ok──▶ processed ──(7 days, not email)──▶ deleted
//!  ▲                 │
//!  │                 └─fail─▶ retrying ──claim──▶ processing ... ──fail > max──▶ dlq
//!  └── put is idempotent on the notification id (same event twice = one item)
//! ```
//!
//! The attribute names and values are those of the Python stack's production items, so both
//! stacks read each other's items.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use time::OffsetDateTime;

use crate::timestamp;

/// The kind of work a notification records (`type` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotificationType {
    /// `user-registration`: an Auth0 signup.
    UserRegistration,
    /// `task-signup`: a thiscovery task signup.
    TaskSignup,
    /// `user-login`: an Auth0 login.
    UserLogin,
    /// `transactional-email`: an email to send.
    TransactionalEmail,
}

impl NotificationType {
    /// Every type this stack handles. The order they are processed in is declared once, in
    /// the processor's stages (registrations first).
    pub const ALL: [NotificationType; 4] = [
        NotificationType::UserRegistration,
        NotificationType::TaskSignup,
        NotificationType::UserLogin,
        NotificationType::TransactionalEmail,
    ];

    /// The attribute value.
    pub fn as_str(&self) -> &'static str {
        match self {
            NotificationType::UserRegistration => "user-registration",
            NotificationType::TaskSignup => "task-signup",
            NotificationType::UserLogin => "user-login",
            NotificationType::TransactionalEmail => "transactional-email",
        }
    }
}

impl fmt::Display for NotificationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NotificationType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown notification type {s:?}"))
    }
}

/// Where a notification is in the outbox (`processing_status` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessingStatus {
    /// Recorded, not yet tried.
    New,
    /// Claimed by a processor holding a lease.
    Processing,
    /// Done.
    Processed,
    /// Failed with a retryable error; will be tried again.
    Retrying,
    /// Dead-lettered: failed for good, with a reason in `processing_error_message`.
    Dlq,
}

impl ProcessingStatus {
    /// The attribute value.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProcessingStatus::New => "new",
            ProcessingStatus::Processing => "processing",
            ProcessingStatus::Processed => "processed",
            ProcessingStatus::Retrying => "retrying",
            ProcessingStatus::Dlq => "dlq",
        }
    }

    /// Every status.
    pub const ALL: [ProcessingStatus; 5] = [
        ProcessingStatus::New,
        ProcessingStatus::Processing,
        ProcessingStatus::Processed,
        ProcessingStatus::Retrying,
        ProcessingStatus::Dlq,
    ];

    /// Statuses that mean "work to do" (with `processing` only once its lease expired): those
    /// whose [claim rule](Self::is_claimable) can admit a claim.
    pub const PENDING: [ProcessingStatus; 3] = [
        ProcessingStatus::New,
        ProcessingStatus::Retrying,
        ProcessingStatus::Processing,
    ];

    /// How this status takes part in claims.
    pub(crate) const fn claim_rule(self) -> ClaimRule {
        match self {
            ProcessingStatus::New | ProcessingStatus::Retrying => ClaimRule::Always,
            ProcessingStatus::Processing => ClaimRule::OnceLeaseExpired,
            ProcessingStatus::Processed | ProcessingStatus::Dlq => ClaimRule::Never,
        }
    }

    /// The claim rule: whether an item in this status whose lease holds until
    /// `lease_expires_ms` (epoch milliseconds, `None` if it has no lease) may be claimed at
    /// `now_ms`. `new` and `retrying` may; `processing` may once its lease expired before
    /// `now_ms`, or if it has none (an item a crashed processor, or the Python stack, left
    /// behind); `processed` and `dlq` never may.
    ///
    /// This is the one definition: [`Notification::is_claimable`],
    /// [`PendingKey::is_claimable`](crate::store::PendingKey::is_claimable) and the memory
    /// store apply it, and the DynamoDB store builds its claim's condition expression from
    /// each status's rule (`store/dynamodb/claim.rs`, whose tests hold the two together).
    pub fn is_claimable(self, lease_expires_ms: Option<i64>, now_ms: i64) -> bool {
        match self.claim_rule() {
            ClaimRule::Always => true,
            ClaimRule::OnceLeaseExpired => lease_expires_ms.is_none_or(|lease| lease < now_ms),
            ClaimRule::Never => false,
        }
    }
}

/// How a status takes part in claims ([`ProcessingStatus::is_claimable`]); the DynamoDB claim
/// condition has one clause per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimRule {
    /// Claimable whatever the lease says.
    Always,
    /// Claimable once the lease has expired, or with no lease.
    OnceLeaseExpired,
    /// Never claimable.
    Never,
}

impl fmt::Display for ProcessingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProcessingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProcessingStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown processing status {s:?}"))
    }
}

/// Labels longer than this are truncated (they are for people, not keys).
pub const MAX_LABEL_CHARS: usize = 512;

/// A notification item.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Notification {
    /// Deterministic id: a redelivered event maps to the same item.
    pub id: String,
    /// What kind of work this is.
    pub kind: NotificationType,
    /// A human label (email, user id, or `{template}_{recipient}`).
    pub label: String,
    /// What the event says, in the Python stack's shape for the type (a registration's
    /// derived map, a login's core user record plus `login_datetime`, a task signup's or an
    /// email's `detail`); items written before may hold the raw event `detail`.
    pub details: Value,
    /// Where it is in the outbox.
    pub status: ProcessingStatus,
    /// How many attempts failed with a retryable error.
    pub fail_count: u32,
    /// Why the last attempt failed (or why it was dead-lettered).
    pub error_message: Option<String>,
    /// When it was recorded (the tables' string form; the GSI range key).
    pub created: String,
    /// When it last changed (the tables' string form).
    pub modified: String,
    /// Until when (epoch milliseconds) the current claim holds.
    pub lease_expires_ms: Option<i64>,
    /// Who holds the current claim.
    pub lease_owner: Option<String>,
    /// Claims made since the last result was written: the current claim counts one, so
    /// more than one means earlier attempts ended without a result (the processor was
    /// killed or ran out of time). Such attempts count towards the attempt limit.
    pub unfinished_attempts: u32,
}

impl Notification {
    /// A new notification recorded at `now`.
    pub fn new(
        id: impl Into<String>,
        kind: NotificationType,
        label: impl Into<String>,
        details: Value,
        now: OffsetDateTime,
    ) -> Self {
        let stamp = timestamp::format(now);
        let mut label: String = label.into();
        if label.chars().count() > MAX_LABEL_CHARS {
            label = label.chars().take(MAX_LABEL_CHARS).collect();
        }
        Notification {
            id: id.into(),
            kind,
            label,
            details,
            status: ProcessingStatus::New,
            fail_count: 0,
            error_message: None,
            created: stamp.clone(),
            modified: stamp,
            lease_expires_ms: None,
            lease_owner: None,
            unfinished_attempts: 0,
        }
    }

    /// Whether a processor may claim this item at `now_ms`: `new` or `retrying`, or
    /// `processing` whose lease has expired (a crashed processor's item). See
    /// [`ProcessingStatus::is_claimable`], the claim rule.
    pub fn is_claimable(&self, now_ms: i64) -> bool {
        self.status.is_claimable(self.lease_expires_ms, now_ms)
    }
}

/// Derives a notification id from a name (an EventBridge event id) and a type: a UUID v5,
/// so the same event always maps to the same id, and different types never collide.
pub fn derived_id(kind: NotificationType, name: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1c_2f0e_5b7d_4c41_9e1a_7a0d_1c3e_9b21);
    uuid::Uuid::new_v5(&NAMESPACE, format!("{}:{name}", kind.as_str()).as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in NotificationType::ALL {
            assert_eq!(t.as_str().parse::<NotificationType>().unwrap(), t);
        }
        for s in ["new", "processing", "processed", "retrying", "dlq"] {
            assert_eq!(s.parse::<ProcessingStatus>().unwrap().as_str(), s);
        }
        assert!("done".parse::<ProcessingStatus>().is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_typed() {
        let a = derived_id(NotificationType::UserLogin, "4b37abb5");
        assert_eq!(a, derived_id(NotificationType::UserLogin, "4b37abb5"));
        assert_ne!(
            a,
            derived_id(NotificationType::TransactionalEmail, "4b37abb5")
        );
    }

    #[test]
    fn claimability() {
        let mut n = Notification::new(
            "x",
            NotificationType::UserLogin,
            "l",
            Value::Null,
            OffsetDateTime::now_utc(),
        );
        assert!(n.is_claimable(0));
        n.status = ProcessingStatus::Processing;
        n.lease_expires_ms = Some(1000);
        assert!(!n.is_claimable(999));
        assert!(!n.is_claimable(1000));
        assert!(n.is_claimable(1001));
        n.status = ProcessingStatus::Dlq;
        assert!(!n.is_claimable(i64::MAX));
    }

    /// The claim rule for every status and every kind of lease, against the rule as the design
    /// states it, written out.
    #[test]
    fn claim_rule_table() {
        use ProcessingStatus::*;
        let now = 1_000;
        // (status, lease) -> claimable, for leases: none, expired, expiring now, holding.
        let leases = [None, Some(now - 1), Some(now), Some(now + 1)];
        let table = [
            (New, [true, true, true, true]),
            (Retrying, [true, true, true, true]),
            (Processing, [true, true, false, false]),
            (Processed, [false, false, false, false]),
            (Dlq, [false, false, false, false]),
        ];
        assert_eq!(table.len(), ProcessingStatus::ALL.len());
        for (status, expected) in table {
            for (lease, expected) in leases.into_iter().zip(expected) {
                assert_eq!(
                    status.is_claimable(lease, now),
                    expected,
                    "{status} with lease {lease:?} at {now}"
                );
            }
        }
        // The pending listing looks for exactly what a claim can take.
        for status in ProcessingStatus::ALL {
            assert_eq!(
                ProcessingStatus::PENDING.contains(&status),
                status.claim_rule() != ClaimRule::Never,
                "{status}"
            );
        }
    }
}

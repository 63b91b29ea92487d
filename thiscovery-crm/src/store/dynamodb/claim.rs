//! The claim rule ([`ProcessingStatus::is_claimable`]) in DynamoDB's expression language: the
//! condition a claim's `UpdateItem` is made on.
//!
//! The condition is built from each status's rule, so which statuses a claim takes is stated
//! once, in `notification.rs`. Only the lease clause ("no lease, or one that expired before
//! now") is spelled a second time, here; the tests below hold it to the rule on DynamoDB Local
//! for every status and every kind of lease.

use std::collections::HashMap;
use std::sync::LazyLock;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attr::{ID, LEASE_EXPIRES};
use super::codec::s;
use crate::notification::{ClaimRule, ProcessingStatus};

/// The placeholder of DynamoDB's number type name (`N`) in the lease clause.
const NUMBER_TYPE: &str = ":number_type";

/// The claim's condition, built once.
pub(super) static CLAIM_CONDITION: LazyLock<ClaimCondition> = LazyLock::new(ClaimCondition::build);

/// A condition expression and the values of the status placeholders it uses. The caller maps
/// `#s` to the status attribute and gives `:now`, the claim's time in epoch milliseconds.
#[derive(Debug)]
pub(super) struct ClaimCondition {
    /// The expression.
    pub(super) expression: String,
    /// `:{status}` for every status it names.
    pub(super) values: HashMap<String, AttributeValue>,
}

/// The placeholder of a status value in expressions: `:new`, `:processing`, ... (status values
/// are lower-case words, valid placeholder names).
pub(super) fn status_value(status: ProcessingStatus) -> String {
    format!(":{status}")
}

impl ClaimCondition {
    /// `attribute_exists(id) AND (<one clause per rule that admits claims>)`: with today's
    /// statuses, `#s IN (:new, :retrying) OR (#s = :processing AND (attribute_not_exists(lease_expires)
    /// OR lease_expires < :now))`.
    fn build() -> Self {
        let mut always = Vec::new();
        let mut once_lease_expired = Vec::new();
        for status in ProcessingStatus::ALL {
            match status.claim_rule() {
                ClaimRule::Always => always.push(status),
                ClaimRule::OnceLeaseExpired => once_lease_expired.push(status),
                ClaimRule::Never => {}
            }
        }
        let mut clauses = Vec::new();
        if !always.is_empty() {
            let values: Vec<String> = always.iter().copied().map(status_value).collect();
            clauses.push(format!("#s IN ({})", values.join(", ")));
        }
        for &status in &once_lease_expired {
            // `lease_expires_ms.is_none_or(|lease| lease < now_ms)`, where only a number is a
            // lease (the codec reads anything else as none): without the type test a string
            // or NULL lease would compare false for ever and the item could never be claimed.
            clauses.push(format!(
                "(#s = {} AND (attribute_not_exists({LEASE_EXPIRES}) OR \
                 NOT attribute_type({LEASE_EXPIRES}, {NUMBER_TYPE}) OR {LEASE_EXPIRES} < :now))",
                status_value(status)
            ));
        }
        let mut values: HashMap<String, AttributeValue> = always
            .iter()
            .chain(&once_lease_expired)
            .map(|&status| (status_value(status), s(status.as_str())))
            .collect();
        if !once_lease_expired.is_empty() {
            values.insert(NUMBER_TYPE.to_owned(), s("N"));
        }
        ClaimCondition {
            expression: format!("attribute_exists({ID}) AND ({})", clauses.join(" OR ")),
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{Notification, NotificationType};
    use crate::store::dynamodb::{DynamoNotificationStore, TableNames};
    use crate::store::{Claim, NotificationStore, PutOutcome};

    /// What DynamoDB is told, to read next to the rule (and DESIGN.md's "Durability model").
    #[test]
    fn the_condition_spells_out_the_rule() {
        assert_eq!(
            CLAIM_CONDITION.expression,
            "attribute_exists(id) AND (#s IN (:new, :retrying) OR (#s = :processing AND \
             (attribute_not_exists(lease_expires) OR NOT attribute_type(lease_expires, \
             :number_type) OR lease_expires < :now)))"
        );
        let mut values: Vec<(&str, &AttributeValue)> = CLAIM_CONDITION
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        values.sort_by_key(|(k, _)| *k);
        assert_eq!(
            values,
            [
                (":new", &s("new")),
                (":number_type", &s("N")),
                (":processing", &s("processing")),
                (":retrying", &s("retrying")),
            ]
        );
    }

    /// The condition and the rule agree on every status and every kind of lease, on a real
    /// DynamoDB (Local): the claim succeeds exactly when `is_claimable` says it may.
    #[tokio::test]
    async fn dynamodb_claims_exactly_what_the_rule_allows() {
        let local = crm_testkit::dynamodb::DynamoDbLocal::shared()
            .await
            .unwrap();
        let stack = local.new_stack_with_tables().await.unwrap();
        let store = DynamoNotificationStore::new(
            local.client(),
            TableNames::for_stack(&stack).notifications,
        );
        let now = 1_700_000_000_000;
        let leases = [None, Some(now - 1), Some(now), Some(now + 1)];
        let mut claimable = 0;
        for status in ProcessingStatus::ALL {
            for lease in leases {
                let mut n = Notification::new(
                    format!("{status}-{lease:?}"),
                    NotificationType::UserLogin,
                    "l",
                    serde_json::json!({}),
                    time::OffsetDateTime::now_utc(),
                );
                n.status = status;
                n.lease_expires_ms = lease;
                n.lease_owner = lease.map(|_| "someone else".to_owned());
                assert_eq!(store.put_if_absent(&n).await.unwrap(), PutOutcome::Created);
                let claim = Claim {
                    owner: "me".into(),
                    now_ms: now,
                    lease_until_ms: now + 1_000,
                    modified: n.modified.clone(),
                };
                let claimed = store.claim(&n.id, &claim).await.unwrap();
                let expected = status.is_claimable(lease, now);
                assert_eq!(
                    claimed.is_some(),
                    expected,
                    "{status} with lease {lease:?} at {now}"
                );
                claimable += usize::from(expected);
            }
        }
        // new and retrying with any lease, processing without one or with an expired one.
        assert_eq!(claimable, 4 + 4 + 2);
        // A lease that is not a number (written by hand, or NULL) is no lease: the item is
        // claimable, as the codec reads it, instead of stuck for ever.
        for (name, lease) in [
            ("string", AttributeValue::S("soon".into())),
            (
                "numeric-string",
                AttributeValue::S((now + 60_000).to_string()),
            ),
            ("null", AttributeValue::Null(true)),
        ] {
            let mut n = Notification::new(
                format!("processing-{name}-lease"),
                NotificationType::UserLogin,
                "l",
                serde_json::json!({}),
                time::OffsetDateTime::now_utc(),
            );
            n.status = ProcessingStatus::Processing;
            let mut item = crate::store::dynamodb::notification_to_item(&n);
            item.insert(LEASE_EXPIRES.to_owned(), lease);
            local
                .client()
                .put_item()
                .table_name(TableNames::for_stack(&stack).notifications)
                .set_item(Some(item.clone()))
                .send()
                .await
                .unwrap();
            let read = crate::store::dynamodb::notification_from_item("t", &item).unwrap();
            assert_eq!(read.lease_expires_ms, None, "{name}");
            let claim = Claim {
                owner: "me".into(),
                now_ms: now,
                lease_until_ms: now + 1_000,
                modified: n.modified.clone(),
            };
            let claimed = store.claim(&n.id, &claim).await.unwrap();
            assert!(
                claimed.is_some(),
                "a {name} lease must not make the item unclaimable"
            );
            assert_eq!(claimed.unwrap().unfinished_attempts, 1);
        }
    }
}

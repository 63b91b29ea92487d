//! [`DynamoBudgetStore`]: one HubSpot app's shared rate budget as one DynamoDB item, so that
//! every process (each Lambda invocation, the `crm` tool, other stacks using the same app)
//! spends one budget. See `hubspot_client::budget` for the scheme.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use hubspot_client::budget::{BudgetError, BudgetStore, Reservation};

use super::attr::{BUDGET_ITEM_TYPE, ID, TAT_US, TYPE};
use super::codec::{n, s};
use super::{is_condition_failure, sdk};

/// The default item id of an app's budget: `rate-budget/{app}`, `app` being the token item's
/// id (`hubspot`, `hubspot-emails`), so each OAuth app has its own budget, as HubSpot counts.
pub fn budget_item_id(app: &str) -> String {
    format!("rate-budget/{app}")
}

/// A [`BudgetStore`] on one DynamoDB item: `{id, type: "rate_budget", tat_us: N}`.
///
/// Each reservation is one conditional `UpdateItem`, with no read before it:
/// `ADD tat_us :advance` if the schedule is already running (`tat_us >= now`, and not beyond
/// `now + max_ahead`), else `SET tat_us = now + advance` if it is idle
/// (`tat_us < now` or absent). The first answers with the new value; a refused condition
/// returns the old item (`ReturnValuesOnConditionCheckFailure`), which says which case holds,
/// so a reservation is one write when the budget is busy and two when it was idle. The item
/// can share any table keyed by a string `id` (the stack uses its tokens table; the Python
/// stack reads only its token items there, by id).
#[derive(Debug, Clone)]
pub struct DynamoBudgetStore {
    client: Client,
    table: String,
    item_id: String,
}

impl DynamoBudgetStore {
    /// The budget item `item_id` in `table`.
    pub fn new(client: Client, table: impl Into<String>, item_id: impl Into<String>) -> Self {
        DynamoBudgetStore {
            client,
            table: table.into(),
            item_id: item_id.into(),
        }
    }

    /// The table it writes to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item it keeps the schedule in.
    pub fn item_id(&self) -> &str {
        &self.item_id
    }

    fn update(
        &self,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(ID, s(&self.item_id))
            .expression_attribute_names("#tat", TAT_US)
            .expression_attribute_names("#type", TYPE)
            .expression_attribute_values(":type", s(BUDGET_ITEM_TYPE))
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> BudgetError {
        BudgetError::new(format!("{what} {} in {}: {e}", self.item_id, self.table))
    }

    /// The schedule is running: move it on by `advance_us`. `Ok(Ok(previous))`, or
    /// `Ok(Err(old tat))` when the condition refused (the old value, `None` if absent).
    async fn advance(
        &self,
        now_us: u64,
        advance_us: u64,
        max_ahead_us: u64,
    ) -> Result<Result<u64, Option<u64>>, BudgetError> {
        let result = self
            .update()
            .update_expression("SET #type = :type ADD #tat :advance")
            .condition_expression("#tat >= :now AND #tat <= :cap")
            .expression_attribute_values(":advance", n(advance_us))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":cap", n(now_us.saturating_add(max_ahead_us)))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let new = out
                    .attributes()
                    .and_then(|a| a.get(TAT_US))
                    .and_then(number)
                    .ok_or_else(|| self.failed("reserve", "no tat_us in the answer"))?;
                Ok(Ok(new.saturating_sub(advance_us)))
            }
            Err(e) if is_condition_failure(&e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(ex)) => {
                        ex.item().and_then(|item| item.get(TAT_US)).and_then(number)
                    }
                    _ => None,
                };
                Ok(Err(old))
            }
            Err(e) => Err(self.failed("reserve", sdk("reserve", e))),
        }
    }

    /// The schedule is idle (absent, or behind `now`): start it at `now`. `Ok(true)` if this
    /// call started it, `Ok(false)` if another process moved it first.
    async fn start(&self, now_us: u64, advance_us: u64) -> Result<bool, BudgetError> {
        let result = self
            .update()
            .update_expression("SET #type = :type, #tat = :tat")
            .condition_expression("attribute_not_exists(#tat) OR #tat < :now")
            .expression_attribute_values(":tat", n(now_us.saturating_add(advance_us)))
            .expression_attribute_values(":now", n(now_us))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("reserve", sdk("reserve", e))),
        }
    }
}

fn number(value: &AttributeValue) -> Option<u64> {
    value.as_n().ok()?.parse().ok()
}

#[async_trait::async_trait]
impl BudgetStore for DynamoBudgetStore {
    async fn reserve(
        &self,
        now_us: u64,
        advance_us: u64,
        max_ahead_us: u64,
    ) -> Result<Reservation, BudgetError> {
        // Each round is one or two writes; another process can only win a round by moving
        // the schedule on, so a few rounds always settle.
        for _ in 0..4 {
            match self.advance(now_us, advance_us, max_ahead_us).await? {
                Ok(previous_us) => return Ok(Reservation::Granted { previous_us }),
                Err(Some(tat_us)) if tat_us > now_us.saturating_add(max_ahead_us) => {
                    return Ok(Reservation::Ahead { tat_us });
                }
                Err(Some(tat_us)) if tat_us >= now_us => continue,
                Err(old) => {
                    if self.start(now_us, advance_us).await? {
                        return Ok(Reservation::Granted {
                            previous_us: old.unwrap_or(0),
                        });
                    }
                }
            }
        }
        Err(self.failed("reserve", "the schedule kept changing under 4 attempts"))
    }

    async fn hold_until(&self, until_us: u64) -> Result<(), BudgetError> {
        let result = self
            .update()
            .update_expression("SET #type = :type, #tat = :until")
            .condition_expression("attribute_not_exists(#tat) OR #tat < :until")
            .expression_attribute_values(":until", n(until_us))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already held at least that long.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(self.failed("hold", sdk("hold", e))),
        }
    }
}

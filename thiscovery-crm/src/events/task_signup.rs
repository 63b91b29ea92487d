//! thiscovery-core's task signups (`detail-type` `task_signup`): a user-task record, sent to
//! HubSpot as a timeline event on the user's contact.
//!
//! Read as the Python stack reads it: `extra_data` merged over the record (a key in
//! `extra_data` wins), `id` and `created` required, `user_id` needed only when there is no
//! `crm_id` to find it by.

use serde_json::Value;
use time::OffsetDateTime;

use super::EventError;
use super::reader::At;

/// A user signed up for a task (thiscovery-core's user-task record).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskSignup {
    /// The user-task id (`detail.id`): the timeline event id.
    pub user_task_id: String,
    /// The thiscovery user id (needed to look up `crm_id` when the event has none).
    pub user_id: Option<String>,
    /// The project task id.
    pub project_task_id: Option<String>,
    /// When the signup was created.
    pub created: OffsetDateTime,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// Task id.
    pub task_id: String,
    /// Task name.
    pub task_name: String,
    /// Task type id.
    pub task_type_id: String,
    /// Task type name.
    pub task_type_name: String,
    /// The user's HubSpot contact id, when thiscovery-core knows it.
    pub crm_id: Option<String>,
}

impl TaskSignup {
    /// The user-task id alone (the notification id).
    pub fn id_from_detail(detail: &Value) -> Result<String, EventError> {
        At::root(detail, "detail").req("id")?.id()
    }

    /// Parses a `task_signup` detail (an event's, or a stored item's: the Python stack
    /// stores it unchanged).
    pub fn from_detail(detail: &Value) -> Result<TaskSignup, EventError> {
        let d = At::root(detail, "detail");
        let extra = d.req("extra_data")?;
        // `extra_data` merged over the record: its key wins, else the record's.
        let opt = |key: &str| -> Result<Option<At<'_>>, EventError> {
            Ok(match extra.opt(key)? {
                Some(a) => Some(a),
                None => d.opt(key)?,
            })
        };
        let req = |key: &str| -> Result<At<'_>, EventError> {
            opt(key)?.ok_or_else(|| EventError::Missing(format!("detail.extra_data.{key}")))
        };
        Ok(TaskSignup {
            user_task_id: d.req("id")?.id()?,
            user_id: opt("user_id")?.map(|a| a.id()).transpose()?,
            project_task_id: opt("project_task_id")?.map(|a| a.id()).transpose()?,
            created: d.req("created")?.time()?,
            project_id: req("project_id")?.id()?,
            project_name: req("project_name")?.string()?,
            task_id: req("task_id")?.id()?,
            task_name: req("task_name")?.string()?,
            task_type_id: req("task_type_id")?.id()?,
            task_type_name: req("task_type_name")?.string()?,
            // An empty `crm_id` is no id: it is looked up like a null one.
            crm_id: opt("crm_id")?
                .filter(|a| a.value.as_str().is_none_or(|s| !s.trim().is_empty()))
                .map(|a| a.id())
                .transpose()?,
        })
    }
}

//! thiscovery-core's task signups (`detail-type` `task_signup`): a user-task record, sent to
//! HubSpot as a timeline event on the user's contact.

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
    /// The thiscovery user id.
    pub user_id: String,
    /// The project task id.
    pub project_task_id: String,
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

    /// Parses a `task_signup` detail.
    pub fn from_detail(detail: &Value) -> Result<TaskSignup, EventError> {
        let d = At::root(detail, "detail");
        let extra = d.req("extra_data")?;
        Ok(TaskSignup {
            user_task_id: d.req("id")?.id()?,
            user_id: d.req("user_id")?.id()?,
            project_task_id: d.req("project_task_id")?.id()?,
            created: d.req("created")?.time()?,
            project_id: extra.req("project_id")?.id()?,
            project_name: extra.req("project_name")?.string()?,
            task_id: extra.req("task_id")?.id()?,
            task_name: extra.req("task_name")?.string()?,
            task_type_id: extra.req("task_type_id")?.id()?,
            task_type_name: extra.req("task_type_name")?.string()?,
            crm_id: extra
                .opt("crm_id")?
                .map(|a| a.id())
                .transpose()?
                .filter(|s| !s.is_empty()),
        })
    }
}

//! What thiscovery-core knows about users and projects, behind the [`UserDirectory`] trait:
//! an HTTP implementation for thiscovery-core's API ([`http::HttpDirectory`]) and an
//! in-memory one ([`MemoryDirectory`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod backfill;
pub mod http;

/// A thiscovery user, as thiscovery-core describes it (the fields this stack uses; the
/// record has more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The thiscovery user id.
    pub id: String,
    /// The user's email.
    pub email: String,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// The HubSpot contact id, once known.
    #[serde(default, deserialize_with = "string_or_number")]
    pub crm_id: Option<String>,
}

impl User {
    /// A user with an id and an email.
    pub fn new(id: impl Into<String>, email: impl Into<String>) -> Self {
        User {
            id: id.into(),
            email: email.into(),
            first_name: None,
            last_name: None,
            crm_id: None,
        }
    }

    /// Sets the names.
    pub fn names(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = Some(first.into());
        self.last_name = Some(last.into());
        self
    }

    /// Sets the HubSpot contact id.
    pub fn crm_id(mut self, crm_id: impl Into<String>) -> Self {
        self.crm_id = Some(crm_id.into());
        self
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A directory lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The user or project does not exist.
    #[error("{0} not found in thiscovery-core")]
    NotFound(String),
    /// thiscovery-core could not be reached or answered with an error.
    #[error("thiscovery-core request failed: {0}")]
    Unavailable(String),
    /// thiscovery-core's answer could not be understood.
    #[error("thiscovery-core answered something unexpected: {0}")]
    Invalid(String),
}

impl DirectoryError {
    /// `true` if trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DirectoryError::Unavailable(_))
    }
}

/// What the stack needs from thiscovery-core.
#[async_trait]
pub trait UserDirectory: Send + Sync + fmt::Debug {
    /// A user by thiscovery user id.
    async fn user_by_id(&self, id: &str) -> Result<User, DirectoryError>;
    /// A user by email.
    async fn user_by_email(&self, email: &str) -> Result<User, DirectoryError>;
    /// thiscovery-core's whole user record by email (`GET v1/user?email=`), as the Python
    /// stack stores it in a login's `details`. The default is the fields of
    /// [`user_by_email`](Self::user_by_email).
    async fn user_record_by_email(
        &self,
        email: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, DirectoryError> {
        let user = self.user_by_email(email).await?;
        match serde_json::to_value(user) {
            Ok(serde_json::Value::Object(record)) => Ok(record),
            _ => Err(DirectoryError::Invalid(
                "user record is not an object".into(),
            )),
        }
    }
    /// A user by anonymous project-specific user id.
    async fn user_by_anon_project_specific_id(&self, anon_id: &str)
    -> Result<User, DirectoryError>;
    /// The name of the project a project task belongs to.
    async fn project_name_of_task(&self, project_task_id: &str) -> Result<String, DirectoryError>;
    /// Records a user's HubSpot contact id.
    async fn set_crm_id(&self, user_id: &str, crm_id: &str) -> Result<(), DirectoryError>;

    /// One page of every user, ordered by id: up to `page_size` user records (thiscovery-core's
    /// JSON, as `GET v1/user/{id}` answers) after the user id `after`, and where the next
    /// page starts. What `crm backfill contacts` reads; see [`backfill`].
    ///
    /// The default implementation refuses ([`DirectoryError::Invalid`]): a directory that
    /// cannot list its users cannot be backfilled from.
    async fn list_users(
        &self,
        after: Option<&str>,
        page_size: usize,
    ) -> Result<backfill::UserPage, DirectoryError> {
        let _ = (after, page_size);
        Err(DirectoryError::Invalid(
            "this directory cannot list its users".into(),
        ))
    }
}

/// A directory in memory.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    users: HashMap<String, User>,
    anon_ids: HashMap<String, String>,
    task_projects: HashMap<String, String>,
    crm_id_writes: Vec<(String, String)>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        MemoryDirectory::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user.
    pub fn add_user(&self, user: User) {
        self.lock().users.insert(user.id.clone(), user);
    }

    /// Maps an anonymous project-specific id to a user id.
    pub fn add_anon_id(&self, anon_id: impl Into<String>, user_id: impl Into<String>) {
        self.lock().anon_ids.insert(anon_id.into(), user_id.into());
    }

    /// Records the project name of a project task.
    pub fn add_task(&self, project_task_id: impl Into<String>, project_name: impl Into<String>) {
        self.lock()
            .task_projects
            .insert(project_task_id.into(), project_name.into());
    }

    /// Every `set_crm_id` call so far, as (user id, crm id).
    pub fn crm_id_writes(&self) -> Vec<(String, String)> {
        self.lock().crm_id_writes.clone()
    }

    /// A user by id, as stored now.
    pub fn user(&self, id: &str) -> Option<User> {
        self.lock().users.get(id).cloned()
    }
}

#[async_trait]
impl UserDirectory for MemoryDirectory {
    async fn user_by_id(&self, id: &str) -> Result<User, DirectoryError> {
        self.user(id)
            .ok_or_else(|| DirectoryError::NotFound(format!("user {id}")))
    }

    async fn user_by_email(&self, email: &str) -> Result<User, DirectoryError> {
        let email = email.trim().to_lowercase();
        self.lock()
            .users
            .values()
            .find(|u| u.email.to_lowercase() == email)
            .cloned()
            .ok_or_else(|| DirectoryError::NotFound("user with that email".into()))
    }

    async fn user_by_anon_project_specific_id(
        &self,
        anon_id: &str,
    ) -> Result<User, DirectoryError> {
        let user_id =
            self.lock().anon_ids.get(anon_id).cloned().ok_or_else(|| {
                DirectoryError::NotFound(format!("anonymous project user {anon_id}"))
            })?;
        self.user_by_id(&user_id).await
    }

    async fn project_name_of_task(&self, project_task_id: &str) -> Result<String, DirectoryError> {
        self.lock()
            .task_projects
            .get(project_task_id)
            .cloned()
            .ok_or_else(|| DirectoryError::NotFound(format!("project task {project_task_id}")))
    }

    async fn list_users(
        &self,
        after: Option<&str>,
        page_size: usize,
    ) -> Result<backfill::UserPage, DirectoryError> {
        let state = self.lock();
        let mut users: Vec<&User> = state
            .users
            .values()
            .filter(|u| after.is_none_or(|a| u.id.as_str() > a))
            .collect();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        let page_size = page_size.max(1);
        let more = users.len() > page_size;
        users.truncate(page_size);
        Ok(backfill::UserPage {
            next: more.then(|| users.last().map(|u| u.id.clone())).flatten(),
            users: users
                .into_iter()
                .filter_map(|u| match serde_json::to_value(u) {
                    Ok(serde_json::Value::Object(record)) => Some(record),
                    _ => None,
                })
                .collect(),
        })
    }

    async fn set_crm_id(&self, user_id: &str, crm_id: &str) -> Result<(), DirectoryError> {
        let mut state = self.lock();
        let user = state
            .users
            .get_mut(user_id)
            .ok_or_else(|| DirectoryError::NotFound(format!("user {user_id}")))?;
        user.crm_id = Some(crm_id.to_owned());
        state
            .crm_id_writes
            .push((user_id.to_owned(), crm_id.to_owned()));
        Ok(())
    }
}

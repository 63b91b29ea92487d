//! thiscovery-core's user API over HTTP.
//!
//! | call | request |
//! |---|---|
//! | user by id | `GET v1/user/{id}` (the Python stack's call; core's later `v1/userv2` answers a different shape) |
//! | user by email | `GET v1/user?email=` |
//! | user by anonymous project-specific id | `GET v1/user?anon_project_specific_user_id=` |
//! | project name of a task | `GET v1/project` (cached for [`PROJECT_CACHE_TTL`]) |
//! | write back `crm_id` | `PATCH v1/user/{id}` with `[{"op":"replace","path":"/crm_id","value":...}]` |
//!
//! Every request carries the API key in `x-api-key`. A 404 is [`DirectoryError::NotFound`];
//! connection failures, timeouts and 5xx are [`DirectoryError::Unavailable`] (retryable).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::{DirectoryError, User, UserDirectory};

/// How long the project list is reused before it is fetched again.
pub const PROJECT_CACHE_TTL: Duration = Duration::from_secs(300);

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// A [`UserDirectory`] over thiscovery-core's HTTP API.
pub struct HttpDirectory {
    http: reqwest::Client,
    base: Url,
    api_key: SecretString,
    projects: Mutex<Option<(Instant, Vec<Value>)>>,
}

impl std::fmt::Debug for HttpDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDirectory")
            .field("base", &self.base.as_str())
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl HttpDirectory {
    /// A directory at `base_url` (e.g. `https://api.thiscovery.org/`) using `api_key`.
    pub fn new(base_url: &str, api_key: impl Into<String>) -> Result<Self, DirectoryError> {
        let mut base = Url::parse(base_url).map_err(|e| {
            DirectoryError::Invalid(format!("thiscovery-core base URL {base_url:?}: {e}"))
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| DirectoryError::Invalid(format!("HTTP client: {e}")))?;
        Ok(HttpDirectory {
            http,
            base,
            api_key: SecretString::from(api_key.into()),
            projects: Mutex::new(None),
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        what: &str,
    ) -> Result<Option<Value>, DirectoryError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| DirectoryError::Invalid(format!("{path}: {e}")))?;
        let mut request = self
            .http
            .request(method, url)
            .header(API_KEY_HEADER, self.api_key.expose_secret())
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        // reqwest's errors name the URL, query included (`?email=...`): drop it, so no
        // address reaches a log line or a stored message.
        let response = request
            .send()
            .await
            .map_err(|e| DirectoryError::Unavailable(format!("{what}: {}", e.without_url())))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| DirectoryError::Unavailable(format!("{what}: {}", e.without_url())))?;
        match status {
            s if s.is_success() => {
                if bytes.is_empty() {
                    return Ok(None);
                }
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| DirectoryError::Invalid(format!("{what}: {e}")))
            }
            StatusCode::NOT_FOUND => Err(DirectoryError::NotFound(what.to_owned())),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => Err(
                DirectoryError::Unavailable(format!("{what}: thiscovery-core answered {s}")),
            ),
            s => Err(DirectoryError::Invalid(format!(
                "{what}: thiscovery-core answered {s}"
            ))),
        }
    }

    async fn user(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<User, DirectoryError> {
        let value = self
            .request(Method::GET, path, query, None, what)
            .await?
            .ok_or_else(|| DirectoryError::Invalid(format!("{what}: empty answer")))?;
        serde_json::from_value(value).map_err(|e| DirectoryError::Invalid(format!("{what}: {e}")))
    }

    async fn project_list(&self) -> Result<Vec<Value>, DirectoryError> {
        let mut cache = self.projects.lock().await;
        if let Some((at, projects)) = cache.as_ref()
            && at.elapsed() < PROJECT_CACHE_TTL
        {
            return Ok(projects.clone());
        }
        let projects = match self
            .request(Method::GET, "v1/project", &[], None, "project list")
            .await?
        {
            Some(Value::Array(projects)) => projects,
            _ => {
                return Err(DirectoryError::Invalid(
                    "project list is not an array".into(),
                ));
            }
        };
        *cache = Some((Instant::now(), projects.clone()));
        Ok(projects)
    }
}

fn project_of_task<'a>(projects: &'a [Value], task_id: &str) -> Option<&'a str> {
    projects.iter().find_map(|project| {
        let tasks = project.get("tasks")?.as_array()?;
        tasks
            .iter()
            .any(|t| t.get("id").and_then(Value::as_str) == Some(task_id))
            .then(|| project.get("name").and_then(Value::as_str))
            .flatten()
    })
}

#[async_trait]
impl UserDirectory for HttpDirectory {
    async fn user_by_id(&self, id: &str) -> Result<User, DirectoryError> {
        let path = format!("v1/user/{}", encode(id));
        self.user(&path, &[], &format!("user {id}")).await
    }

    async fn user_by_email(&self, email: &str) -> Result<User, DirectoryError> {
        self.user("v1/user", &[("email", email)], "user with that email")
            .await
    }

    async fn user_record_by_email(
        &self,
        email: &str,
    ) -> Result<serde_json::Map<String, Value>, DirectoryError> {
        let what = "user with that email";
        match self
            .request(Method::GET, "v1/user", &[("email", email)], None, what)
            .await?
        {
            Some(Value::Object(record)) => Ok(record),
            _ => Err(DirectoryError::Invalid(format!(
                "{what}: not a JSON object"
            ))),
        }
    }

    async fn user_by_anon_project_specific_id(
        &self,
        anon_id: &str,
    ) -> Result<User, DirectoryError> {
        self.user(
            "v1/user",
            &[("anon_project_specific_user_id", anon_id)],
            &format!("anonymous project user {anon_id}"),
        )
        .await
    }

    async fn project_name_of_task(&self, project_task_id: &str) -> Result<String, DirectoryError> {
        let projects = self.project_list().await?;
        project_of_task(&projects, project_task_id)
            .map(str::to_owned)
            .ok_or_else(|| DirectoryError::NotFound(format!("project task {project_task_id}")))
    }

    async fn set_crm_id(&self, user_id: &str, crm_id: &str) -> Result<(), DirectoryError> {
        let path = format!("v1/user/{}", encode(user_id));
        let patch = json!([{"op": "replace", "path": "/crm_id", "value": crm_id}]);
        self.request(
            Method::PATCH,
            &path,
            &[],
            Some(patch),
            &format!("user {user_id}"),
        )
        .await
        .map(|_| ())
    }
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_project_of_a_task() {
        let projects = vec![
            json!({"id": "p1", "name": "One", "tasks": [{"id": "t1"}]}),
            json!({"id": "p2", "name": "Two", "tasks": [{"id": "t2"}, {"id": "t3"}]}),
        ];
        assert_eq!(project_of_task(&projects, "t3"), Some("Two"));
        assert_eq!(project_of_task(&projects, "t9"), None);
    }

    #[tokio::test]
    async fn a_failed_request_names_no_email_address() {
        // Nothing listens on port 1: the connection is refused.
        let d = HttpDirectory::new("http://127.0.0.1:1", "k").unwrap();
        let err = d.user_by_email("altha@email.co.uk").await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(err.is_retryable(), "{shown}");
        assert!(
            !shown.contains("altha") && !shown.contains("email.co.uk"),
            "{shown}"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let d = HttpDirectory::new("http://localhost:1", "SECRET-KEY").unwrap();
        assert!(!format!("{d:?}").contains("SECRET-KEY"));
        assert!(HttpDirectory::new("not a url", "k").is_err());
    }
}

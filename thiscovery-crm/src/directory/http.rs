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
//!
//! The key can be rotated: with an [`ApiKeySource`] ([`HttpDirectory::with_key_source`]), a
//! request thiscovery-core refuses with 401 or 403 (API Gateway answers 403 to a wrong
//! `x-api-key`) reads the key again, once for all the requests refused with the same key,
//! and, if it changed, is sent once more with the new key.

use std::fmt;
use std::sync::{Arc, RwLock};
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

/// The error an [`ApiKeySource`] returns.
pub type ApiKeySourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where thiscovery-core's API key can be read again: a secret store whose value may have
/// been rotated since the directory was built (the stack's is `{ns}aws-connection`).
///
/// [`HttpDirectory`] asks it only after thiscovery-core refused the key (401 or 403), once
/// per refused key.
#[async_trait]
pub trait ApiKeySource: Send + Sync + fmt::Debug {
    /// The API key as the source holds it now.
    async fn reload(&self) -> Result<SecretString, ApiKeySourceError>;
}

/// A [`UserDirectory`] over thiscovery-core's HTTP API.
pub struct HttpDirectory {
    http: reqwest::Client,
    base: Url,
    api_key: RwLock<SecretString>,
    key_source: Option<Arc<dyn ApiKeySource>>,
    /// Held while the key is read again, so requests refused together read it once.
    reload_lock: Mutex<()>,
    projects: Mutex<Option<(Instant, Vec<Value>)>>,
}

impl fmt::Debug for HttpDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDirectory")
            .field("base", &self.base.as_str())
            .field("api_key", &"[REDACTED]")
            .field("key_source", &self.key_source)
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
            api_key: RwLock::new(SecretString::from(api_key.into())),
            key_source: None,
            reload_lock: Mutex::new(()),
            projects: Mutex::new(None),
        })
    }

    /// The same directory, reading the API key again from `source` when thiscovery-core
    /// refuses it (see the module docs).
    pub fn with_key_source(mut self, source: Arc<dyn ApiKeySource>) -> Self {
        self.key_source = Some(source);
        self
    }

    fn api_key(&self) -> SecretString {
        self.api_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// After thiscovery-core refused `refused`: the key to try instead, if there is one. A
    /// request refused together with others finds the key another one already read; else
    /// the source is asked (logged on failure, never the key). `None` when there is no
    /// source, it failed, or it holds the refused key still.
    async fn rotated_key(&self, refused: &SecretString) -> Option<SecretString> {
        let source = self.key_source.as_ref()?;
        let _guard = self.reload_lock.lock().await;
        let current = self.api_key();
        if current.expose_secret() != refused.expose_secret() {
            return Some(current);
        }
        match source.reload().await {
            Ok(key) if key.expose_secret() != refused.expose_secret() => {
                tracing::info!("thiscovery-core refused its API key; using the key read again");
                *self.api_key.write().unwrap_or_else(|e| e.into_inner()) = key.clone();
                Some(key)
            }
            Ok(_) => {
                tracing::warn!("thiscovery-core refused its API key, and the key has not changed");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "could not read thiscovery-core's API key again");
                None
            }
        }
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
        let key = self.api_key();
        let send = |key: SecretString| {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(API_KEY_HEADER, key.expose_secret())
                .query(query);
            if let Some(body) = &body {
                request = request.json(body);
            }
            async move {
                // reqwest's errors name the URL, query included (`?email=...`): drop it, so
                // no address reaches a log line or a stored message.
                let unavailable = |e: reqwest::Error| {
                    DirectoryError::Unavailable(format!("{what}: {}", e.without_url()))
                };
                let response = request.send().await.map_err(unavailable)?;
                let status = response.status();
                let bytes = response.bytes().await.map_err(unavailable)?;
                Ok::<_, DirectoryError>((status, bytes))
            }
        };
        let (mut status, mut bytes) = send(key.clone()).await?;
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            && let Some(rotated) = self.rotated_key(&key).await
        {
            (status, bytes) = send(rotated).await?;
        }
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

    async fn list_users(
        &self,
        after: Option<&str>,
        page_size: usize,
    ) -> Result<super::backfill::UserPage, DirectoryError> {
        let page_size = page_size.max(1).to_string();
        let mut query = vec![("page_size", page_size.as_str())];
        if let Some(after) = after {
            query.push(("after", after));
        }
        let what = "user list";
        let value = self
            .request(
                Method::GET,
                super::backfill::LIST_USERS_PATH,
                &query,
                None,
                what,
            )
            .await?
            .ok_or_else(|| DirectoryError::Invalid(format!("{what}: empty answer")))?;
        serde_json::from_value(value).map_err(|e| DirectoryError::Invalid(format!("{what}: {e}")))
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

#[cfg(test)]
mod rotation_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crm_testkit::core::{ALTHA_USER_ID, FakeCore};

    use super::*;

    /// A key source holding `key`, counting how often it is asked.
    struct Source {
        key: std::sync::Mutex<String>,
        reloads: AtomicUsize,
    }

    impl fmt::Debug for Source {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Source([REDACTED])")
        }
    }

    impl Source {
        fn holding(key: &str) -> Arc<Self> {
            Arc::new(Source {
                key: std::sync::Mutex::new(key.to_owned()),
                reloads: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl ApiKeySource for Source {
        async fn reload(&self) -> Result<SecretString, ApiKeySourceError> {
            self.reloads.fetch_add(1, Ordering::SeqCst);
            Ok(SecretString::from(self.key.lock().unwrap().clone()))
        }
    }

    fn statuses(core: &FakeCore) -> Vec<u16> {
        core.requests().iter().map(|r| r.status).collect()
    }

    #[tokio::test]
    async fn a_refused_key_is_read_again_once_and_the_request_resent() {
        let core = FakeCore::start().await;
        let source = Source::holding("rotated-KEY");
        let directory = HttpDirectory::new(&core.base_url(), core.api_key())
            .unwrap()
            .with_key_source(source.clone());
        directory.user_by_id(ALTHA_USER_ID).await.unwrap();
        core.set_api_key("rotated-KEY");
        let user = directory.user_by_id(ALTHA_USER_ID).await.unwrap();
        assert_eq!(user.id, ALTHA_USER_ID);
        assert_eq!(statuses(&core), [200, 403, 200]);
        assert_eq!(source.reloads.load(Ordering::SeqCst), 1);
        // The new key is kept: no more refusals, no more reads.
        directory.user_by_id(ALTHA_USER_ID).await.unwrap();
        assert_eq!(statuses(&core), [200, 403, 200, 200]);
        assert_eq!(source.reloads.load(Ordering::SeqCst), 1);
        assert!(!format!("{directory:?}").contains("rotated-KEY"));
    }

    #[tokio::test]
    async fn a_refused_key_that_has_not_changed_is_not_resent() {
        let core = FakeCore::builder()
            .with_defaults()
            .api_key("the-real-key")
            .start()
            .await;
        let source = Source::holding("stale-key");
        let directory = HttpDirectory::new(&core.base_url(), "stale-key")
            .unwrap()
            .with_key_source(source.clone());
        let err = directory.user_by_id(ALTHA_USER_ID).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(err.to_string().contains("403"), "{err}");
        assert_eq!(statuses(&core), [403]);
        assert_eq!(source.reloads.load(Ordering::SeqCst), 1);
        // Without a source, a refusal is an error at once.
        let plain = HttpDirectory::new(&core.base_url(), "stale-key").unwrap();
        plain.user_by_id(ALTHA_USER_ID).await.unwrap_err();
        assert_eq!(statuses(&core), [403, 403]);
    }
}

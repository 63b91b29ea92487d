//! A stateful HTTP fake of thiscovery-core's user and project API (wiremock).
//!
//! Routes (every one requires the `x-api-key` header; without the right key: `403`
//! `{"message": "Forbidden"}`, as API Gateway answers):
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/userv2/{id}` (also `GET /v1/user/{id}`) | the user, or `404` |
//! | `GET /v1/user?email=...` (also `/v1/userv2`) | the user with that email (case-insensitive), or `404` |
//! | `GET /v1/user?anon_project_specific_user_id=...` (also `/v1/userv2`) | the user that anonymous project-specific id belongs to, or `404` |
//! | `PATCH /v1/user/{id}` (also `/v1/userv2/{id}`) | JSON Patch (`replace`/`add` of top-level fields); applied to the user, recorded (see [`FakeCore::crm_id_patches`]); `204`, `404`, or `400` for a bad body |
//! | `GET /v1/users?page_size=N[&after=ID]` | a page of every user, ordered by id: `{"users": [...], "next": <last id, or null after the last page>}`; `page_size` 1-100 (else `400`). thiscovery-core's list call is an assumption of this stack (the Python stack never listed users): see `thiscovery_crm::directory::backfill` |
//! | `GET /v1/project` | every project, each with `id`, `name` and `tasks: [{id, name, description, ...}]` |
//! | `GET /v1/project/{id}` | one project, or `404` |
//!
//! Errors are JSON `{"message": ..., "correlation_id": ...}`, thiscovery-core's shape. Any other
//! route answers `501` naming the method and path, so a wrong path never passes silently.
//!
//! Users are stored as the JSON thiscovery-core returns (see `fixtures/core-user.json`); the
//! fake keeps its own JSON state and shares no model with the code under test.
//!
//! ```no_run
//! # async fn example() {
//! use crm_testkit::core::{ALTHA_USER_ID, FakeCore};
//!
//! let core = FakeCore::start().await; // default api key and data
//! // point the code under test at core.base_url() with core.api_key(), then:
//! assert_eq!(core.crm_id_patches().len(), 0);
//! assert_eq!(core.user(ALTHA_USER_ID).unwrap()["crm_id"], serde_json::Value::Null);
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The API key [`FakeCore::start`] and [`FakeCore::builder`] use unless told otherwise.
pub const DEFAULT_API_KEY: &str = "fake-core-api-key";
/// The header thiscovery-core reads the API key from.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The fixture user (`fixtures/core-user.json`): Altha Alcorn.
pub const ALTHA_USER_ID: &str = "d1070e81-557e-40eb-a7ba-b951ddb7ebdc";
/// Altha's email.
pub const ALTHA_EMAIL: &str = "altha@email.co.uk";
/// Altha's anonymous project-specific user id in [`DEFAULT_PROJECT_ID`] (the one the
/// `custom-email.json` event carries).
pub const ALTHA_ANON_PROJECT_SPECIFIC_USER_ID: &str = "1ef35c8b-6f78-4c45-8de0-9e7e4f297b20";

/// The user of the `task-signup.json` event (a made-up record; only the id, first name and
/// `crm_id` come from the event).
pub const STEVEN_USER_ID: &str = "dceac123-03a7-4e29-ab5a-739e347b374d";

/// The project of the `task-signup.json` event.
pub const DEFAULT_PROJECT_ID: &str = "5907275b-6d75-4ec0-ada8-5854b44fb955";
/// Its name.
pub const DEFAULT_PROJECT_NAME: &str = "PSFU-05-pub-act";
/// The task of the `task-signup.json` event.
pub const TASK_SIGNUP_TASK_ID: &str = "6cf2f34e-e73f-40b1-99a1-d06c1f24381a";
/// Its name.
pub const TASK_SIGNUP_TASK_NAME: &str = "PSFU-05-A";
/// The task of the `custom-email.json` event (in the same project).
pub const CUSTOM_EMAIL_TASK_ID: &str = "b335c46a-bc1b-4f3d-ad0f-0b8d0826a908";

const ALTHA_JSON: &str = include_str!("../fixtures/core-user.json");

/// A `PATCH /v1/user/{id}` that set `crm_id`, as recorded by the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmIdPatch {
    /// The user id from the path.
    pub user_id: String,
    /// The value written to `crm_id` (thiscovery sends a string).
    pub crm_id: Value,
}

/// Every request the fake answered, in order (method, path and query; never bodies or keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRequest {
    /// The HTTP method.
    pub method: String,
    /// The path, e.g. `/v1/userv2/d1070e81-...`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The status the fake answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    api_key: String,
    /// Users by id, as JSON objects.
    users: BTreeMap<String, Map<String, Value>>,
    /// Anonymous project-specific user id -> (user id, project id).
    anon_ids: BTreeMap<String, (String, String)>,
    /// Projects in seeding order.
    projects: Vec<Value>,
    patches: Vec<CrmIdPatch>,
    journal: Vec<CoreRequest>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide the state from the others.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a [`FakeCore`]: API key and seed data.
#[derive(Debug, Default)]
pub struct FakeCoreBuilder {
    state: State,
}

/// A running fake thiscovery-core. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeCore {
    server: MockServer,
    state: Shared,
}

impl FakeCore {
    /// Starts a fake with [`DEFAULT_API_KEY`] and the default data
    /// ([`FakeCoreBuilder::with_defaults`]).
    pub async fn start() -> Self {
        Self::builder().with_defaults().start().await
    }

    /// A builder with [`DEFAULT_API_KEY`] and no data.
    pub fn builder() -> FakeCoreBuilder {
        FakeCoreBuilder {
            state: State {
                api_key: DEFAULT_API_KEY.to_owned(),
                ..State::default()
            },
        }
    }

    /// The base URL to give the code under test, e.g. `http://127.0.0.1:41234` (no trailing
    /// slash; the routes start with `/v1/`).
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// The API key the fake requires in `x-api-key`.
    pub fn api_key(&self) -> String {
        lock(&self.state).api_key.clone()
    }

    /// Rotates the API key while running: from now on only `key` is accepted (the old one
    /// gets `403`, as API Gateway answers a key it no longer knows).
    pub fn set_api_key(&self, key: impl Into<String>) {
        lock(&self.state).api_key = key.into();
    }

    /// The user with this id as the fake now holds it (patches applied).
    pub fn user(&self, id: &str) -> Option<Value> {
        lock(&self.state).users.get(id).cloned().map(Value::Object)
    }

    /// Every user, ordered by id.
    pub fn users(&self) -> Vec<Value> {
        lock(&self.state)
            .users
            .values()
            .cloned()
            .map(Value::Object)
            .collect()
    }

    /// Every `crm_id` written through `PATCH /v1/user/{id}`, in order.
    pub fn crm_id_patches(&self) -> Vec<CrmIdPatch> {
        lock(&self.state).patches.clone()
    }

    /// Every request answered, in order.
    pub fn requests(&self) -> Vec<CoreRequest> {
        lock(&self.state).journal.clone()
    }

    /// Adds (or replaces) a user while running. See [`FakeCoreBuilder::seed_user`].
    ///
    /// # Panics
    /// If `user` is not a JSON object with a string `id`.
    pub fn seed_user(&self, user: Value) {
        insert_user(&mut lock(&self.state), user);
    }

    /// Maps an anonymous project-specific user id to a user while running.
    pub fn seed_anon_project_specific_user_id(
        &self,
        anon_id: impl Into<String>,
        user_id: impl Into<String>,
        project_id: impl Into<String>,
    ) {
        lock(&self.state)
            .anon_ids
            .insert(anon_id.into(), (user_id.into(), project_id.into()));
    }

    /// Adds a project while running. See [`FakeCoreBuilder::seed_project`].
    pub fn seed_project(&self, project: Value) {
        lock(&self.state).projects.push(project);
    }
}

impl FakeCoreBuilder {
    /// The API key to require (default [`DEFAULT_API_KEY`]).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.state.api_key = key.into();
        self
    }

    /// Adds a user in the shape of thiscovery-core's user record (`fixtures/core-user.json`):
    /// a JSON object with at least a string `id`; `email` is what `?email=` matches.
    ///
    /// # Panics
    /// If `user` is not a JSON object with a string `id`.
    pub fn seed_user(mut self, user: Value) -> Self {
        insert_user(&mut self.state, user);
        self
    }

    /// Makes `anon_id` the anonymous project-specific id of `user_id` in `project_id`, for
    /// `GET /v1/user?anon_project_specific_user_id=`.
    pub fn anon_project_specific_user_id(
        mut self,
        anon_id: impl Into<String>,
        user_id: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Self {
        self.state
            .anon_ids
            .insert(anon_id.into(), (user_id.into(), project_id.into()));
        self
    }

    /// Adds a project as `GET /v1/project` lists it: an object with `id`, `name` and
    /// `tasks: [{"id", "name", "description", ...}]`; [`project`] builds one.
    pub fn seed_project(mut self, project: Value) -> Self {
        self.state.projects.push(project);
        self
    }

    /// Seeds the data the fixtures in `shared/fixtures` refer to:
    /// - Altha ([`ALTHA_USER_ID`], [`ALTHA_EMAIL`]) from `fixtures/core-user.json`, with
    ///   `crm_id: null`, and her anonymous id [`ALTHA_ANON_PROJECT_SPECIFIC_USER_ID`] in
    ///   [`DEFAULT_PROJECT_ID`] (`custom-email.json`);
    /// - Steven ([`STEVEN_USER_ID`], crm id `74701`), the user of `task-signup.json`;
    /// - project [`DEFAULT_PROJECT_ID`] ("PSFU-05-pub-act") with the `task-signup.json` task
    ///   ([`TASK_SIGNUP_TASK_ID`], "PSFU-05-A", a "Photo upload") and the `custom-email.json`
    ///   task ([`CUSTOM_EMAIL_TASK_ID`]).
    pub fn with_defaults(self) -> Self {
        let altha = serde_json::from_str(ALTHA_JSON).unwrap_or(Value::Null);
        self.seed_user(altha)
            .seed_user(json!({
                "id": STEVEN_USER_ID,
                "created": "2018-06-12T16:16:56.087895+01:00",
                "modified": "2018-06-12T16:16:56.087895+01:00",
                "email": "steven@email.co.uk",
                "title": "Mr",
                "first_name": "Steven",
                "last_name": "Smith",
                "country_code": "GB",
                "country_name": "United Kingdom",
                "auth0_id": null,
                "crm_id": "74701",
                "status": null,
                "has_demo_project": true,
                "has_live_project": true,
                "avatar_string": "SS"
            }))
            .anon_project_specific_user_id(
                ALTHA_ANON_PROJECT_SPECIFIC_USER_ID,
                ALTHA_USER_ID,
                DEFAULT_PROJECT_ID,
            )
            .seed_project(project(
                DEFAULT_PROJECT_ID,
                DEFAULT_PROJECT_NAME,
                [
                    task(TASK_SIGNUP_TASK_ID, TASK_SIGNUP_TASK_NAME)
                        .with_type("a5537c85-7d29-4500-9986-ddc18b27d46f", "Photo upload"),
                    task(CUSTOM_EMAIL_TASK_ID, "Interview"),
                ],
            ))
    }

    /// Starts the server.
    pub async fn start(self) -> FakeCore {
        let state: Shared = Arc::new(Mutex::new(self.state));
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(Router {
                state: Arc::clone(&state),
            })
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        FakeCore { server, state }
    }
}

/// A task for [`project`].
#[derive(Debug, Clone)]
pub struct TaskSeed(Map<String, Value>);

impl TaskSeed {
    /// Sets `task_type_id` and `task_type_name`.
    pub fn with_type(mut self, id: &str, name: &str) -> Self {
        self.0.insert("task_type_id".to_owned(), json!(id));
        self.0.insert("task_type_name".to_owned(), json!(name));
        self
    }

    /// Sets any other field.
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.0.insert(field.to_owned(), value);
        self
    }
}

/// A task with `id`, and `name` and `description` both set to `name`.
pub fn task(id: &str, name: &str) -> TaskSeed {
    let mut fields = Map::new();
    fields.insert("id".to_owned(), json!(id));
    fields.insert("name".to_owned(), json!(name));
    fields.insert("description".to_owned(), json!(name));
    TaskSeed(fields)
}

/// A project as `GET /v1/project` lists it: `id`, `name`, `short_name` and `tasks`.
pub fn project(id: &str, name: &str, tasks: impl IntoIterator<Item = TaskSeed>) -> Value {
    let tasks: Vec<Value> = tasks.into_iter().map(|t| Value::Object(t.0)).collect();
    json!({ "id": id, "name": name, "short_name": name, "tasks": tasks })
}

fn insert_user(state: &mut State, user: Value) {
    let Value::Object(fields) = user else {
        panic!("FakeCore::seed_user: a user must be a JSON object, got {user}");
    };
    let Some(id) = fields.get("id").and_then(Value::as_str).map(str::to_owned) else {
        panic!("FakeCore::seed_user: a user needs a string `id`");
    };
    state.users.insert(id, fields);
}

/// The one low-priority mock that answers every request from the state.
struct Router {
    state: Shared,
}

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let (status, body) = route(&mut state, request);
        state.journal.push(CoreRequest {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            status,
        });
        let response = ResponseTemplate::new(status);
        match body {
            Some(body) => response.set_body_json(body),
            None => response,
        }
    }
}

fn error(status: u16, message: impl Into<String>) -> (u16, Option<Value>) {
    static CORRELATION: AtomicU64 = AtomicU64::new(1);
    let correlation_id = format!(
        "fake-core-{:08}",
        CORRELATION.fetch_add(1, Ordering::Relaxed)
    );
    (
        status,
        Some(json!({ "message": message.into(), "correlation_id": correlation_id })),
    )
}

fn route(state: &mut State, request: &Request) -> (u16, Option<Value>) {
    let key = request
        .headers
        .get(API_KEY_HEADER)
        .and_then(|value| value.to_str().ok());
    if key != Some(state.api_key.as_str()) {
        return (403, Some(json!({ "message": "Forbidden" })));
    }
    let method = request.method.as_str();
    let segments: Vec<&str> = request.url.path().trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["v1", "user" | "userv2"]) => find_user(state, request),
        ("GET", ["v1", "users"]) => list_users(state, request),
        ("GET", ["v1", "user" | "userv2", id]) => user_by_id(state, id),
        ("PATCH", ["v1", "user" | "userv2", id]) => patch_user(state, id, &request.body),
        ("GET", ["v1", "project"]) => (200, Some(Value::Array(state.projects.clone()))),
        ("GET", ["v1", "project", id]) => state
            .projects
            .iter()
            .find(|project| project.get("id").and_then(Value::as_str) == Some(*id))
            .map(|project| (200, Some(project.clone())))
            .unwrap_or_else(|| error(404, format!("project {id} not found"))),
        _ => error(
            501,
            format!(
                "FakeCore does not implement {method} {}",
                request.url.path()
            ),
        ),
    }
}

fn list_users(state: &State, request: &Request) -> (u16, Option<Value>) {
    let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
    let page_size = match query.get("page_size").map(|p| p.parse::<usize>()) {
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return error(400, "page_size must be a whole number from 1 to 100"),
    };
    let after = query.get("after");
    let mut page: Vec<Value> = state
        .users
        .iter()
        .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a.as_str()))
        .take(page_size + 1)
        .map(|(_, user)| Value::Object(user.clone()))
        .collect();
    let more = page.len() > page_size;
    page.truncate(page_size);
    let next = if more {
        page.last().and_then(|u| u.get("id")).cloned()
    } else {
        None
    };
    (
        200,
        Some(json!({ "users": page, "next": next.unwrap_or(Value::Null) })),
    )
}

fn user_by_id(state: &State, id: &str) -> (u16, Option<Value>) {
    match state.users.get(id) {
        Some(user) => (200, Some(Value::Object(user.clone()))),
        None => error(404, format!("user {id} not found")),
    }
}

fn find_user(state: &State, request: &Request) -> (u16, Option<Value>) {
    let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
    if let Some(email) = query.get("email") {
        let found = state.users.values().find(|user| {
            user.get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        return match found {
            Some(user) => (200, Some(Value::Object(user.clone()))),
            None => error(404, "user with this email not found"),
        };
    }
    if let Some(anon_id) = query.get("anon_project_specific_user_id") {
        return match state.anon_ids.get(anon_id) {
            Some((user_id, _project_id)) => user_by_id(state, user_id),
            None => error(
                404,
                format!("no user with anon_project_specific_user_id {anon_id}"),
            ),
        };
    }
    error(
        400,
        "query parameter email or anon_project_specific_user_id is required",
    )
}

fn patch_user(state: &mut State, id: &str, body: &[u8]) -> (u16, Option<Value>) {
    let Ok(Value::Array(operations)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "the body must be a JSON Patch array");
    };
    // Validate everything before applying anything: a JSON Patch is atomic.
    let mut changes = Vec::with_capacity(operations.len());
    for operation in &operations {
        let op = operation.get("op").and_then(Value::as_str);
        let path = operation.get("path").and_then(Value::as_str);
        let value = operation.get("value");
        match (op, path, value) {
            (Some("replace" | "add"), Some(path), Some(value))
                if path.starts_with('/') && path.len() > 1 && !path[1..].contains('/') =>
            {
                changes.push((path[1..].to_owned(), value.clone()));
            }
            _ => {
                return error(400, format!("unsupported JSON Patch operation {operation}"));
            }
        }
    }
    let Some(user) = state.users.get_mut(id) else {
        return error(404, format!("user {id} not found"));
    };
    for (field, value) in changes {
        if field == "crm_id" {
            state.patches.push(CrmIdPatch {
                user_id: id.to_owned(),
                crm_id: value.clone(),
            });
        }
        user.insert(field, value);
    }
    (204, None)
}

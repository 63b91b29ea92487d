//! A local Lambda Runtime API, for running a Lambda function binary as a process: it hands
//! out queued events on `GET .../invocation/next` and records what the function posts back.
//!
//! ```no_run
//! # async fn demo() {
//! use crm_testkit::lambda::LambdaRuntime;
//! use serde_json::json;
//!
//! let runtime = LambdaRuntime::start().await;
//! runtime.push("sweep", json!({"action": "process_notifications"}));
//! let mut cmd = tokio::process::Command::new("target/debug/lambda");
//! cmd.env_clear().envs(runtime.function_env());
//! let mut child = cmd.spawn().unwrap();
//! while runtime.answers().is_empty() {
//!     tokio::time::sleep(std::time::Duration::from_millis(50)).await;
//! }
//! child.start_kill().unwrap();
//! let (request_id, response) = runtime.responses().remove(0);
//! assert_eq!(request_id, "sweep");
//! # let _ = response;
//! # }
//! ```
//!
//! What it serves (everything else answers wiremock's 404):
//!
//! - `GET /2018-06-01/runtime/invocation/next`: the oldest queued event, with the
//!   `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id`
//!   headers. With nothing queued, the poll is held for an hour, as the real API holds it until
//!   an event arrives; an event pushed meanwhile goes to the next poll (of a new process, say).
//! - `POST /2018-06-01/runtime/invocation/{id}/response`, `.../invocation/{id}/error` and
//!   `.../init/error`: recorded as an [`Answer`], answered `202 {"status":"OK"}`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The Runtime API's path prefix.
pub const API_PREFIX: &str = "/2018-06-01/runtime";
/// The function name in [`function_env`] and [`FUNCTION_ARN`].
pub const FUNCTION_NAME: &str = "thiscovery-crm";
/// The `Lambda-Runtime-Invoked-Function-Arn` handed out with every event.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:thiscovery-crm";
/// The `Lambda-Runtime-Trace-Id` handed out with every event.
pub const TRACE_ID: &str = "Root=1-00000000-000000000000000000000000";
/// How long a poll that finds no event is held before it is answered (empty).
pub const HELD_POLL: Duration = Duration::from_secs(3600);

/// The environment the Lambda runtime needs to run a function against the Runtime API at
/// `runtime_api` (`host:port`, as `AWS_LAMBDA_RUNTIME_API` takes it): the function's name,
/// memory, version and log names, `AWS_REGION` and dummy credentials. Add the function's own
/// configuration (and `PATH`, after an `env_clear`) yourself.
pub fn function_env(runtime_api: &str) -> Vec<(&'static str, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "test"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_owned()))
    .collect()
}

/// The `Lambda-Runtime-Deadline-Ms` handed out with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deadline {
    /// This long after the event is handed out (the default: a minute).
    After(Duration),
    /// This many milliseconds since the Unix epoch, whenever it is handed out. `0` is what a
    /// default `lambda_runtime::Context` has.
    AtMillis(u64),
}

impl Default for Deadline {
    fn default() -> Self {
        Deadline::After(Duration::from_secs(60))
    }
}

impl Deadline {
    fn millis(self) -> u64 {
        match self {
            Deadline::After(d) => {
                let at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    + d;
                u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
            }
            Deadline::AtMillis(ms) => ms,
        }
    }
}

/// What a function posted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnswerKind {
    /// `POST .../invocation/{id}/response`: the invocation's result.
    Response,
    /// `POST .../invocation/{id}/error` (or any other `POST` under [`API_PREFIX`]).
    Error,
    /// `POST .../init/error`: the function failed to start.
    InitError,
}

/// One `POST` the function made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The invocation's request id (`None` for [`AnswerKind::InitError`]).
    pub request_id: Option<String>,
    /// Which kind of post it was.
    pub kind: AnswerKind,
    /// The body, as text (lossy UTF-8).
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Answer {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A request to the Runtime API, as [`LambdaRuntimeBuilder::on_call`] sees it: before it is
/// recorded and answered, while the function waits.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Call<'a> {
    /// The `poll`th `GET .../invocation/next` (from 1).
    Next {
        /// How many polls there have been, this one included.
        poll: usize,
    },
    /// A `POST` back, about to be recorded.
    Answer(&'a Answer),
}

type Observer = Arc<dyn Fn(&Call<'_>) + Send + Sync>;

/// Settings for a [`LambdaRuntime`]; see [`LambdaRuntime::builder`].
#[derive(Default)]
pub struct LambdaRuntimeBuilder {
    deadline: Deadline,
    observer: Option<Observer>,
}

impl fmt::Debug for LambdaRuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaRuntimeBuilder")
            .field("deadline", &self.deadline)
            .field("on_call", &self.observer.is_some())
            .finish()
    }
}

impl LambdaRuntimeBuilder {
    /// The deadline handed out with each event (default: a minute after it is handed out).
    pub fn deadline(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// Calls `observer` on every poll and every answer, synchronously and before the request
    /// is recorded or answered, so the function is still waiting on it (e.g. to read the
    /// process's memory at that point). It runs on the server's thread: keep it short.
    pub fn on_call(mut self, observer: impl Fn(&Call<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Starts the server on `127.0.0.1` and a free port.
    pub async fn start(self) -> LambdaRuntime {
        let shared = Arc::new(Shared {
            deadline: self.deadline,
            observer: self.observer,
            queue: Mutex::default(),
            log: Mutex::default(),
        });
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{API_PREFIX}/invocation/next")))
            .respond_with(Responder(Arc::clone(&shared)))
            .named("lambda runtime: next invocation")
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(format!("^{API_PREFIX}/")))
            .respond_with(Responder(Arc::clone(&shared)))
            .named("lambda runtime: response or error")
            .mount(&server)
            .await;
        LambdaRuntime { server, shared }
    }
}

/// A running Lambda Runtime API stub. It stops when dropped. Several function processes may
/// use it one after another (or at once: each poll takes the next event).
pub struct LambdaRuntime {
    server: MockServer,
    shared: Arc<Shared>,
}

impl fmt::Debug for LambdaRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaRuntime")
            .field("address", self.server.address())
            .field("deadline", &self.shared.deadline)
            .finish_non_exhaustive()
    }
}

impl LambdaRuntime {
    /// Starts a stub with the defaults: nothing queued, deadlines a minute out.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder for a stub with non-default settings.
    pub fn builder() -> LambdaRuntimeBuilder {
        LambdaRuntimeBuilder::default()
    }

    /// `host:port`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        let addr = self.server.address();
        format!("{}:{}", addr.ip(), addr.port())
    }

    /// [`function_env`] pointed at this stub.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        function_env(&self.runtime_api())
    }

    /// Queues an event; polls hand events out in the order pushed.
    pub fn push(&self, request_id: impl Into<String>, event: Value) {
        lock(&self.shared.queue).push_back((request_id.into(), event));
    }

    /// When each `GET .../invocation/next` arrived, in order (held polls included).
    pub fn polls(&self) -> Vec<Instant> {
        lock(&self.shared.log).polls.clone()
    }

    /// Everything the function posted back, in order.
    pub fn answers(&self) -> Vec<Answer> {
        lock(&self.shared.log).answers.clone()
    }

    /// The [`AnswerKind::Response`]s: request id and body as JSON (`Null` if it is not).
    pub fn responses(&self) -> Vec<(String, Value)> {
        lock(&self.shared.log)
            .answers
            .iter()
            .filter(|a| a.kind == AnswerKind::Response)
            .map(|a| (a.request_id.clone().unwrap_or_default(), a.json()))
            .collect()
    }

    /// The answers that are not responses: invocation errors and init errors.
    pub fn errors(&self) -> Vec<Answer> {
        lock(&self.shared.log)
            .answers
            .iter()
            .filter(|a| a.kind != AnswerKind::Response)
            .cloned()
            .collect()
    }
}

struct Shared {
    deadline: Deadline,
    observer: Option<Observer>,
    queue: Mutex<VecDeque<(String, Value)>>,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    polls: Vec<Instant>,
    answers: Vec<Answer>,
}

/// Locks, ignoring poisoning: a test that panicked must not break the others' view.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Responder(Arc<Shared>);

impl Responder {
    fn observe(&self, call: &Call<'_>) {
        if let Some(observer) = &self.0.observer {
            observer(call);
        }
    }

    fn next(&self) -> ResponseTemplate {
        let at = Instant::now();
        let poll = lock(&self.0.log).polls.len() + 1;
        self.observe(&Call::Next { poll });
        lock(&self.0.log).polls.push(at);
        let Some((request_id, event)) = lock(&self.0.queue).pop_front() else {
            // Nothing queued: hold the poll open, as the real API does.
            return ResponseTemplate::new(200).set_delay(HELD_POLL);
        };
        ResponseTemplate::new(200)
            .insert_header("Lambda-Runtime-Aws-Request-Id", request_id.as_str())
            .insert_header(
                "Lambda-Runtime-Deadline-Ms",
                self.0.deadline.millis().to_string().as_str(),
            )
            .insert_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
            .insert_header("Lambda-Runtime-Trace-Id", TRACE_ID)
            .set_body_json(event)
    }

    fn answer(&self, request: &Request) -> ResponseTemplate {
        let at = Instant::now();
        let rest = request
            .url
            .path()
            .strip_prefix(API_PREFIX)
            .unwrap_or_default();
        let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let (request_id, kind) = match segments.as_slice() {
            ["invocation", id, "response"] => (Some(*id), AnswerKind::Response),
            ["init", "error"] => (None, AnswerKind::InitError),
            ["invocation", id, ..] => (Some(*id), AnswerKind::Error),
            _ => (None, AnswerKind::Error),
        };
        let answer = Answer {
            request_id: request_id.map(str::to_owned),
            kind,
            body: String::from_utf8_lossy(&request.body).into_owned(),
            at,
        };
        self.observe(&Call::Answer(&answer));
        lock(&self.0.log).answers.push(answer);
        ResponseTemplate::new(202).set_body_json(json!({"status": "OK"}))
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() == "GET" {
            self.next()
        } else {
            self.answer(request)
        }
    }
}

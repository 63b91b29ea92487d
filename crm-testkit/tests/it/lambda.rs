//! Tests of crm-testkit's lambda module: the Runtime API stub speaks the protocol a Lambda
//! runtime client expects and records what it is sent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crm_testkit::lambda::{
    API_PREFIX, AnswerKind, Call, Deadline, FUNCTION_ARN, LambdaRuntime, TRACE_ID,
};
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn url(runtime: &LambdaRuntime, path: &str) -> String {
    format!("http://{}{API_PREFIX}{path}", runtime.runtime_api())
}

async fn next(runtime: &LambdaRuntime) -> reqwest::Response {
    http()
        .get(url(runtime, "/invocation/next"))
        .send()
        .await
        .expect("next")
}

async fn post(runtime: &LambdaRuntime, path: &str, body: &str) -> reqwest::Response {
    http()
        .post(url(runtime, path))
        .body(body.to_owned())
        .send()
        .await
        .expect("post")
}

fn now_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    u64::try_from(now.as_millis()).expect("ms")
}

#[tokio::test]
async fn hands_out_events_in_order_and_records_answers() {
    let runtime = LambdaRuntime::start().await;
    runtime.push("first", json!({"n": 1}));
    runtime.push("second", json!({"n": 2}));

    let resp = next(&runtime).await;
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers();
    assert_eq!(h["lambda-runtime-aws-request-id"], "first");
    assert_eq!(h["lambda-runtime-invoked-function-arn"], FUNCTION_ARN);
    assert_eq!(h["lambda-runtime-trace-id"], TRACE_ID);
    let deadline: u64 = h["lambda-runtime-deadline-ms"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("millis");
    let in_a_minute = now_ms() + 60_000;
    assert!(
        deadline.abs_diff(in_a_minute) < 10_000,
        "deadline {deadline} is about a minute out"
    );
    let event: Value = resp.json().await.expect("event");
    assert_eq!(event, json!({"n": 1}));

    let resp = post(
        &runtime,
        "/invocation/first/response",
        r#"{"outcome":"processed"}"#,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"status": "OK"})
    );

    let resp = next(&runtime).await;
    assert_eq!(resp.headers()["lambda-runtime-aws-request-id"], "second");
    post(&runtime, "/invocation/second/error", "boom").await;
    post(&runtime, "/init/error", "no config").await;

    assert_eq!(runtime.polls().len(), 2);
    assert_eq!(
        runtime.responses(),
        [("first".to_owned(), json!({"outcome": "processed"}))]
    );
    let errors = runtime.errors();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].kind, AnswerKind::Error);
    assert_eq!(errors[0].request_id.as_deref(), Some("second"));
    assert_eq!(errors[0].body, "boom");
    assert_eq!(errors[1].kind, AnswerKind::InitError);
    assert_eq!(errors[1].request_id, None);
    assert_eq!(runtime.answers().len(), 3);
}

#[tokio::test]
async fn an_empty_queue_holds_the_poll() {
    let runtime = LambdaRuntime::start().await;
    let held = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client")
        .get(url(&runtime, "/invocation/next"))
        .send()
        .await
        .expect_err("held open");
    assert!(held.is_timeout(), "{held}");
    assert_eq!(runtime.polls().len(), 1);
    // An event pushed meanwhile goes to the next poll.
    runtime.push("later", json!({}));
    let resp = next(&runtime).await;
    assert_eq!(resp.headers()["lambda-runtime-aws-request-id"], "later");
}

#[tokio::test]
async fn a_fixed_deadline_and_an_observer_that_sees_each_call_first() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let runtime = LambdaRuntime::builder()
        .deadline(Deadline::AtMillis(0))
        .on_call(move |call| {
            let entry = match call {
                Call::Next { poll } => format!("next {poll}"),
                Call::Answer(answer) => format!("{:?} {}", answer.kind, answer.body),
                _ => "other".to_owned(),
            };
            log.lock().expect("log").push(entry);
        })
        .start()
        .await;
    runtime.push("only", json!({}));
    let resp = next(&runtime).await;
    assert_eq!(resp.headers()["lambda-runtime-deadline-ms"], "0");
    post(&runtime, "/invocation/only/response", "{}").await;
    assert_eq!(*seen.lock().expect("log"), ["next 1", "Response {}"]);
}

#[test]
fn function_env_points_the_runtime_at_the_api() {
    let env = crm_testkit::lambda::function_env("127.0.0.1:9001");
    let get = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("AWS_LAMBDA_RUNTIME_API"), Some("127.0.0.1:9001"));
    assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("thiscovery-crm"));
    assert_eq!(get("AWS_REGION"), Some("eu-west-1"));
}

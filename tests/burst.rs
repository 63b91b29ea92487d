//! The split deployment (template.yaml) through the Lambda binary: ingest processes
//! (`CRM_ROLE=ingest`) record events, and one processor process (`CRM_ROLE=processor`, the
//! reserved concurrency of 1) processes what the notifications table's stream INSERTs, in
//! the batches the event source mapping would invoke it with. Each process runs against its
//! own Runtime API stub; the mapping is simulated here from the ingest answers, as
//! template.yaml configures it: a batch closes at [`BATCH_SIZE`] records or
//! [`BATCH_WINDOW`] after its first record, and the next batch is delivered only after the
//! processor answered the previous one.
//!
//! - A burst of 1,000 registrations recorded by 4 ingest processes at once ends processed
//!   with at most 15 HubSpot contact requests (one per 100 registrations, plus one per extra
//!   batch), not one per event.
//! - A single event at rest is processed within 5 s of being recorded, the batching window
//!   included.
//!
//! The Runtime API stubs hold each poll until the test delivers an invocation, as the real
//! API holds it until there is one, so every process stays warm between invocations.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{World, failed_cold_start, fixture, lambda_binary, lambda_env, world};
use crm_testkit::hubspot::Endpoint;
use crm_testkit::lambda::{AnswerKind, Call, LambdaRuntime};
use serde_json::{Value, json};
use thiscovery_crm::notification::ProcessingStatus;
use thiscovery_crm::store::NotificationStore;
use thiscovery_crm::store::dynamodb::DynamoNotificationStore;

/// The event source mapping's `BatchSize` (template.yaml).
const BATCH_SIZE: usize = 1_000;
/// The event source mapping's `MaximumBatchingWindowInSeconds` (template.yaml).
const BATCH_WINDOW: Duration = Duration::from_secs(2);
/// How many registrations the burst records.
const BURST: usize = 1_000;
/// How many ingest processes record them, at once.
const INGESTERS: usize = 4;
/// The bound on the burst's HubSpot contact requests.
const MAX_CONTACT_REQUESTS: usize = 15;
/// The bound on a single event's time from recorded to processed.
const AT_REST_BOUND: Duration = Duration::from_secs(5);
/// How long any wait here may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(180);

/// The HubSpot endpoints that touch contacts.
const CONTACT_ENDPOINTS: [Endpoint; 6] = [
    Endpoint::ContactsCreate,
    Endpoint::ContactsGet,
    Endpoint::ContactsUpdate,
    Endpoint::ContactsArchive,
    Endpoint::ContactsBatchUpsert,
    Endpoint::ContactsBatchRead,
];

/// A Lambda process with its own Runtime API stub, whose polls are held until
/// [`invoke`](Self::invoke) hands them an event.
struct Function {
    // Dropped in this order: the process is killed, a held poll is let go, the stub stops.
    child: tokio::process::Child,
    go: mpsc::Sender<()>,
    runtime: LambdaRuntime,
    polls: Arc<AtomicUsize>,
    role: &'static str,
}

impl Function {
    /// Starts the binary with `CRM_ROLE=role` and waits until it polls for its first event.
    async fn start(w: &World, role: &'static str) -> Function {
        let (go, wait) = mpsc::channel::<()>();
        let wait = Mutex::new(wait);
        let polls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&polls);
        let runtime = LambdaRuntime::builder()
            .on_call(move |call| {
                if let Call::Next { .. } = call {
                    seen.fetch_add(1, Ordering::SeqCst);
                    // The stub's own thread: holding it holds only this process's poll. An
                    // error is the test ending: the poll is then held by the stub itself.
                    let _ = wait.lock().unwrap().recv();
                }
            })
            .start()
            .await;
        let mut cmd = tokio::process::Command::new(lambda_binary());
        lambda_env(&mut cmd, &runtime.runtime_api());
        w.configure(&mut cmd);
        cmd.env("CRM_ROLE", role)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let mut function = Function {
            child,
            go,
            runtime,
            polls,
            role,
        };
        let started = Instant::now();
        while function.polls.load(Ordering::SeqCst) == 0 {
            function.check_alive().await;
            assert!(started.elapsed() < PATIENCE, "{role}: no cold start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        function
    }

    /// Hands the next poll this event.
    fn invoke(&self, request_id: impl Into<String>, event: Value) {
        self.runtime.push(request_id, event);
        self.go.send(()).unwrap();
    }

    /// Panics with the process's stderr if it has exited.
    async fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                use tokio::io::AsyncReadExt;
                pipe.read_to_string(&mut stderr).await.unwrap();
            }
            panic!("{} lambda exited ({status}): {stderr}", self.role);
        }
    }

    /// Fails on any invocation error or init error.
    fn assert_no_errors(&self) {
        let errors = self.runtime.errors();
        assert!(errors.is_empty(), "{}: {errors:?}", self.role);
    }
}

/// A registration for user `i` of the burst: the fixture with its own event id, user id and
/// email. FakeCore is told about the user, so the `crm_id` write-back succeeds.
fn registration(w: &World, i: usize) -> Value {
    let user_id = format!("b0000000-0000-4000-8000-{i:012}");
    let email = format!("burst-{i}@example.org");
    let mut event = fixture("auth0-registration");
    event["id"] = json!(format!("burst-event-{i}"));
    let data = &mut event["detail"]["data"];
    data["user_name"] = json!(email);
    data["log_id"] = json!(format!("burst-log-{i}"));
    data["details"]["body"]["email"] = json!(email);
    data["details"]["body"]["user_metadata"]["citsci_uuid"] = json!(user_id);
    event["detail"]["log_id"] = json!(format!("burst-log-{i}"));
    w.core.seed_user(json!({
        "id": user_id,
        "email": email,
        "first_name": "Altha",
        "last_name": "Alcorn",
        "country_code": "GB",
        "country_name": "United Kingdom",
        "crm_id": null
    }));
    event
}

/// One notification the ingest processes recorded, as its stream record would carry it.
struct Recorded {
    id: String,
    kind: String,
    at: Instant,
}

/// A DynamoDB stream INSERT record for a new notification, as the table's stream
/// (`NEW_AND_OLD_IMAGES`) delivers it through the template's mapping (the image trimmed to
/// the attributes the processor reads from it).
fn stream_record(stack: &str, n: &Recorded, sequence: usize) -> Value {
    json!({
        "eventID": format!("{sequence:032x}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_767_225_600,
            "Keys": {"id": {"S": n.id}},
            "NewImage": {
                "id": {"S": n.id},
                "type": {"S": n.kind},
                "processing_status": {"S": "new"}
            },
            "SequenceNumber": format!("{:021}", sequence + 1),
            "SizeBytes": 256,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": format!(
            "arn:aws:dynamodb:eu-west-1:123456789012:table/{stack}-notifications/stream/2026-01-01T00:00:00.000"
        )
    })
}

/// One invocation of the processor by the simulated mapping.
struct Batch {
    records: usize,
    delivered: Instant,
    answered: Instant,
    response: Value,
}

/// What the simulated mapping saw and did.
struct Mapped {
    recorded: Vec<Recorded>,
    batches: Vec<Batch>,
}

/// The event source mapping, simulated: reads the ingest processes' answers as they arrive
/// (each `recorded` one is a stream INSERT), and invokes the processor with batches that
/// close at [`BATCH_SIZE`] records or [`BATCH_WINDOW`] after their first record, one at a
/// time (reserved concurrency 1). Returns once `expected` events were answered and every
/// record was delivered and answered.
async fn run_mapping(
    w: &World,
    ingest: &mut [Function],
    processor: &mut Function,
    expected: usize,
) -> Mapped {
    let mut seen = vec![0; ingest.len()];
    let mut recorded = Vec::new();
    let mut waiting: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut batches: Vec<Batch> = Vec::new();
    let mut in_flight: Option<(usize, Instant)> = None;
    let started = Instant::now();
    loop {
        for (k, function) in ingest.iter_mut().enumerate() {
            function.check_alive().await;
            function.assert_no_errors();
            let answers = function.runtime.answers();
            for answer in &answers[seen[k]..] {
                assert_eq!(answer.kind, AnswerKind::Response, "{answer:?}");
                let response = answer.json();
                assert_eq!(response["outcome"], "recorded", "{response}");
                waiting.push_back(recorded.len());
                recorded.push(Recorded {
                    id: response["notification_id"].as_str().unwrap().to_owned(),
                    kind: response["type"].as_str().unwrap().to_owned(),
                    at: answer.at,
                });
            }
            seen[k] = answers.len();
        }
        processor.check_alive().await;
        processor.assert_no_errors();
        if let Some((records, delivered)) = in_flight {
            let answers = processor.runtime.answers();
            if let Some(answer) = answers.get(batches.len()) {
                batches.push(Batch {
                    records,
                    delivered,
                    answered: answer.at,
                    response: answer.json(),
                });
                in_flight = None;
            }
        }
        if in_flight.is_none()
            && let Some(first) = waiting.front()
            && (waiting.len() >= BATCH_SIZE || recorded[*first].at.elapsed() >= BATCH_WINDOW)
        {
            let take = waiting.len().min(BATCH_SIZE);
            let records: Vec<Value> = waiting
                .drain(..take)
                .map(|i| stream_record(&w.stack, &recorded[i], i))
                .collect();
            processor.invoke(
                format!("batch-{}", batches.len() + 1),
                json!({ "Records": records }),
            );
            in_flight = Some((take, Instant::now()));
        }
        if recorded.len() >= expected && waiting.is_empty() && in_flight.is_none() {
            return Mapped { recorded, batches };
        }
        assert!(
            started.elapsed() < PATIENCE,
            "recorded {} of {expected}, {} batches answered",
            recorded.len(),
            batches.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn notifications(w: &World) -> DynamoNotificationStore {
    DynamoNotificationStore::new(w.ddb.client(), w.tables.notifications.clone())
}

fn contact_requests(w: &World) -> usize {
    w.hubspot
        .journal()
        .iter()
        .filter(|e| CONTACT_ENDPOINTS.contains(&e.endpoint))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_registrations_reaches_hubspot_as_a_few_batch_requests() {
    let w = world().await;
    let events: Vec<Value> = (0..BURST).map(|i| registration(&w, i)).collect();
    let mut processor = Function::start(&w, "processor").await;
    let mut ingest = Vec::new();
    for _ in 0..INGESTERS {
        ingest.push(Function::start(&w, "ingest").await);
    }
    w.hubspot.clear_journal();

    // The burst: every ingest process gets its share at once, and records it as fast as
    // it can, while the mapping delivers what it has recorded.
    let started = Instant::now();
    for (i, event) in events.into_iter().enumerate() {
        ingest[i % INGESTERS].invoke(format!("registration-{i}"), event);
    }
    let mapped = run_mapping(&w, &mut ingest, &mut processor, BURST).await;
    let elapsed = started.elapsed();
    let last_recorded = mapped.recorded.iter().map(|r| r.at).max().unwrap();

    // Every registration processed, through one contact request per 100 at most plus one
    // per batch.
    let mut ids: Vec<&str> = mapped.recorded.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), BURST, "distinct notifications");
    let store = notifications(&w);
    for id in &ids {
        let item = store.get(id).await.unwrap().unwrap();
        assert_eq!(item.status, ProcessingStatus::Processed, "{item:?}");
    }
    let processed: u64 = mapped
        .batches
        .iter()
        .map(|b| b.response["processed"].as_u64().unwrap())
        .sum();
    assert_eq!(
        processed, BURST as u64,
        "each processed by its stream batch"
    );
    let contacts = contact_requests(&w);
    let upserts = w.hubspot.requests_to(Endpoint::ContactsBatchUpsert);
    let sizes: Vec<usize> = mapped.batches.iter().map(|b| b.records).collect();
    eprintln!(
        "burst: {BURST} registrations recorded by {INGESTERS} ingest processes in {:.2} s; \
         processed in {} processor invocations {sizes:?} with {contacts} HubSpot contact requests \
         ({upserts} batch upserts); all processed {:.2} s after the burst began, {:.2} s after the last was recorded",
        (last_recorded - started).as_secs_f64(),
        mapped.batches.len(),
        elapsed.as_secs_f64(),
        mapped
            .batches
            .last()
            .unwrap()
            .answered
            .duration_since(last_recorded)
            .as_secs_f64(),
    );
    for b in &mapped.batches {
        eprintln!(
            "burst:   batch of {} records: processor answered in {:.2} s: {}",
            b.records,
            (b.answered - b.delivered).as_secs_f64(),
            b.response
        );
    }
    assert!(
        contacts <= MAX_CONTACT_REQUESTS,
        "{contacts} contact requests for {BURST} registrations"
    );
    assert_eq!(w.hubspot.contacts().len(), BURST + 1, "and Steven's");
    assert_eq!(w.core.crm_id_patches().len(), BURST);
    assert!(store.list_pending().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_event_at_rest_is_processed_within_5_s_of_being_recorded() {
    let w = world().await;
    let event = registration(&w, 0);
    let mut processor = Function::start(&w, "processor").await;
    let mut ingest = [Function::start(&w, "ingest").await];

    ingest[0].invoke("registration", event);
    let mapped = run_mapping(&w, &mut ingest, &mut processor, 1).await;
    let [recorded] = mapped.recorded.as_slice() else {
        panic!("{} recorded", mapped.recorded.len());
    };
    let [batch] = mapped.batches.as_slice() else {
        panic!("{} batches", mapped.batches.len());
    };
    // Processed by the time the processor answered (its only invocation).
    let item = notifications(&w).get(&recorded.id).await.unwrap().unwrap();
    assert_eq!(item.status, ProcessingStatus::Processed, "{item:?}");
    assert_eq!(batch.response["processed"], 1, "{}", batch.response);
    let latency = batch.answered - recorded.at;
    eprintln!(
        "at rest: processed {:.2} s after it was recorded (the {:.0} s batching window, then {:.2} s in the processor); {} contact request(s)",
        latency.as_secs_f64(),
        BATCH_WINDOW.as_secs_f64(),
        (batch.answered - batch.delivered).as_secs_f64(),
        contact_requests(&w)
    );
    assert!(
        latency <= AT_REST_BOUND,
        "processed {latency:?} after it was recorded"
    );
}

/// What each role serves when something reaches it that the template routes elsewhere: the
/// ingest function refuses a sweep, a cleanup and a stream batch (acknowledged, naming
/// `CRM_ROLE`), so HubSpot work runs only in the single processor; the processor records an
/// event without processing it (its stream INSERT brings it back), so nothing sent to it is
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_serves_only_its_part_and_loses_nothing_misrouted() {
    let w = world().await;
    let mut ingest = Function::start(&w, "ingest").await;
    let mut processor = Function::start(&w, "processor").await;
    let event = registration(&w, 7);
    let stream = |id: &str| {
        let n = Recorded {
            id: id.to_owned(),
            kind: "user-registration".to_owned(),
            at: Instant::now(),
        };
        json!({ "Records": [stream_record(&w.stack, &n, 0)] })
    };

    let refused = [
        ("sweep", json!({"action": "process_notifications"})),
        ("cleanup", json!({"action": "cleanup"})),
        ("stream", stream("b0000000-0000-4000-8000-000000000007")),
    ];
    for (id, payload) in refused.clone() {
        ingest.invoke(id, payload);
    }
    processor.invoke("event", event);
    let answered = |f: &Function, n: usize| f.runtime.answers().len() >= n;
    let started = Instant::now();
    while !(answered(&ingest, refused.len()) && answered(&processor, 1)) {
        ingest.check_alive().await;
        processor.check_alive().await;
        assert!(started.elapsed() < PATIENCE, "no answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ingest.assert_no_errors();
    processor.assert_no_errors();
    for (id, response) in ingest.runtime.responses() {
        assert_eq!(response["outcome"], "rejected", "{id}: {response}");
        let reason = response["reason"].as_str().unwrap();
        assert!(reason.contains("CRM_ROLE=ingest"), "{id}: {reason}");
    }
    let (_, recorded) = processor.runtime.responses().remove(0);
    assert_eq!(recorded["outcome"], "recorded", "{recorded}");
    let id = recorded["notification_id"].as_str().unwrap().to_owned();
    let store = notifications(&w);
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        ProcessingStatus::New,
        "recorded only"
    );
    assert_eq!(contact_requests(&w), 0);

    // Its stream INSERT, then a sweep and a cleanup: the processor serves them all.
    processor.invoke("stream", stream(&id));
    processor.invoke("sweep", json!({"action": "process_notifications"}));
    processor.invoke("cleanup", json!({"action": "cleanup"}));
    while !answered(&processor, 4) {
        processor.check_alive().await;
        assert!(started.elapsed() < PATIENCE, "no answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    processor.assert_no_errors();
    let responses: std::collections::HashMap<String, Value> =
        processor.runtime.responses().into_iter().collect();
    assert_eq!(
        responses["stream"]["processed"], 1,
        "{}",
        responses["stream"]
    );
    assert_eq!(responses["sweep"]["processed"], 0, "{}", responses["sweep"]);
    assert_eq!(
        responses["cleanup"]["deleted"], 0,
        "{}",
        responses["cleanup"]
    );
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        ProcessingStatus::Processed
    );
}

#[tokio::test]
async fn an_unknown_role_fails_the_cold_start_naming_the_variable() {
    let runtime = LambdaRuntime::start().await;
    let mut cmd = tokio::process::Command::new(lambda_binary());
    lambda_env(&mut cmd, &runtime.runtime_api());
    cmd.env("CRM_ROLE", "sweeper");
    let text = failed_cold_start(cmd).await;
    assert!(
        text.contains("CRM_ROLE must be ingest, processor or all") && text.contains("sweeper"),
        "{text}"
    );
    assert!(runtime.polls().is_empty(), "it never asked for an event");
}

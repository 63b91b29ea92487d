//! Bad input never panics: random JSON, fixture events with fields removed or replaced by
//! random values (wrong types, huge strings, unicode), and a corpus of hand-written nasty
//! events. Each input is either rejected with a message naming a field, or recorded and ends
//! processed, ignored, duplicate or dead-lettered with a reason.

use std::sync::Arc;

use crm_testkit::hubspot::FakeHubSpot;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use thiscovery_crm::directory::{MemoryDirectory, User};
use thiscovery_crm::events::Envelope;
use thiscovery_crm::testing;
use thiscovery_crm::{Crm, CrmConfig, HandleError, Outcome, Stores};

use crate::common::{ENV, fixture, hubspot_client};

const FIXTURES: [&str; 7] = [
    "auth0-registration",
    "auth0-login",
    "auth0-verification",
    "task-signup",
    "transactional-email-to-address",
    "transactional-email-to-user",
    "custom-email",
];

struct World {
    runtime: tokio::runtime::Runtime,
    crm: Crm,
    _hubspot: FakeHubSpot,
}

fn world() -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (crm, hubspot) = runtime.block_on(async {
        let hubspot = FakeHubSpot::start().await;
        let directory = Arc::new(MemoryDirectory::new());
        directory.add_user(
            User::new("d1070e81-557e-40eb-a7ba-b951ddb7ebdc", "altha@email.co.uk").crm_id("1"),
        );
        let stores = Stores::memory();
        testing::seed(&stores, ENV, FakeHubSpot::TIMELINE_TEMPLATE_ID)
            .await
            .unwrap();
        let crm = Crm::builder()
            .hubspot(hubspot_client(&hubspot))
            .stores(stores)
            .directory(directory)
            .config(CrmConfig::for_env(ENV))
            .build()
            .unwrap();
        (crm, hubspot)
    });
    World {
        runtime,
        crm,
        _hubspot: hubspot,
    }
}

/// Handles one input and checks the promise: rejected naming a field, or an outcome with a
/// reason where one is due.
fn check(world: &World, input: Value) -> Result<(), TestCaseError> {
    let envelope = match Envelope::from_value(input) {
        Ok(e) => e,
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    match world.runtime.block_on(world.crm.handle(&envelope)) {
        Ok(report) => match report.outcome {
            Outcome::Dlq | Outcome::Retrying => {
                prop_assert!(
                    report.reason.as_deref().is_some_and(|r| !r.is_empty()),
                    "{report:?}"
                );
            }
            Outcome::Processed | Outcome::Ignored | Outcome::Duplicate => {}
            Outcome::Pending => prop_assert!(false, "left pending: {report:?}"),
        },
        Err(HandleError::Rejected(e)) => {
            let message = e.to_string();
            prop_assert!(
                e.field().is_some() || message.contains("detail-type"),
                "rejection names no field: {message}"
            );
        }
        // A value DynamoDB cannot hold (a number outside its range, too deep): rejected when
        // recorded, naming where it is.
        Err(HandleError::Unstorable(e)) => {
            prop_assert!(e.field.starts_with("detail"), "{e}");
        }
        Err(other) => prop_assert!(false, "store error on bad input: {other}"),
    }
    Ok(())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[a-z@.]{0,20}".prop_map(Value::String),
        (0usize..5000).prop_map(|n| Value::String("é".repeat(n))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every JSON pointer in a value.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

fn mutate(mut event: Value, pointer: &str, replacement: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(target) = event.pointer_mut(parent) {
        match (target, replacement) {
            (Value::Object(map), None) => {
                map.remove(&key);
            }
            (Value::Object(map), Some(v)) => {
                map.insert(key, v);
            }
            (Value::Array(items), replacement) => {
                if let Ok(i) = key.parse::<usize>()
                    && i < items.len()
                {
                    match replacement {
                        Some(v) => items[i] = v,
                        None => {
                            items.remove(i);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    event
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_json_is_rejected_or_handled(input in arb_json()) {
        let world = world();
        check(&world, input)?;
    }

    #[test]
    fn fixtures_with_a_field_removed_or_replaced(
        which in 0usize..FIXTURES.len(),
        pick in any::<prop::sample::Index>(),
        replacement in prop::option::of(arb_json()),
        id in "[a-z0-9-]{1,12}",
    ) {
        let world = world();
        let mut event = fixture(FIXTURES[which]);
        event["id"] = json!(format!("fuzz-{id}"));
        let mut all = Vec::new();
        pointers(&event, String::new(), &mut all);
        let pointer = pick.get(&all).clone();
        check(&world, mutate(event, &pointer, replacement))?;
    }
}

#[test]
fn the_nasty_corpus_is_handled() {
    let world = world();
    let dir = format!("{}/tests/fixtures/nasty", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let result = match Envelope::from_slice(&bytes) {
            Err(e) => Err(HandleError::Rejected(e)),
            Ok(envelope) => world.runtime.block_on(world.crm.handle(&envelope)),
        };
        match result {
            Ok(report) => assert!(
                // Retrying: a registration of a user thiscovery-core does not know yet.
                matches!(
                    report.outcome,
                    Outcome::Dlq | Outcome::Ignored | Outcome::Processed | Outcome::Retrying
                ) && (matches!(report.outcome, Outcome::Processed | Outcome::Ignored)
                    || report.reason.is_some()),
                "{name}: {report:?}"
            ),
            Err(HandleError::Rejected(e)) => assert!(
                e.field().is_some() || e.to_string().contains("detail-type"),
                "{name}: {e}"
            ),
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

//! Timeline events: request shape, batch with 207, read.

use hubspot_client::ids::EventTemplateId;
use hubspot_client::timeline::TimelineEventRequest;
use hubspot_client::{Error, ItemFailure};
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{body, client, error_body};

fn event_json(id: &str) -> serde_json::Value {
    json!({
        "id": id,
        "eventTemplateId": "1138",
        "objectId": "74701",
        "objectType": "contacts",
        "tokens": {"project_name": "PSFU-05-pub-act"},
        "timestamp": "2018-06-13T14:15:16.171Z"
    })
}

#[tokio::test]
async fn create_sends_template_id_tokens_and_timestamp() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/integrators/timeline/v3/events"))
        .and(body_json(json!({
            "eventTemplateId": "1138",
            "id": "9620089b-e9a4-46fd-bb78-091c8449d777",
            "email": "altha@email.co.uk",
            "tokens": {"project_name": "PSFU-05-pub-act", "task_count": 3},
            "timestamp": "2018-06-13T14:15:16.171Z"
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(event_json("9620089b-e9a4-46fd-bb78-091c8449d777")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let event = TimelineEventRequest::for_email(
        "1138",
        "9620089b-e9a4-46fd-bb78-091c8449d777",
        "altha@email.co.uk",
    )
    .token("project_name", "PSFU-05-pub-act")
    .token("task_count", 3)
    .timestamp("2018-06-13T14:15:16.171Z");
    let created = client(&server).timeline().create(&event).await.unwrap();
    assert_eq!(created.event_template_id, EventTemplateId::from("1138"));
    assert_eq!(created.object_id.unwrap().as_str(), "74701");
}

#[tokio::test]
async fn repeat_is_a_conflict_and_invalid_events_are_not_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/integrators/timeline/v3/events"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(error_body("CONFLICT", "event already exists")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c
        .timeline()
        .create(&TimelineEventRequest::for_email("1", "e1", "a@b.org"))
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    let err = c
        .timeline()
        .create(&TimelineEventRequest::for_email("1", "", "a@b.org"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)));
}

#[tokio::test]
async fn batch_create_chunks_and_reports_207_item_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/integrators/timeline/v3/events/batch/create"))
        .respond_with(|request: &Request| {
            let inputs = body(request)["inputs"].as_array().unwrap().clone();
            assert!(inputs.len() <= 100);
            let mut results = Vec::new();
            let mut errors = Vec::new();
            for input in inputs {
                let id = input["id"].as_str().unwrap().to_owned();
                if input["email"] == "ghost@example.org" {
                    errors.push(json!({
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": format!("Could not find a contact for event {id}"),
                        "context": {"id": [id]}
                    }));
                } else {
                    results.push(event_json(&id));
                }
            }
            let status = if errors.is_empty() { 200 } else { 207 };
            ResponseTemplate::new(status).set_body_json(json!({
                "status": "COMPLETE", "results": results, "errors": errors, "numErrors": errors.len()
            }))
        })
        .expect(2)
        .mount(&server)
        .await;
    let mut events: Vec<_> = (0..120)
        .map(|i| TimelineEventRequest::for_email("1138", format!("ev-{i}"), "a@b.org"))
        .collect();
    events.push(TimelineEventRequest::for_email(
        "1138",
        "ev-ghost",
        "ghost@example.org",
    ));
    events.push(TimelineEventRequest::for_email("1138", "", "a@b.org"));
    let outcome = client(&server).timeline().create_batch(events).await;
    assert_eq!(outcome.requests, 2);
    assert_eq!(outcome.created.len(), 120);
    assert_eq!(outcome.failures.len(), 2);
    let ghost = outcome
        .failures
        .iter()
        .find(|f| f.id == "ev-ghost")
        .unwrap();
    match &ghost.reason {
        ItemFailure::Rejected(d) => assert_eq!(d.category.as_deref(), Some("OBJECT_NOT_FOUND")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn get_reads_by_template_and_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/integrators/timeline/v3/events/1138/ev-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_json("ev-1")))
        .expect(1)
        .mount(&server)
        .await;
    let event = client(&server)
        .timeline()
        .get(&EventTemplateId::from("1138"), "ev-1")
        .await
        .unwrap();
    assert_eq!(event.tokens["project_name"], "PSFU-05-pub-act");
}

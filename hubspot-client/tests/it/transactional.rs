//! Transactional single-send: request shape, statuses, idempotent repeats.

use hubspot_client::ids::StatusId;
use hubspot_client::transactional::{SendId, SendResult, SendStatus, SingleSendRequest};
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::client;

#[tokio::test]
async fn send_posts_the_documented_shape() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/marketing/v3/transactional/single-email/send"))
        .and(body_json(json!({
            "emailId": 33531457008u64,
            "message": {
                "to": "thiscovery_dev@email.com",
                "from": "Sender Name <sender@hubspot.com>",
                "sendId": "notif-1",
                "cc": ["this_researcher@email.com"],
                "bcc": ["thiscovery_dev@email.com"],
                "replyTo": []
            },
            "contactProperties": {"firstname": "Altha"},
            "customProperties": {"project_task_name": "CTG Monitoring"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "statusId": "st-1",
            "status": "PENDING",
            "requestedAt": "2024-01-01T00:00:00Z",
            "eventId": {"id": "ev", "created": "2024-01-01T00:00:00Z"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let send = SingleSendRequest::new(
        33531457008,
        "thiscovery_dev@email.com",
        SendId::new("notif-1"),
    )
    .from("Sender Name <sender@hubspot.com>")
    .cc("this_researcher@email.com")
    .bcc("thiscovery_dev@email.com")
    .contact_property("firstname", "Altha")
    .custom_property("project_task_name", "CTG Monitoring");
    let status = client(&server).transactional().send(&send).await.unwrap();
    assert_eq!(status.status, SendStatus::Pending);
    assert_eq!(status.status_id.as_str(), "st-1");
    assert_eq!(status.event_id.unwrap().id, "ev");
}

#[tokio::test]
async fn status_lookup_decodes_results() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/marketing/v3/email/send-statuses/st-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "statusId": "st-1",
            "status": "COMPLETE",
            "sendResult": "IDEMPOTENT_IGNORE",
            "completedAt": "2024-01-01T00:00:01Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let status = client(&server)
        .transactional()
        .status(&StatusId::from("st-1"))
        .await
        .unwrap();
    assert_eq!(status.status, SendStatus::Complete);
    assert_eq!(status.send_result, Some(SendResult::IdempotentIgnore));
    assert!(status.send_result.unwrap().is_sent());
}

#[tokio::test]
async fn a_send_without_send_id_is_refused_before_sending() {
    let server = MockServer::start().await;
    let err = client(&server)
        .transactional()
        .send(&SingleSendRequest::new(1, "a@b.org", SendId::new("")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sendId"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

//! Contacts: exact request shapes, conflicts, batch upsert chunking and 207s.

use std::collections::BTreeMap;

use hubspot_client::contacts::{ContactUpsert, Properties};
use hubspot_client::ids::ObjectId;
use hubspot_client::{Error, ErrorClass, ItemFailure};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{TOKEN, body, client, error_body};

fn contact_json(id: &str, email: &str) -> Value {
    json!({
        "id": id,
        "properties": {"email": email, "firstname": "Altha", "hs_object_id": id, "lastname": null},
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00Z",
        "archived": false
    })
}

#[tokio::test]
async fn create_sends_properties_with_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"properties": {"email": "altha@email.co.uk", "firstname": "Altha"}, "associations": []}),
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(contact_json("74701", "altha@email.co.uk")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let props = Properties::from([
        ("email".to_owned(), "altha@email.co.uk".to_owned()),
        ("firstname".to_owned(), "Altha".to_owned()),
    ]);
    let contact = client(&server).contacts().create(&props).await.unwrap();
    assert_eq!(contact.id, ObjectId::from("74701"));
    assert_eq!(contact.property("firstname"), Some("Altha"));
    assert_eq!(contact.property("lastname"), None);
}

#[tokio::test]
async fn create_conflict_carries_the_existing_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(409).set_body_json(error_body(
            "CONFLICT",
            "Contact already exists. Existing ID: 74701",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .contacts()
        .create(&Properties::from([("email".into(), "a@b.org".into())]))
        .await
        .unwrap_err();
    match &err {
        Error::Conflict { existing_id, error } => {
            assert_eq!(existing_id.as_str(), "74701");
            assert_eq!(error.category.as_deref(), Some("CONFLICT"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.is_conflict());
}

#[tokio::test]
async fn get_and_update_by_email_use_id_property() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/altha+test@email.co.uk"))
        .and(query_param("idProperty", "email"))
        .and(query_param("properties", "firstname,lastname"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(contact_json("9", "altha+test@email.co.uk")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/contacts/altha+test@email.co.uk"))
        .and(query_param("idProperty", "email"))
        .and(body_json(
            json!({"properties": {"thiscovery_last_login_date": "1610799150146"}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(contact_json("9", "altha+test@email.co.uk")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let got = c
        .contacts()
        .get_by_email("altha+test@email.co.uk", &["firstname", "lastname"])
        .await
        .unwrap();
    assert_eq!(got.id.as_str(), "9");
    let props = Properties::from([("thiscovery_last_login_date".into(), "1610799150146".into())]);
    c.contacts()
        .update_by_email("altha+test@email.co.uk", &props)
        .await
        .unwrap();
}

#[tokio::test]
async fn get_missing_contact_is_not_found_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/123"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(error_body("OBJECT_NOT_FOUND", "resource not found")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .contacts()
        .get(&ObjectId::from("123"), &[])
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.correlation_id(),
        Some("5c2b4ab5-0d1f-4a09-8c3f-1c5e2b1f0000")
    );
}

#[tokio::test]
async fn update_and_archive_by_id() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/contacts/55"))
        .and(body_json(
            json!({"properties": {"country": "United Kingdom"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact_json("55", "x@y.org")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/crm/v3/objects/contacts/55"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let id = ObjectId::from(55u64);
    c.contacts()
        .update(
            &id,
            &Properties::from([("country".into(), "United Kingdom".into())]),
        )
        .await
        .unwrap();
    c.contacts().archive(&id).await.unwrap();
}

/// Answers a batch upsert like HubSpot: every input with an '@' is upserted (`new` when its
/// email starts with "new"), the others are item errors; a 207 when there are any.
fn batch_upsert_responder(request: &Request) -> ResponseTemplate {
    let body = body(request);
    let inputs = body["inputs"].as_array().unwrap();
    assert!(inputs.len() <= 100, "a chunk had {} inputs", inputs.len());
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(input["idProperty"], "email");
        let email = input["id"].as_str().unwrap();
        assert_eq!(input["properties"]["email"], email);
        if email.contains('@') {
            results.push(json!({
                "id": format!("{}", 1000 + i),
                "properties": {"email": email, "hs_object_id": format!("{}", 1000 + i)},
                "new": email.starts_with("new"),
                "createdAt": "2024-01-01T00:00:00Z",
                "updatedAt": "2024-01-01T00:00:00Z",
                "archived": false
            }));
        } else {
            errors.push(json!({
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": format!("Property values were not valid: invalid email {email}"),
                "context": {"ids": [email]}
            }));
        }
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    let mut out = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2024-01-01T00:00:00Z",
        "completedAt": "2024-01-01T00:00:01Z"
    });
    if !errors.is_empty() {
        out["numErrors"] = json!(errors.len());
        out["errors"] = json!(errors);
    }
    ResponseTemplate::new(status).set_body_json(out)
}

#[tokio::test]
async fn batch_upsert_dedupes_chunks_and_merges_207_failures() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(batch_upsert_responder)
        .expect(3)
        .mount(&server)
        .await;
    let mut inputs = Vec::new();
    for i in 0..248 {
        inputs.push(ContactUpsert::new(format!("new{i}@example.org")).property("n", i.to_string()));
    }
    // Duplicates (differing in case) merge into one input; later properties win.
    inputs.push(ContactUpsert::new("NEW0@example.org").property("firstname", "Zed"));
    inputs.push(ContactUpsert::new("old@example.org"));
    inputs.push(ContactUpsert::new("not-an-email"));
    inputs.push(ContactUpsert::new("also-bad"));
    let outcome = client(&server)
        .contacts()
        .batch_upsert_by_email(inputs)
        .await;

    assert_eq!(outcome.requests, 3);
    assert_eq!(outcome.results.len(), 249);
    assert_eq!(outcome.failures.len(), 2);
    assert!(outcome.result("new0@EXAMPLE.org").unwrap().created);
    assert!(!outcome.result("old@example.org").unwrap().created);
    let bad = outcome.failure("not-an-email").unwrap();
    match &bad.reason {
        ItemFailure::Rejected(detail) => {
            assert_eq!(detail.category.as_deref(), Some("VALIDATION_ERROR"));
            assert!(detail.message.as_deref().unwrap().contains("not-an-email"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(bad.reason.class(), ErrorClass::Permanent);
    assert!(outcome.failure("also-bad").is_some());

    // The merged duplicate carried both property sets.
    let requests = server.received_requests().await.unwrap();
    let first = body(&requests[0]);
    let new0 = first["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "new0@example.org")
        .unwrap()
        .clone();
    assert_eq!(new0["properties"]["n"], "0");
    assert_eq!(new0["properties"]["firstname"], "Zed");
    let total: usize = requests
        .iter()
        .map(|r| body(r)["inputs"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 251);
}

#[tokio::test]
async fn batch_chunk_failure_fails_only_its_inputs() {
    let server = MockServer::start().await;
    // The first request fails for good (400), the others are answered normally.
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(error_body("VALIDATION_ERROR", "bad batch")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(batch_upsert_responder)
        .mount(&server)
        .await;
    let inputs: Vec<_> = (0..150)
        .map(|i| ContactUpsert::new(format!("p{i}@example.org")))
        .collect();
    let c = hubspot_client::Client::builder()
        .api_version(hubspot_client::ApiVersion::Legacy)
        .base_url(server.uri())
        .static_token(TOKEN)
        .retry_policy(hubspot_client::RetryPolicy::fast_for_tests())
        .no_rate_limit()
        .batch_concurrency(1)
        .build()
        .unwrap();
    let outcome = c.contacts().batch_upsert_by_email(inputs).await;
    assert_eq!(outcome.failures.len(), 100);
    assert_eq!(outcome.results.len(), 50);
    assert!(matches!(
        outcome.failures[0].reason,
        ItemFailure::RequestFailed(_)
    ));
    assert_eq!(outcome.failures[0].reason.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn upsert_by_email_returns_id_and_created_flag() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .and(body_json(json!({"inputs": [{
            "id": "newbie@example.org",
            "idProperty": "email",
            "properties": {"email": "newbie@example.org", "firstname": "Newbie"}
        }]})))
        .respond_with(batch_upsert_responder)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(batch_upsert_responder)
        .with_priority(10)
        .mount(&server)
        .await;
    let props: BTreeMap<String, String> = BTreeMap::from([("firstname".into(), "Newbie".into())]);
    let contact = client(&server)
        .contacts()
        .upsert_by_email(" Newbie@Example.org ", &props)
        .await
        .unwrap();
    assert_eq!(contact.id.as_str(), "1000");
    assert!(contact.created);
    assert_eq!(contact.email, "newbie@example.org");

    let err = client(&server)
        .contacts()
        .upsert_by_email("nope", &Properties::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"id": "1", "properties": {"email": "a@b.org"}}, {"id": {"nested": true}}]
        })))
        .mount(&server)
        .await;
    let outcome = client(&server)
        .contacts()
        .batch_upsert_by_email(vec![ContactUpsert::new("a@b.org")])
        .await;
    let ItemFailure::RequestFailed(err) = &outcome.failures[0].reason else {
        panic!("{outcome:?}")
    };
    match err.as_ref() {
        Error::Decode { path, .. } => assert_eq!(path, "results[1].id"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn batch_read_by_email_sends_the_documented_body_and_keys_results_by_email() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/read"))
        .and(body_json(json!({
            "properties": ["thiscovery_last_login_date", "email"],
            "propertiesWithHistory": [],
            "idProperty": "email",
            "inputs": [{"id": "altha@email.co.uk"}, {"id": "nobody@email.co.uk"}]
        })))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [contact_json("74701", "altha@email.co.uk")],
            "numErrors": 1,
            "errors": [{
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                "context": {"ids": ["nobody@email.co.uk"]}
            }],
            "startedAt": "2024-01-01T00:00:00Z",
            "completedAt": "2024-01-01T00:00:00Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server)
        .contacts()
        .batch_read_by_email(
            [
                " Altha@Email.co.uk",
                "nobody@email.co.uk",
                "altha@email.co.uk",
            ],
            &["thiscovery_last_login_date"],
        )
        .await;
    assert_eq!(outcome.requests, 1);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(
        outcome.contact("ALTHA@email.co.uk").map(|c| c.id.as_str()),
        Some("74701")
    );
    assert!(outcome.contact("nobody@email.co.uk").is_none());
}

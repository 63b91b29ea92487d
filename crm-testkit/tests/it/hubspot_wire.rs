//! The fake's bytes on the wire: every JSON object it answers with has its keys in sorted
//! order, at every level, as it always has (its bodies were once `serde_json::Value`s, whose
//! maps sort their keys). Clients do not care, but a fixture recorded from the fake does.

use std::fmt;
use std::time::Duration;

use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};

/// Whether every object in a JSON document has its keys in strictly increasing order.
struct KeysSorted(bool);

impl<'de> Deserialize<'de> for KeysSorted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeysSortedVisitor)
    }
}

struct KeysSortedVisitor;

impl<'de> Visitor<'de> for KeysSortedVisitor {
    type Value = KeysSorted;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeysSorted, A::Error> {
        let mut sorted = true;
        let mut previous: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            let KeysSorted(inner) = map.next_value()?;
            sorted &= inner && previous.as_ref().is_none_or(|p| *p < key);
            previous = Some(key);
        }
        Ok(KeysSorted(sorted))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeysSorted, A::Error> {
        let mut sorted = true;
        while let Some(KeysSorted(inner)) = seq.next_element()? {
            sorted &= inner;
        }
        Ok(KeysSorted(sorted))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeysSorted, E> {
        Ok(KeysSorted(true))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeysSorted, E> {
        Ok(KeysSorted(true))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeysSorted, E> {
        Ok(KeysSorted(true))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeysSorted, E> {
        Ok(KeysSorted(true))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<KeysSorted, E> {
        Ok(KeysSorted(true))
    }
    fn visit_unit<E: de::Error>(self) -> Result<KeysSorted, E> {
        Ok(KeysSorted(true))
    }
}

/// Sends a request and checks the answer: its status, sorted keys, and for an error body a
/// `correlationId` repeated in `X-HubSpot-Correlation-Id`. Returns the body.
async fn check(request: reqwest::RequestBuilder, what: &str, status: u16) -> Value {
    let resp = request.send().await.expect("request");
    assert_eq!(resp.status().as_u16(), status, "{what}");
    let header = resp
        .headers()
        .get("x-hubspot-correlation-id")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = resp.bytes().await.expect("body");
    let KeysSorted(sorted) = serde_json::from_slice(&bytes).expect("JSON body");
    let text = String::from_utf8_lossy(&bytes);
    assert!(sorted, "{what}: keys out of order: {text}");
    let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
    if let Some(id) = body.get("correlationId").and_then(Value::as_str) {
        assert_eq!(header.as_deref(), Some(id), "{what}: {text}");
    }
    body
}

#[tokio::test]
async fn every_body_has_its_keys_in_sorted_order() {
    let fake = FakeHubSpot::builder().daily_limit(1000).start().await;
    let pending = FakeHubSpot::builder()
        .single_send_pending(true)
        .rate_limit(1, Duration::from_secs(60))
        .start()
        .await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", fake.base_url());
    let api = |method: reqwest::Method, path: &str| {
        http.request(method, url(path))
            .bearer_auth(FakeHubSpot::STATIC_TOKEN)
    };
    let (get, post, patch) = (
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PATCH,
    );
    let tokens = fake.issue_token_set();
    let form = |secret: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", FakeHubSpot::CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
            ("refresh_token", tokens.refresh_token.clone()),
        ]
    };
    let token = http.post(url("/oauth/v3/token"));
    check(token.form(&form(FakeHubSpot::CLIENT_SECRET)), "token", 200).await;
    let token = http.post(url("/oauth/v3/token"));
    check(token.form(&form("wrong")), "token error", 400).await;
    check(http.get(url("/crm/v3/objects/contacts/1")), "401", 401).await;

    let contact = json!({"properties": {"email": "w@example.com", "b": 1, "a": true}});
    let path = "/crm/v3/objects/contacts";
    check(api(post.clone(), path).json(&contact), "create", 201).await;
    check(api(post.clone(), path).json(&contact), "conflict", 409).await;
    check(api(get.clone(), &format!("{path}/1001")), "get", 200).await;
    check(api(get.clone(), &format!("{path}/9")), "404", 404).await;
    let update = json!({"properties": {"z": "1"}});
    check(
        api(patch, &format!("{path}/1001")).json(&update),
        "update",
        200,
    )
    .await;
    let batch = json!({"inputs": [
        {"id": "w@example.com", "idProperty": "email", "properties": {"y": "2"}},
        {"id": "bad", "idProperty": "email"},
    ]});
    let path = "/crm/v3/objects/contacts/batch/upsert";
    check(api(post.clone(), path).json(&batch), "upsert 207", 207).await;
    let batch = json!({"inputs": [{"id": "v@example.com", "idProperty": "email"}]});
    check(api(post.clone(), path).json(&batch), "upsert", 200).await;

    let event = json!({
        "eventTemplateId": FakeHubSpot::TIMELINE_TEMPLATE_ID, "id": "e1", "email": "w@example.com",
        "tokens": {"b": 1, "a": 2}, "extraData": {"z": {"y": 1, "x": 2}},
    });
    let path = "/integrators/timeline/v3/events";
    check(api(post.clone(), path).json(&event), "event", 200).await;
    let batch = json!({"inputs": [event, {"eventTemplateId": "1", "objectId": "1001"}]});
    let batch_path = format!("{path}/batch/create");
    check(
        api(post.clone(), &batch_path).json(&batch),
        "events 207",
        207,
    )
    .await;
    let get_path = format!("{path}/{}/e1", FakeHubSpot::TIMELINE_TEMPLATE_ID);
    check(api(get.clone(), &get_path), "get event", 200).await;

    let send = json!({"emailId": 1, "message": {"to": "w@example.com", "sendId": "s"}});
    let path = "/marketing/v3/transactional/single-email/send";
    let sent = check(api(post.clone(), path).json(&send), "send", 200).await;
    let status_path = format!(
        "/marketing/v3/email/send-statuses/{}",
        sent["statusId"].as_str().expect("statusId")
    );
    check(api(get.clone(), &status_path), "send status", 200).await;
    let pending_send = http
        .post(format!("{}{path}", pending.base_url()))
        .bearer_auth(FakeHubSpot::STATIC_TOKEN)
        .json(&send);
    check(pending_send, "pending send", 200).await;
    let limited = http
        .get(format!("{}/crm/v3/objects/contacts/1", pending.base_url()))
        .bearer_auth(FakeHubSpot::STATIC_TOKEN);
    check(limited, "429", 429).await;

    check(http.get(url("/nope")), "501", 501).await;
    fake.inject(Endpoint::ContactsGet, Fault::status(503));
    fake.inject(Endpoint::ContactsGet, Fault::daily_limited());
    check(
        api(get.clone(), "/crm/v3/objects/contacts/1001"),
        "fault",
        503,
    )
    .await;
    check(
        api(get.clone(), "/crm/v3/objects/contacts/1001"),
        "429 fault",
        429,
    )
    .await;

    fake.inject(Endpoint::TimelineGet, Fault::status(500));
    check(http.get(url("/__fake/faults")), "admin faults", 200).await;
    for admin in ["contacts", "timeline-events", "emails", "journal"] {
        check(http.get(url(&format!("/__fake/{admin}"))), admin, 200).await;
    }
    check(http.post(url("/__fake/tokens")), "admin tokens", 200).await;
    let seed = json!({"email": "a@example.com"});
    check(
        http.post(url("/__fake/contacts")).json(&seed),
        "admin seed",
        200,
    )
    .await;
    check(http.get(url("/__fake/nope")), "admin 501", 501).await;
    let bad = json!({"endpoint": "ContactsGet"});
    check(
        http.post(url("/__fake/faults")).json(&bad),
        "admin 400",
        400,
    )
    .await;
}

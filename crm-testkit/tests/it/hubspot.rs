//! Tests of crm-testkit's hubspot module: the fake must answer as HubSpot documents. One
//! test per documented behaviour of each endpoint, which is why the file is long; the wire
//! format's key order is pinned separately in `hubspot_wire.rs`.

use std::time::Duration;

use crm_testkit::hubspot::{Endpoint, FakeHubSpot, Fault, Seed};
use serde_json::{Value, json};

const TOKEN: &str = FakeHubSpot::STATIC_TOKEN;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn post(fake: &FakeHubSpot, path: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn get(fake: &FakeHubSpot, path: &str) -> reqwest::Response {
    http()
        .get(format!("{}{path}", fake.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request")
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("json body");
    (status, body)
}

fn assert_error_shape(body: &Value, category: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["category"], category, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let cid = body["correlationId"].as_str().expect("correlationId");
    assert_eq!(cid.len(), 36, "uuid-like correlationId: {cid}");
}

async fn refresh(fake: &FakeHubSpot, refresh_token: &str, secret: &str) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/v1/token", fake.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", FakeHubSpot::CLIENT_ID),
            ("client_secret", secret),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn create_get_update_archive_contact() {
    let fake = FakeHubSpot::start().await;
    let (status, created) = json_of(
        post(
            &fake,
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "Ada@Example.com", "firstname": "Ada", "age": 36}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(id, "1001");
    assert_eq!(created["properties"]["email"], "ada@example.com");
    assert_eq!(
        created["properties"]["age"], "36",
        "numbers are stored as strings"
    );
    assert_eq!(created["properties"]["hs_object_id"], id.as_str());
    assert!(created["properties"]["createdate"].is_string());
    assert!(
        created["createdAt"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    assert_eq!(created["archived"], false);

    let (status, dup) = json_of(
        post(
            &fake,
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "ada@example.com"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_error_shape(&dup, "CONFLICT");
    assert_eq!(dup["message"], "Contact already exists. Existing ID: 1001");

    let (status, by_email) = json_of(
        get(
            &fake,
            "/crm/v3/objects/contacts/ADA%40example.com?idProperty=email",
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_email["id"], "1001");
    assert!(
        by_email["properties"].get("age").is_none(),
        "GET answers default properties only"
    );
    let (_, with_age) =
        json_of(get(&fake, "/crm/v3/objects/contacts/1001?properties=age").await).await;
    assert_eq!(with_age["properties"]["age"], "36");

    let resp = http()
        .patch(format!("{}/crm/v3/objects/contacts/1001", fake.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"properties": {"lastname": "Lovelace"}}))
        .send()
        .await
        .expect("patch");
    let (status, patched) = json_of(resp).await;
    assert_eq!(status, 200);
    assert_eq!(patched["properties"]["lastname"], "Lovelace");
    assert_eq!(patched["properties"]["firstname"], "Ada");

    let resp = http()
        .delete(format!("{}/crm/v3/objects/contacts/1001", fake.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 204);
    let (status, missing) = json_of(get(&fake, "/crm/v3/objects/contacts/1001").await).await;
    assert_eq!(status, 404);
    assert_error_shape(&missing, "OBJECT_NOT_FOUND");
    assert!(fake.contact_by_email("ada@example.com").is_none());
    assert!(fake.contact("1001").is_some_and(|c| c.archived));
}

#[tokio::test]
async fn batch_upsert_creates_updates_and_reports_invalid_inputs() {
    let fake = FakeHubSpot::start().await;
    let existing = fake.seed_contact("old@example.com", [("firstname", "Old")]);
    let (status, body) = json_of(
        post(
            &fake,
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": [
                {"id": "OLD@example.com", "idProperty": "email", "properties": {"lastname": "Timer"}},
                {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "New"}},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "COMPLETE");
    assert!(body["startedAt"].is_string() && body["completedAt"].is_string());
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["id"], existing.as_str());
    assert_eq!(results[0]["new"], false);
    assert_eq!(results[0]["properties"]["email"], "old@example.com");
    assert_eq!(results[0]["properties"]["firstname"], "Old");
    assert_eq!(results[1]["new"], true);
    assert_eq!(results[1]["archived"], false);

    let (status, body) = json_of(
        post(
            &fake,
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": [
                {"id": "bad-email", "idProperty": "email", "properties": {}},
                {"id": "third@example.com", "idProperty": "email", "properties": {}},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["results"].as_array().map(Vec::len), Some(1));
    let error = &body["errors"][0];
    assert_error_shape(error, "VALIDATION_ERROR");
    assert_eq!(error["context"]["ids"][0], "bad-email");
    assert_eq!(fake.contacts().len(), 3);

    let inputs: Vec<Value> = (0..101)
        .map(
            |i| json!({"id": format!("u{i}@example.com"), "idProperty": "email", "properties": {}}),
        )
        .collect();
    let (status, body) = json_of(
        post(
            &fake,
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": inputs}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_error_shape(&body, "VALIDATION_ERROR");
    assert_eq!(fake.contacts().len(), 3, "a rejected batch writes nothing");
}

#[tokio::test]
async fn batch_read_by_email_finds_contacts_and_reports_the_missing_as_items() {
    let fake = FakeHubSpot::start().await;
    let id = fake.seed_contact(
        "altha@email.co.uk",
        [("thiscovery_last_login_date", "1700000000000")],
    );
    let resp = post(
        &fake,
        "/crm/v3/objects/contacts/batch/read",
        json!({
            "properties": ["thiscovery_last_login_date", "email"],
            "idProperty": "email",
            "inputs": [{"id": "Altha@Email.co.uk"}, {"id": "nobody@email.co.uk"}]
        }),
    )
    .await;
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["id"], json!(id));
    assert_eq!(
        body["results"][0]["properties"],
        json!({"email": "altha@email.co.uk", "thiscovery_last_login_date": "1700000000000"})
    );
    assert_eq!(body["numErrors"], json!(1));
    assert_eq!(body["errors"][0]["category"], json!("OBJECT_NOT_FOUND"));
    assert_eq!(
        body["errors"][0]["context"]["ids"],
        json!(["nobody@email.co.uk"])
    );
    // By id, without `idProperty`.
    let resp = post(
        &fake,
        "/crm/v3/objects/contacts/batch/read",
        json!({"properties": ["email"], "inputs": [{"id": id}]}),
    )
    .await;
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["properties"]["email"],
        json!("altha@email.co.uk")
    );
    assert_eq!(fake.requests_to(Endpoint::ContactsBatchRead), 2);
}

#[tokio::test]
async fn auth_expiry_refresh_and_revocation() {
    let fake = FakeHubSpot::builder()
        .token_ttl(Duration::from_secs(1))
        .start()
        .await;
    let tokens = fake.issue_token_set();
    assert_eq!(tokens.expires_in, 1);
    let call = |token: String| {
        let url = format!("{}/crm/v3/objects/contacts/1", fake.base_url());
        async move {
            http()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
        }
    };
    // Valid token: the contact is simply absent.
    assert_eq!(
        call(tokens.access_token.clone()).await.status().as_u16(),
        404
    );

    let (status, body) = json_of(call("nope".into()).await).await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "INVALID_AUTHENTICATION");
    let resp = http()
        .get(format!("{}/crm/v3/objects/contacts/1", fake.base_url()))
        .send()
        .await
        .expect("request");
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "INVALID_AUTHENTICATION");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = json_of(call(tokens.access_token.clone()).await).await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "EXPIRED_AUTHENTICATION");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The OAuth token used to make this call expired"))
    );

    let (status, fresh) =
        json_of(refresh(&fake, &tokens.refresh_token, FakeHubSpot::CLIENT_SECRET).await).await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fresh["token_type"], "bearer");
    assert_eq!(fresh["expires_in"], 1);
    assert_eq!(
        fresh["refresh_token"],
        tokens.refresh_token.as_str(),
        "not rotated by default"
    );
    let access = fresh["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert_eq!(call(access.clone()).await.status().as_u16(), 404);
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(fake.requests_to(Endpoint::OAuthToken), 1);

    fake.expire_access_tokens();
    let (status, body) = json_of(call(access).await).await;
    assert_eq!(status, 401);
    assert_error_shape(&body, "EXPIRED_AUTHENTICATION");

    let (status, body) = json_of(refresh(&fake, &tokens.refresh_token, "wrong").await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["status"], "BAD_CLIENT_ID");

    assert!(fake.revoke_refresh_token(&tokens.refresh_token));
    let (status, body) =
        json_of(refresh(&fake, &tokens.refresh_token, FakeHubSpot::CLIENT_SECRET).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "missing or unknown refresh token"
    );
    assert!(body["correlationId"].is_string());
    assert_eq!(fake.tokens_issued(), 1);
}

#[tokio::test]
async fn rotating_refresh_tokens_revokes_the_old_one() {
    let fake = FakeHubSpot::builder()
        .rotate_refresh_tokens(true)
        .start()
        .await;
    let tokens = fake.issue_token_set();
    let (status, body) =
        json_of(refresh(&fake, &tokens.refresh_token, FakeHubSpot::CLIENT_SECRET).await).await;
    assert_eq!(status, 200);
    assert_ne!(body["refresh_token"], tokens.refresh_token.as_str());
    let resp = refresh(&fake, &tokens.refresh_token, FakeHubSpot::CLIENT_SECRET).await;
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn rolling_window_rate_limit() {
    // Wide enough that six local requests fit in it even on a loaded 2-core machine (a 300 ms
    // window failed there five times in a row); a slower run retries.
    let window = Duration::from_secs(2);
    for attempt in 1..=5 {
        let fake = FakeHubSpot::builder().rate_limit(5, window).start().await;
        let started = std::time::Instant::now();
        let mut remaining = Vec::new();
        for i in 0..5 {
            let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
            assert_eq!(
                resp.status().as_u16(),
                404,
                "request {i} is within the limit"
            );
            let h = resp.headers();
            assert_eq!(h["x-hubspot-ratelimit-max"], "5");
            assert_eq!(h["x-hubspot-ratelimit-interval-milliseconds"], "2000");
            remaining.push(
                h["x-hubspot-ratelimit-remaining"]
                    .to_str()
                    .expect("ascii header")
                    .to_owned(),
            );
        }
        let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
        if started.elapsed() >= window {
            // Earlier requests may have left the window: the counts below would not hold.
            assert!(attempt < 5, "machine too slow for a 2 s window");
            continue;
        }
        assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()["x-hubspot-ratelimit-remaining"], "0");
        let (_, body) = json_of(resp).await;
        assert_eq!(body["status"], "error");
        assert_eq!(body["errorType"], "RATE_LIMIT");
        assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
        assert_eq!(
            body["message"],
            "You have reached your ten_secondly_rolling limit."
        );
        assert!(body["correlationId"].is_string() && body["groupName"].is_string());
        // Rejected requests do not count: once the window has passed, 5 more are accepted.
        tokio::time::sleep(window).await;
        for _ in 0..5 {
            let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
            assert_eq!(resp.status().as_u16(), 404);
        }
        // The token endpoint is never limited and carries no rate-limit headers.
        let resp = refresh(&fake, "unknown", FakeHubSpot::CLIENT_SECRET).await;
        assert_eq!(resp.status().as_u16(), 400);
        assert!(resp.headers().get("x-hubspot-ratelimit-max").is_none());
        // Separate apps have separate windows.
        let tokens = fake.issue_token_set();
        let resp = http()
            .get(format!("{}/crm/v3/objects/contacts/1", fake.base_url()))
            .bearer_auth(tokens.access_token)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.headers()["x-hubspot-ratelimit-remaining"], "4");
        return;
    }
}

#[tokio::test]
async fn daily_limit() {
    let fake = FakeHubSpot::builder().daily_limit(2).start().await;
    for left in ["1", "0"] {
        let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
        assert_eq!(resp.headers()["x-hubspot-ratelimit-daily"], "2");
        assert_eq!(resp.headers()["x-hubspot-ratelimit-daily-remaining"], left);
    }
    let (status, body) = json_of(get(&fake, "/crm/v3/objects/contacts/1").await).await;
    assert_eq!(status, 429);
    assert_eq!(body["policyName"], "DAILY");
    assert_eq!(body["message"], "You have reached your daily limit.");
}

#[tokio::test]
async fn timeline_events_are_idempotent_by_template_and_id() {
    let fake = FakeHubSpot::start().await;
    let contact = fake.seed_contact("t@example.com", Vec::<(String, String)>::new());
    let event = json!({
        "eventTemplateId": FakeHubSpot::TIMELINE_TEMPLATE_ID,
        "id": "user-task-1",
        "email": "T@example.com",
        "tokens": {"project": "P", "count": 3},
        "extraData": {"k": [1, 2]},
    });
    let (status, body) =
        json_of(post(&fake, "/integrators/timeline/v3/events", event.clone()).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["objectType"], "contacts");
    assert_eq!(body["objectId"], contact.as_str());
    assert_eq!(body["tokens"]["count"], "3");
    assert_eq!(body["extraData"]["k"][1], 2);
    let (status, dup) = json_of(post(&fake, "/integrators/timeline/v3/events", event).await).await;
    assert_eq!(status, 409);
    assert_error_shape(&dup, "CONFLICT");
    assert_eq!(fake.timeline_events().len(), 1);

    let path = format!(
        "/integrators/timeline/v3/events/{}/user-task-1",
        FakeHubSpot::TIMELINE_TEMPLATE_ID
    );
    let (status, got) = json_of(get(&fake, &path).await).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], "user-task-1");

    let (status, body) = json_of(
        post(
            &fake,
            "/integrators/timeline/v3/events",
            json!({"eventTemplateId": "999", "email": "t@example.com", "tokens": {}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "OBJECT_NOT_FOUND");
    let (status, body) = json_of(
        post(
            &fake,
            "/integrators/timeline/v3/events",
            json!({"eventTemplateId": FakeHubSpot::TIMELINE_TEMPLATE_ID, "email": "nobody@example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "OBJECT_NOT_FOUND");

    let (status, body) = json_of(
        post(
            &fake,
            "/integrators/timeline/v3/events/batch/create",
            json!({"inputs": [
                {"eventTemplateId": FakeHubSpot::TIMELINE_TEMPLATE_ID, "id": "user-task-2", "objectId": contact},
                {"eventTemplateId": FakeHubSpot::TIMELINE_TEMPLATE_ID, "id": "user-task-1", "objectId": contact},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["errors"][0]["category"], "CONFLICT");
    assert_eq!(body["results"][0]["id"], "user-task-2");
    assert_eq!(fake.timeline_events().len(), 2);
}

#[tokio::test]
async fn single_send_is_idempotent_by_send_id() {
    let fake = FakeHubSpot::start().await;
    let send = json!({
        "emailId": 4242,
        "message": {"to": "r@example.com", "sendId": "notification-1"},
        "contactProperties": {"firstname": "R"},
        "customProperties": {"link": "https://x"},
    });
    let (status, first) = json_of(
        post(
            &fake,
            "/marketing/v3/transactional/single-email/send",
            send.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    // As HubSpot answers: PENDING, with a statusId to poll.
    assert_eq!(first["status"], "PENDING");
    assert!(first.get("sendResult").is_none(), "{first}");
    assert!(first["statusId"].is_string());
    let (status, second) =
        json_of(post(&fake, "/marketing/v3/transactional/single-email/send", send).await).await;
    assert_eq!(status, 200);
    assert_eq!(second["sendResult"], "IDEMPOTENT_IGNORE");
    assert_eq!(fake.sent_emails().len(), 1);
    assert_eq!(fake.sent_emails()[0].custom_properties["link"], "https://x");

    let status_id = first["statusId"].as_str().expect("statusId");
    let (status, got) = json_of(
        get(
            &fake,
            &format!("/marketing/v3/email/send-statuses/{status_id}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["statusId"], status_id);
    assert_eq!(got["status"], "COMPLETE");
    assert_eq!(got["sendResult"], "SENT");
    assert!(got["eventId"]["id"].is_string());
    // The status does not change from one read to the next.
    let (_, again) = json_of(
        get(
            &fake,
            &format!("/marketing/v3/email/send-statuses/{status_id}"),
        )
        .await,
    )
    .await;
    assert_eq!(again, got);
    let (status, body) = json_of(get(&fake, "/marketing/v3/email/send-statuses/nope").await).await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "OBJECT_NOT_FOUND");

    for bad in [
        json!({"message": {"to": "r@example.com"}}),
        json!({"emailId": 1, "message": {"to": "not-an-email"}}),
        // HubSpot's schema: emailId is an integer.
        json!({"emailId": "4242", "message": {"to": "r@example.com"}}),
    ] {
        let (status, body) =
            json_of(post(&fake, "/marketing/v3/transactional/single-email/send", bad).await).await;
        assert_eq!(status, 400);
        assert_error_shape(&body, "VALIDATION_ERROR");
    }
    assert_eq!(fake.sent_emails().len(), 1);
}

#[tokio::test]
async fn faults_answer_n_times_then_fall_through() {
    let fake = FakeHubSpot::builder()
        .rate_limit(100, Duration::from_secs(10))
        .start()
        .await;
    fake.inject(Endpoint::ContactsGet, Fault::status(503).times(2));
    fake.inject(Endpoint::ContactsGet, Fault::rate_limited().retry_after(1));
    fake.inject(Endpoint::ContactsGet, Fault::html_bad_gateway());
    for _ in 0..2 {
        let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
        assert!(resp.headers().contains_key("x-hubspot-ratelimit-remaining"));
        let (status, body) = json_of(resp).await;
        assert_eq!(status, 503);
        assert_error_shape(&body, "INTERNAL_ERROR");
    }
    let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["x-hubspot-ratelimit-remaining"], "0");
    let (_, body) = json_of(resp).await;
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    let resp = get(&fake, "/crm/v3/objects/contacts/1").await;
    assert_eq!(resp.status().as_u16(), 502);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/html"))
    );
    // Faults on another endpoint are untouched; this one falls through to the router.
    assert_eq!(
        get(&fake, "/crm/v3/objects/contacts/1")
            .await
            .status()
            .as_u16(),
        404
    );
    let journal = fake.journal();
    assert_eq!(journal.len(), 5);
    assert_eq!(journal.iter().filter(|e| e.faulted).count(), 4);
    assert_eq!(journal[4].status, Some(404));
    assert!(fake.armed_faults().is_empty());
}

#[tokio::test]
async fn latency_fault_applies_the_write_then_answers_late() {
    let fake = FakeHubSpot::start().await;
    fake.inject(
        Endpoint::ContactsCreate,
        Fault::latency(Duration::from_millis(500)),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let err = client
        .post(format!("{}/crm/v3/objects/contacts", fake.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"properties": {"email": "slow@example.com"}}))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err}");
    assert!(fake.contact_by_email("slow@example.com").is_some());
}

#[tokio::test]
async fn dropped_connection_is_a_connection_error() {
    let fake = FakeHubSpot::start().await;
    fake.inject(Endpoint::Any, Fault::drop_connection());
    let err = http()
        .post(format!("{}/crm/v3/objects/contacts", fake.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"properties": {"email": "d@example.com"}}))
        .send()
        .await
        .expect_err("connection dropped");
    assert!(!err.is_timeout(), "{err}");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert!(
        fake.contacts().is_empty(),
        "a dropped request changes nothing"
    );
    let journal = fake.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].status, None);
    assert_eq!(journal[0].endpoint, Endpoint::ContactsCreate);
    // The next request goes through.
    let resp = post(
        &fake,
        "/crm/v3/objects/contacts",
        json!({"properties": {"email": "d@example.com"}}),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn unmatched_routes_answer_501_naming_the_route() {
    let fake = FakeHubSpot::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/foo"),
        (reqwest::Method::GET, "/crm/v3/objects/contacts/"),
        (reqwest::Method::PUT, "/crm/v3/objects/contacts/1"),
    ] {
        let resp = http()
            .request(method.clone(), format!("{}{path}", fake.base_url()))
            .send()
            .await
            .expect("request");
        let (status, body) = json_of(resp).await;
        assert_eq!(status, 501);
        assert_error_shape(&body, "NOT_IMPLEMENTED");
        assert_eq!(
            body["message"],
            format!("fake-hubspot: no route for {method} {path}")
        );
    }
    assert_eq!(fake.requests_to(Endpoint::Unmatched), 3);
}

#[tokio::test]
async fn seed_and_admin_api_in_process() {
    let seed = Seed::from_json(
        r#"{"contacts": [{"email": "s@example.com", "properties": {"n": 1}}],
            "static_tokens": ["other"], "timeline_templates": ["77"]}"#,
    )
    .expect("seed");
    let fake = FakeHubSpot::builder().seed(seed).start().await;
    assert_eq!(
        fake.contact_by_email("s@example.com")
            .and_then(|c| c.property("n").map(str::to_owned)),
        Some("1".into())
    );
    let resp = http()
        .get(format!("{}/crm/v3/objects/contacts/1001", fake.base_url()))
        .bearer_auth("other")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http()
        .post(format!("{}/__fake/faults", fake.base_url()))
        .json(&json!({"endpoint": "ContactsGet", "status": 500, "times": 1}))
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        get(&fake, "/crm/v3/objects/contacts/1001")
            .await
            .status()
            .as_u16(),
        500
    );
    let (_, journal) = json_of(
        http()
            .get(format!("{}/__fake/journal", fake.base_url()))
            .send()
            .await
            .expect("admin"),
    )
    .await;
    assert_eq!(journal.as_array().map(Vec::len), Some(2));
    assert_eq!(journal[1]["endpoint"], "ContactsGet");
    let resp = http()
        .post(format!("{}/__fake/reset", fake.base_url()))
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status().as_u16(), 204);
    assert!(fake.journal().is_empty());
    assert_eq!(fake.contacts().len(), 1, "reset keeps the seed");
}

#[tokio::test]
async fn standalone_binary_serves_the_fake_and_its_admin_api() {
    use std::io::BufRead;

    let seed = std::env::temp_dir().join(format!("fake-hubspot-seed-{}.json", std::process::id()));
    std::fs::write(
        &seed,
        r#"{"contacts": [{"email": "bin@example.com", "properties": {"firstname": "Bin"}}]}"#,
    )
    .expect("write seed");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-hubspot"))
        .args(["--port", "0", "--rate-limit", "100/10s", "--seed"])
        .arg(&seed)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn fake-hubspot");
    let stdout = child.stdout.take().expect("stdout");
    // Keep the reader (and so the pipe) alive until the child is killed.
    let (first_line, _stdout) = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(stdout);
        reader.read_line(&mut line).expect("read stdout");
        (line, reader)
    })
    .await
    .expect("reader");
    let url = first_line
        .trim()
        .strip_prefix("fake-hubspot listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();

    let (status, contacts) = json_of(
        http()
            .get(format!("{url}/__fake/contacts"))
            .send()
            .await
            .expect("admin"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(contacts[0]["properties"]["email"], "bin@example.com");
    let resp = http()
        .get(format!("{url}/crm/v3/objects/contacts/1001"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("api");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-hubspot-ratelimit-max"], "100");

    child.kill().expect("kill");
    child.wait().expect("wait");
    let _ = std::fs::remove_file(seed);
}

/// The token endpoint as strict as HubSpot's: v3 takes its fields in the form body only (v1
/// also in the query), a JSON body is refused for what it is, and answers carry `hub_id` and
/// `scopes`.
#[tokio::test]
async fn the_token_endpoint_is_as_strict_as_hubspots() {
    let fake = FakeHubSpot::start().await;
    let issued = fake.issue_token_set();
    let fields = [
        ("grant_type", "refresh_token"),
        ("client_id", FakeHubSpot::CLIENT_ID),
        ("client_secret", FakeHubSpot::CLIENT_SECRET),
        ("refresh_token", issued.refresh_token.as_str()),
    ];
    // In the query, v3 sees no grant at all.
    let (status, body) = json_of(
        http()
            .post(format!("{}/oauth/v3/token", fake.base_url()))
            .query(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // As JSON: refused as the wrong encoding, not as a bad grant type.
    let as_json: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let (status, body) = json_of(
        http()
            .post(format!("{}/oauth/v3/token", fake.base_url()))
            .json(&as_json)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_ne!(body["status"], "BAD_GRANT_TYPE", "{body}");
    assert!(body["message"].as_str().unwrap().contains("form"), "{body}");
    // In the form body: a token set with the fields HubSpot's answer has.
    let (status, body) = json_of(
        http()
            .post(format!("{}/oauth/v3/token", fake.base_url()))
            .form(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for key in [
        "access_token",
        "refresh_token",
        "expires_in",
        "token_type",
        "hub_id",
        "scopes",
    ] {
        assert!(body.get(key).is_some(), "{key}: {body}");
    }
    assert!(
        body["hub_id"].is_u64() && body["scopes"].is_array(),
        "{body}"
    );
    // v1 still takes the query.
    let (status, _) = json_of(
        http()
            .post(format!("{}/oauth/v1/token", fake.base_url()))
            .query(&fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

/// `GET /__fake/faults` lists armed faults in the JSON form `POST` accepts, so a listing can
/// be armed again as it is.
#[tokio::test]
async fn armed_faults_list_as_the_json_post_takes() {
    let fake = FakeHubSpot::start().await;
    let spec = json!({"endpoint": "ContactsBatchUpsert", "kind": "rate_limit", "times": 2,
                      "retry_after_secs": 3, "headers": {"Retry-After": "1e300"}});
    let (status, _) = json_of(post(&fake, "/__fake/faults", spec.clone()).await).await;
    assert_eq!(status, 201);
    let (status, listed) = json_of(get(&fake, "/__fake/faults").await).await;
    assert_eq!(status, 200);
    assert_eq!(listed, json!([spec]));
    let (status, _) = json_of(post(&fake, "/__fake/faults", listed[0].clone()).await).await;
    assert_eq!(status, 201, "a listed fault arms again");
}

//! Tests of crm-testkit's core module: FakeCore answers like thiscovery-core's user API.

use crm_testkit::core::{
    ALTHA_ANON_PROJECT_SPECIFIC_USER_ID, ALTHA_EMAIL, ALTHA_USER_ID, CUSTOM_EMAIL_TASK_ID,
    CrmIdPatch, DEFAULT_PROJECT_ID, DEFAULT_PROJECT_NAME, FakeCore, TASK_SIGNUP_TASK_ID, project,
    task,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn get(core: &FakeCore, path_and_query: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", core.base_url()))
        .header("x-api-key", core.api_key())
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

async fn patch(core: &FakeCore, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .patch(format!("{}{path}", core.base_url()))
        .header("x-api-key", core.api_key())
        .json(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn user_by_id_returns_the_fixture_user() {
    let core = FakeCore::start().await;
    let (status, user) = get(&core, &format!("/v1/userv2/{ALTHA_USER_ID}")).await;
    assert_eq!(status, StatusCode::OK);
    let fixture: Value =
        serde_json::from_str(include_str!("../../fixtures/core-user.json")).expect("fixture");
    assert_eq!(user, fixture);
    assert_eq!(user["first_name"], "Altha");
    assert_eq!(user["crm_id"], Value::Null);
}

#[tokio::test]
async fn user_by_email_is_case_insensitive() {
    let core = FakeCore::start().await;
    let (status, user) = get(&core, "/v1/user?email=Altha%40Email.co.uk").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["id"], ALTHA_USER_ID);
    assert_eq!(user["email"], ALTHA_EMAIL);
}

#[tokio::test]
async fn user_by_anon_project_specific_user_id() {
    let core = FakeCore::start().await;
    let (status, user) = get(
        &core,
        &format!("/v1/user?anon_project_specific_user_id={ALTHA_ANON_PROJECT_SPECIFIC_USER_ID}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["id"], ALTHA_USER_ID);

    let (status, body) = get(&core, "/v1/user?anon_project_specific_user_id=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().expect("message").contains("nope"));
}

#[tokio::test]
async fn absent_users_are_404_json() {
    let core = FakeCore::start().await;
    for path in [
        "/v1/userv2/unknown-id",
        "/v1/user?email=nobody%40example.com",
    ] {
        let (status, body) = get(&core, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["message"].is_string(), "{path}: {body}");
        assert!(body["correlation_id"].is_string(), "{path}: {body}");
    }
    let (status, _) = get(&core, "/v1/user").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_api_key_is_required() {
    let core = FakeCore::builder()
        .api_key("secret-key")
        .with_defaults()
        .start()
        .await;
    let url = format!("{}/v1/userv2/{ALTHA_USER_ID}", core.base_url());
    let client = reqwest::Client::new();

    let missing = client.get(&url).send().await.expect("request");
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let body: Value = missing.json().await.expect("JSON");
    assert_eq!(body, json!({ "message": "Forbidden" }));

    let wrong = client
        .get(&url)
        .header("x-api-key", "other")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    let right = client
        .get(&url)
        .header("x-api-key", "secret-key")
        .send()
        .await
        .expect("request");
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(core.api_key(), "secret-key");
}

#[tokio::test]
async fn patch_sets_crm_id_and_records_it() {
    let core = FakeCore::start().await;
    let body = json!([{ "op": "replace", "path": "/crm_id", "value": "123" }]);
    let response = patch(&core, &format!("/v1/user/{ALTHA_USER_ID}"), &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        core.crm_id_patches(),
        vec![CrmIdPatch {
            user_id: ALTHA_USER_ID.to_owned(),
            crm_id: json!("123"),
        }]
    );
    assert_eq!(core.user(ALTHA_USER_ID).expect("user")["crm_id"], "123");
    let (_, user) = get(&core, &format!("/v1/userv2/{ALTHA_USER_ID}")).await;
    assert_eq!(
        user["crm_id"], "123",
        "the patch is visible through the API"
    );
}

#[tokio::test]
async fn bad_patches_change_nothing() {
    let core = FakeCore::start().await;
    let absent = patch(
        &core,
        "/v1/user/unknown-id",
        &json!([{ "op": "replace", "path": "/crm_id", "value": "1" }]),
    )
    .await;
    assert_eq!(absent.status(), StatusCode::NOT_FOUND);

    let not_a_patch = patch(
        &core,
        &format!("/v1/user/{ALTHA_USER_ID}"),
        &json!({ "crm_id": "1" }),
    )
    .await;
    assert_eq!(not_a_patch.status(), StatusCode::BAD_REQUEST);

    let half_bad = patch(
        &core,
        &format!("/v1/user/{ALTHA_USER_ID}"),
        &json!([
            { "op": "replace", "path": "/crm_id", "value": "1" },
            { "op": "remove", "path": "/email" }
        ]),
    )
    .await;
    assert_eq!(half_bad.status(), StatusCode::BAD_REQUEST);

    assert!(core.crm_id_patches().is_empty());
    assert_eq!(
        core.user(ALTHA_USER_ID).expect("user")["crm_id"],
        Value::Null
    );
}

#[tokio::test]
async fn projects_list_their_tasks() {
    let core = FakeCore::start().await;
    let (status, projects) = get(&core, "/v1/project").await;
    assert_eq!(status, StatusCode::OK);
    let projects = projects.as_array().expect("a list");
    assert_eq!(projects.len(), 1);
    let default = &projects[0];
    assert_eq!(default["id"], DEFAULT_PROJECT_ID);
    assert_eq!(default["name"], DEFAULT_PROJECT_NAME);
    let task_ids: Vec<&str> = default["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("task id"))
        .collect();
    assert_eq!(task_ids, vec![TASK_SIGNUP_TASK_ID, CUSTOM_EMAIL_TASK_ID]);
    assert_eq!(default["tasks"][0]["description"], "PSFU-05-A");
    assert_eq!(default["tasks"][0]["task_type_name"], "Photo upload");

    let (status, one) = get(&core, &format!("/v1/project/{DEFAULT_PROJECT_ID}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&one, default);
}

#[tokio::test]
async fn seeding_custom_users_and_projects() {
    let core = FakeCore::builder()
        .seed_user(json!({ "id": "u-1", "email": "one@example.com", "crm_id": null }))
        .anon_project_specific_user_id("anon-1", "u-1", "p-1")
        .seed_project(project("p-1", "Project one", [task("t-1", "Task one")]))
        .start()
        .await;
    let (status, user) = get(&core, "/v1/user?anon_project_specific_user_id=anon-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "one@example.com");
    let (_, projects) = get(&core, "/v1/project").await;
    assert_eq!(projects[0]["tasks"][0]["name"], "Task one");
    let (status, _) = get(&core, &format!("/v1/userv2/{ALTHA_USER_ID}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no defaults unless asked");

    core.seed_user(json!({ "id": "u-2", "email": "two@example.com" }));
    let (status, _) = get(&core, "/v1/userv2/u-2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(core.users().len(), 2);
}

#[tokio::test]
async fn unknown_routes_answer_501_naming_method_and_path() {
    let core = FakeCore::start().await;
    let response = reqwest::Client::new()
        .delete(format!("{}/v1/user/{ALTHA_USER_ID}", core.base_url()))
        .header("x-api-key", core.api_key())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    let body: Value = response.json().await.expect("JSON");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("DELETE"), "{message}");
    assert!(
        message.contains(&format!("/v1/user/{ALTHA_USER_ID}")),
        "{message}"
    );
    let journal = core.requests();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].status, 501);
}

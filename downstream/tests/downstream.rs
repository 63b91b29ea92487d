//! A downstream crate's end-to-end test of the thiscovery-crm crates: fake-hubspot as an
//! installed command, DynamoDB Local found by crm-testkit's harness after
//! `crm-testkit install-dynamodb-local`, a `Crm` built with the builder.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crm_testkit::core::FakeCore;
use crm_testkit::dynamodb::DynamoDbLocal;
use hubspot_client::{Client, RetryPolicy};
use thiscovery_crm::directory::http::HttpDirectory;
use thiscovery_crm::events::Envelope;
use thiscovery_crm::store::dynamodb::TableNames;
use thiscovery_crm::store::{EmailTemplate, TemplateProperty};
use thiscovery_crm::{Crm, CrmConfig, Outcome, Stores};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts the installed `fake-hubspot` on a free port; returns the process and its URL.
async fn fake_hubspot() -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new("fake-hubspot")
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("fake-hubspot is not on PATH: cargo install crm-testkit --bin fake-hubspot");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("fake-hubspot printed nothing for 30 s")
        .expect("fake-hubspot's stdout")
        .expect("fake-hubspot exited");
    let url = first
        .strip_prefix("fake-hubspot listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .to_owned();
    // Keep reading its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test]
async fn a_downstream_crate_records_and_processes_an_email() {
    let (_fake, hubspot_url) = fake_hubspot().await;
    let ddb = DynamoDbLocal::shared()
        .await
        .expect("DynamoDB Local: run `crm-testkit install-dynamodb-local` once");
    let stack = ddb.new_stack_with_tables().await.expect("tables");
    let tables = TableNames::for_stack(&stack);
    let stores = Stores::dynamodb(ddb.client(), &tables);

    let template = EmailTemplate::new("welcome", "1234567")
        .from("thiscovery <hello@thiscovery.org>")
        .custom_property(TemplateProperty::optional("project_task_name"));
    stores.templates.put_template(&template).await.expect("seed the template");

    let core = FakeCore::start().await;
    let hubspot = Client::builder()
        .base_url(&hubspot_url)
        .static_token("test-token")
        .retry_policy(RetryPolicy::fast_for_tests())
        .build()
        .expect("client");
    let crm = Crm::builder()
        .hubspot(hubspot)
        .stores(stores)
        .directory(Arc::new(
            HttpDirectory::new(&core.base_url(), core.api_key()).expect("core client"),
        ))
        .config(CrmConfig::for_env("downstream"))
        .build()
        .expect("the Crm");

    let event = Envelope::from_value(serde_json::json!({
        "version": "0",
        "id": "7d9c3f0e-0b7a-4c52-9f61-2a1d3e4b5c6d",
        "detail-type": "transactional_email",
        "source": "thiscovery",
        "time": "2026-12-01T10:00:00Z",
        "detail": {
            "template_name": "welcome",
            "to_recipient_email": "ada@example.org",
            "custom_properties": {"project_task_name": "Screening"}
        }
    }))
    .expect("a transactional_email event");
    let report = crm.handle(&event).await.expect("handled");
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");

    // The fake's admin API: exactly one email sent, with our template's HubSpot id.
    let emails: serde_json::Value = http_get(&format!("{hubspot_url}/__fake/emails")).await;
    let emails = emails.as_array().expect("a JSON array");
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["emailId"], serde_json::json!(1234567), "{emails:?}");

    // Processing again sends nothing more.
    let summary = crm.process_pending().await.expect("a sweep");
    assert!(summary.items.is_empty(), "{summary:?}");
}

/// A GET with the client crate's own HTTP stack is not in the public API; a tiny HTTP/1.1 GET
/// over a TCP stream keeps this crate's dependencies to what a user would have.
async fn http_get(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request =
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Chunked or not, the JSON is the body's one line that parses.
    body.lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON in {body:?}"))
}

//! B2 peer: the floor. A minimal HubSpot client any Rust service could write in an afternoon:
//! one `reqwest::Client`, serde structs for the two requests and the fields it reads back, a
//! bearer header, no retry, no rate limiter, no typed errors.
//!
//! Same work as the other peers (see `hubspot_client.rs` and `benches/peers/README.md`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

#[path = "common.rs"]
mod common;

#[derive(Serialize)]
struct UpsertBatch<'a> {
    inputs: [UpsertInput<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpsertInput<'a> {
    id: &'a str,
    id_property: &'static str,
    properties: BTreeMap<&'static str, &'a str>,
}

#[derive(Deserialize)]
struct UpsertResponse {
    results: Vec<UpsertedId>,
}

#[derive(Deserialize)]
struct UpsertedId {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SingleSend<'a> {
    email_id: u64,
    message: Message<'a>,
    contact_properties: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    to: &'a str,
    send_id: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendStatus {
    status_id: String,
}

async fn run(cfg: common::Config) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| format!("cannot build the client: {e}"))?;
    let base = cfg.base_url.trim_end_matches('/');
    let upsert_url = format!("{base}/crm/v3/objects/contacts/batch/upsert");
    let send_url = format!("{base}/marketing/v3/transactional/single-email/send");
    for i in 0..cfg.calls {
        let (email, first, last) = common::contact(i);
        let body = UpsertBatch {
            inputs: [UpsertInput {
                id: &email,
                id_property: "email",
                properties: BTreeMap::from([
                    ("email", email.as_str()),
                    ("firstname", first.as_str()),
                    ("lastname", last.as_str()),
                ]),
            }],
        };
        let response = http
            .post(&upsert_url)
            .bearer_auth(&cfg.token)
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("upsert {i} failed: {e}"))?;
        let parsed: UpsertResponse = response
            .json()
            .await
            .map_err(|e| format!("upsert {i}: bad response: {e}"))?;
        if parsed.results.first().is_none_or(|r| r.id.is_empty()) {
            return Err(format!("upsert {i}: no id in the response"));
        }
    }
    for i in 0..cfg.calls {
        let (email, send_id) = common::send(i);
        let body = SingleSend {
            email_id: common::EMAIL_ID,
            message: Message {
                to: &email,
                send_id: &send_id,
            },
            contact_properties: BTreeMap::from([("firstname", "Ada")]),
        };
        let response = http
            .post(&send_url)
            .bearer_auth(&cfg.token)
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("single-send {i} failed: {e}"))?;
        let parsed: SendStatus = response
            .json()
            .await
            .map_err(|e| format!("single-send {i}: bad response: {e}"))?;
        if parsed.status_id.is_empty() {
            return Err(format!("single-send {i}: no statusId in the response"));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    common::main(run).await
}

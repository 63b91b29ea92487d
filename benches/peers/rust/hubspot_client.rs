//! B2 peer: this workspace's `hubspot-client` doing the benchmark's work.
//!
//! `PEER_CALLS` contact upserts by email (one contact per call) then `PEER_CALLS` single-sends,
//! one after the other on one reused client, against `HUBSPOT_BASE_URL` with the static token
//! `HUBSPOT_TOKEN`. `PEER_CALLS=0` builds the client and exits: the start-up cost. Run by
//! `benches/peers/run.sh`; see `benches/peers/README.md`.
//!
//! The rate limiter stays on (so its cost is measured) with a limit far above what the run
//! can reach, so it never waits; the retry policy is the default one (no retry happens: the
//! fake answers every call 200).

use std::process::ExitCode;
use std::time::Duration;

use hubspot_client::contacts::Properties;
use hubspot_client::transactional::{SendId, SingleSendRequest};
use hubspot_client::{Client, RateLimit};

#[path = "common.rs"]
mod common;

async fn run(cfg: common::Config) -> Result<(), String> {
    let client = Client::builder()
        .base_url(cfg.base_url)
        .static_token(cfg.token)
        .rate_limit(RateLimit::new(1_000_000, Duration::from_secs(1)))
        .build()
        .map_err(|e| format!("cannot build the client: {e}"))?;
    for i in 0..cfg.calls {
        let (email, first, last) = common::contact(i);
        let mut props = Properties::new();
        props.insert("firstname".into(), first);
        props.insert("lastname".into(), last);
        client
            .contacts()
            .upsert_by_email(&email, &props)
            .await
            .map_err(|e| format!("upsert {i} failed: {e}"))?;
    }
    for i in 0..cfg.calls {
        let (email, send_id) = common::send(i);
        let request = SingleSendRequest::new(common::EMAIL_ID, email, SendId::new(send_id))
            .contact_property("firstname", "Ada");
        let status = client
            .transactional()
            .send(&request)
            .await
            .map_err(|e| format!("single-send {i} failed: {e}"))?;
        if !status.send_result.as_ref().is_some_and(|r| r.is_sent()) {
            return Err(format!("single-send {i} was not sent: {status:?}"));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    common::main(run).await
}

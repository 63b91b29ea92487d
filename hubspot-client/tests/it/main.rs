//! hubspot-client's integration tests against wiremock servers that answer as HubSpot
//! documents (status codes, bodies, headers). One binary, one module per area.

// Test helpers outside #[test] functions unwrap freely: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod auth;
mod common;
mod contacts;
mod retries;
mod timeline;
mod transactional;

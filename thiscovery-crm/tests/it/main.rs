//! thiscovery-crm's integration tests: the real fixture events through the whole stack
//! against FakeHubSpot, FakeCore and both store implementations (in memory, and DynamoDB
//! Local through crm-testkit's harness). One binary, one module per area.

// Test helpers outside #[test] functions unwrap freely: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod budget;
mod common;
mod compat;
mod effects;
mod events;
mod fuzz;
mod handlers;
mod limits;
mod liveness;
mod outbox;
mod outcomes;
mod soak;
mod stores;
mod two_apps;

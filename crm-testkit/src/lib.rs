//! Test fixtures for thiscovery crates: a stateful fake HubSpot ([`hubspot`]), a fake
//! thiscovery-core user API ([`core`]), a real DynamoDB Local harness ([`dynamodb`]), a real
//! Secrets Manager API (moto's server mode, [`secrets`]) and a local Lambda Runtime API to
//! run a Lambda function binary against ([`lambda`]).
//!
//! This crate depends on neither `hubspot-client` nor `thiscovery-crm`: it speaks HTTP/JSON and
//! DynamoDB and owns its own state types, so both crates can dev-depend on it without a cycle
//! and a model bug in the client is never mirrored by the fake.
#![deny(missing_docs)]

pub mod core;
pub mod dynamodb;
pub mod hubspot;
pub mod lambda;
pub mod secrets;

//! The thiscovery CRM stack: EventBridge events to HubSpot through a DynamoDB notifications
//! outbox.
//!
//! This crate is being built up; see the workspace `DESIGN.md` for the shape it grows into.
#![deny(missing_docs)]

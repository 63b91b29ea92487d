//! The thiscovery CRM stack: EventBridge events to HubSpot through a DynamoDB notifications
//! outbox.
//!
//! See the workspace `DESIGN.md` for the architecture. Modules:
//! - [`events`]: typed EventBridge envelopes and payloads;
//! - [`notification`]: the outbox item and its status machine;
//! - [`store`]: the four tables, in memory and in DynamoDB;
//! - [`timestamp`]: the tables' timestamp form.
#![deny(missing_docs)]

pub mod clock;
pub mod country;
mod crm;
pub mod directory;
pub mod events;
pub mod notification;
pub mod processor;
pub mod store;
pub mod timestamp;

pub use crm::{
    CleanupSummary, Crm, CrmConfig, HandleError, HandleReport, Outcome, RETENTION, Recorded,
    lease_until_ms,
};
pub use processor::{ItemReport, ProcessSummary};

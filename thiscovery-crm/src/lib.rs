#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod clock;
pub mod config;
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

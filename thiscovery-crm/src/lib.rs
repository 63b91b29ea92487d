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
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timestamp;

pub use crm::{
    BuildError, CleanupSummary, Crm, CrmBuilder, CrmConfig, EMAILS_TOKEN_ITEM, HandleError,
    HandleReport, MAIN_TOKEN_ITEM, Outcome, RETENTION, Recorded, Stores, lease_until_ms,
};
pub use processor::{ItemReport, ProcessSummary};

#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod clock;
#[cfg(feature = "dynamodb")]
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

// The foreign crates this crate's public API uses (`Stores::dynamodb` takes an
// `aws_sdk_dynamodb::Client`, timestamps are `time::OffsetDateTime`, payloads
// `serde_json::Value`), re-exported so a caller uses the same versions without a dependency of
// its own; and the HubSpot client.
#[cfg(feature = "dynamodb")]
#[doc(no_inline)]
pub use aws_sdk_dynamodb;
#[doc(no_inline)]
pub use hubspot_client;
#[doc(no_inline)]
pub use serde_json;
#[doc(no_inline)]
pub use time;

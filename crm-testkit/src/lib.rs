#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// The foreign crates in this crate's public API (`DynamoDbLocal::client` is an
// `aws_sdk_dynamodb::Client`, the fakes speak `serde_json::Value`), re-exported so a test uses
// the same versions without a dependency of its own.
#[doc(no_inline)]
pub use aws_sdk_dynamodb;
#[doc(no_inline)]
pub use serde_json;

pub mod core;
pub mod dynamodb;
pub mod hubspot;
pub mod lambda;
pub mod secrets;

// The README's links, as intra-doc links: defined before the README, so rustdoc links this
// crate's own items while GitHub and crates.io follow the README's docs.rs definitions.
#![doc = "[`TokenStore`]: auth::TokenStore"]
#![doc = "[`CredentialsSource`]: auth::CredentialsSource"]
#![doc = "[`SharedBudget`]: budget::SharedBudget"]
#![doc = "[`BudgetStore`]: budget::BudgetStore"]
#![doc = "[`budget`]: budget"]
#![doc = "[`contacts`]: contacts"]
#![doc = "[`timeline`]: timeline"]
#![doc = "[`transactional`]: transactional"]
#![doc = "[`oauth`]: oauth"]
#![doc = "[`Error::class`]: Error::class"]
#![doc = "[`ErrorClass`]: ErrorClass"]
#![doc = ""]
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod auth;
mod batch;
pub mod budget;
mod client;
pub mod contacts;
mod error;
pub mod ids;
mod limiter;
mod macros;
pub mod oauth;
mod policy;
mod send;
pub mod timeline;
pub mod transactional;
mod version;

pub use batch::{ItemFailure, MAX_BATCH};
pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use error::{ApiError, Error, ErrorClass, ErrorDetail, RAW_BODY_LIMIT, Result, TransportKind};
pub use limiter::RateLimit;
pub use policy::{
    DEFAULT_MAX_RETRY_AFTER, RetryPolicy, classify_status, next_daily_reset, parse_retry_after,
};
pub use version::ApiVersion;

// The foreign crates this crate's public API uses, so a caller names the very versions this
// crate was built with (`hubspot_client::secrecy::SecretString`, ...) without a dependency of
// its own.
#[doc(no_inline)]
pub use reqwest;
#[doc(no_inline)]
pub use secrecy;
#[doc(no_inline)]
pub use serde_json;

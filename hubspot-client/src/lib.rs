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

//! Test fixtures for thiscovery crates.
#![deny(missing_docs)]

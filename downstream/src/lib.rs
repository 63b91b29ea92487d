//! Nothing here: the check is `tests/downstream.rs`, a downstream crate's test of the
//! thiscovery-crm crates. See README.md.

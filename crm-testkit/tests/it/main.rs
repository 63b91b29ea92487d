//! crm-testkit's own integration tests: one binary, one module per area.

mod core;
mod dynamodb;
mod hubspot;
mod hubspot_wire;
mod lambda;
mod secrets;

//! Tests of crm-testkit's hubspot module.

//! Tests of crm-testkit's core module.

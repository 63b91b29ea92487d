//! Tests of crm-testkit's dynamodb module.

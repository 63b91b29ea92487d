//! template.yaml's tables must be the ones crm-testkit creates (and the production ones): the
//! two are compared field by field, so they cannot drift.

#![allow(clippy::unwrap_used)]

use crm_testkit::dynamodb::{KeySpec, TABLES};
use serde_norway::Value;

fn template() -> Value {
    let path = format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The table resource whose `TableName` is `!Sub "${AWS::StackName}-{suffix}"`.
fn table<'a>(resources: &'a Value, suffix: &str) -> &'a Value {
    let wanted = format!("${{AWS::StackName}}-{suffix}");
    resources
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| {
            r["Type"] == "AWS::DynamoDB::Table"
                && match &r["Properties"]["TableName"] {
                    Value::Tagged(t) => t.tag == "!Sub" && t.value == wanted.as_str(),
                    _ => false,
                }
        })
        .unwrap_or_else(|| panic!("template.yaml has no table {wanted}"))
}

fn key_schema(value: &Value) -> Vec<(String, String)> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn expected_keys(hash: KeySpec, range: Option<KeySpec>) -> Vec<(String, String)> {
    let mut keys = vec![(hash.name.to_owned(), "HASH".to_owned())];
    if let Some(range) = range {
        keys.push((range.name.to_owned(), "RANGE".to_owned()));
    }
    keys
}

#[test]
fn template_tables_match_the_schema_the_testkit_creates() {
    let template = template();
    let resources = &template["Resources"];
    let table_resources = resources
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::DynamoDB::Table")
        .count();
    assert_eq!(table_resources, TABLES.len());
    for spec in TABLES {
        let props = &table(resources, spec.suffix)["Properties"];
        assert_eq!(props["BillingMode"], spec.billing_mode, "{}", spec.suffix);
        assert_eq!(
            key_schema(&props["KeySchema"]),
            expected_keys(spec.hash_key, spec.range_key),
            "{}",
            spec.suffix
        );
        // Every key attribute (table and indexes) is defined with the same type.
        let mut expected_attrs: Vec<(String, String)> = Vec::new();
        let mut add = |k: KeySpec| {
            let pair = (k.name.to_owned(), k.attribute_type.to_owned());
            if !expected_attrs.contains(&pair) {
                expected_attrs.push(pair);
            }
        };
        add(spec.hash_key);
        spec.range_key.into_iter().for_each(&mut add);
        for index in spec.global_secondary_indexes {
            add(index.hash_key);
            index.range_key.into_iter().for_each(&mut add);
        }
        let mut attrs: Vec<(String, String)> = props["AttributeDefinitions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["AttributeName"].as_str().unwrap().to_owned(),
                    a["AttributeType"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        attrs.sort();
        expected_attrs.sort();
        assert_eq!(attrs, expected_attrs, "{}", spec.suffix);
        let indexes = props["GlobalSecondaryIndexes"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            indexes.len(),
            spec.global_secondary_indexes.len(),
            "{}",
            spec.suffix
        );
        for index in spec.global_secondary_indexes {
            let found = indexes
                .iter()
                .find(|i| i["IndexName"] == index.name)
                .unwrap_or_else(|| panic!("{}: no index {}", spec.suffix, index.name));
            assert_eq!(
                key_schema(&found["KeySchema"]),
                expected_keys(index.hash_key, index.range_key)
            );
            assert_eq!(found["Projection"]["ProjectionType"], index.projection);
        }
        // Production settings the testkit does not model.
        assert_eq!(
            props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        assert!(props["StreamSpecification"]["StreamViewType"].is_string());
    }
}

#[test]
fn the_function_is_wired_to_its_events_and_only_its_tables() {
    let template = template();
    let function = &template["Resources"]["CrmFunction"]["Properties"];
    assert_eq!(function["Runtime"], "provided.al2023");
    let events = function["Events"].as_mapping().unwrap();
    let auth0 = &events[&Value::from("Auth0Logins")]["Properties"]["Pattern"];
    assert_eq!(
        auth0["detail"]["data"]["type"],
        serde_norway::from_str::<Value>("[s, ss]").unwrap()
    );
    let thiscovery =
        &events[&Value::from("ThiscoveryEvents")]["Properties"]["Pattern"]["detail-type"];
    for detail_type in ["task_signup", "transactional_email", "custom_email"] {
        assert!(
            thiscovery
                .as_sequence()
                .unwrap()
                .iter()
                .any(|d| d == detail_type)
        );
    }
    let input = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            events[&Value::from(name)]["Properties"]["Input"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        input("ProcessNotifications")["action"],
        "process_notifications"
    );
    assert_eq!(input("DailyCleanup")["action"], "cleanup");
    // Least privilege: CRUD on the stack's own four tables and nothing else.
    let policies = function["Policies"].as_sequence().unwrap();
    assert_eq!(policies.len(), 4);
    for policy in policies {
        let crud = &policy["DynamoDBCrudPolicy"]["TableName"];
        assert!(
            matches!(crud, Value::Tagged(t) if t.tag == "!Ref"),
            "{policy:?}"
        );
    }
}

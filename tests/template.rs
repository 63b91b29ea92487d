//! template.yaml must deploy over the Python stack (COMPAT-PYTHON.md section 7) without
//! replacing a table: the four tables keep the Python logical ids, physical names, keys,
//! index, streams, PITR and billing (and are the ones crm-testkit creates: compared field by
//! field, so they cannot drift); the parameters are the deployer's; credentials come from the
//! environment's secrets, with exactly the Python stack's secrets policy; one binary is
//! deployed as two functions, an ingest function that the event rules reach and a processor
//! (reserved concurrency 1) that the notifications stream's INSERTs, the sweeps and the
//! cleanup reach; alarms watch the Lambda's own metrics (dead letters, backlog age) and both
//! functions' errors and throttles, notifying an optional SNS topic.

#![allow(clippy::unwrap_used)]

use crm_testkit::dynamodb::{KeySpec, TABLES};
use serde_norway::Value;

fn template() -> Value {
    let path = format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The Python template's table logical ids; each table's physical name is
/// `${AWS::StackName}-{logical id}` and its crm-testkit suffix is the logical id.
const PYTHON_TABLES: [&str; 4] = [
    "notifications",
    "HubspotEmailTemplates",
    "lookups",
    "tokens",
];

/// The properties the Python template gives a table: no other may be added (a new key,
/// index or name is a replacement, and the data would be lost).
const PYTHON_TABLE_PROPERTIES: [&str; 7] = [
    "TableName",
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "StreamSpecification",
    "PointInTimeRecoverySpecification",
];

fn tagged(value: &Value, tag: &str, content: &str) -> bool {
    matches!(value, Value::Tagged(t) if t.tag == tag && t.value == content)
}

/// The table resource with this logical id, checked to be named as the Python stack's.
fn table<'a>(resources: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &resources[logical_id];
    assert_eq!(
        resource["Type"], "AWS::DynamoDB::Table",
        "template.yaml has no table with the Python logical id {logical_id}"
    );
    let wanted = format!("${{AWS::StackName}}-{logical_id}");
    assert!(
        tagged(&resource["Properties"]["TableName"], "!Sub", &wanted),
        "{logical_id}: TableName must be !Sub \"{wanted}\": {:?}",
        resource["Properties"]["TableName"]
    );
    resource
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
    let mut table_ids: Vec<&str> = resources
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(id, _)| id.as_str().unwrap())
        .collect();
    table_ids.sort_unstable();
    let mut python = PYTHON_TABLES.to_vec();
    python.sort_unstable();
    assert_eq!(table_ids, python, "exactly the Python stack's tables");
    assert_eq!(TABLES.len(), PYTHON_TABLES.len());
    for spec in TABLES {
        assert!(PYTHON_TABLES.contains(&spec.suffix), "{}", spec.suffix);
        let resource = table(resources, spec.suffix);
        // Kept whatever happens to the stack.
        assert_eq!(resource["DeletionPolicy"], "Retain", "{}", spec.suffix);
        assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{}", spec.suffix);
        let props = &resource["Properties"];
        for (name, _) in props.as_mapping().unwrap() {
            assert!(
                PYTHON_TABLE_PROPERTIES.contains(&name.as_str().unwrap()),
                "{}: property {name:?} is not in the Python template",
                spec.suffix
            );
        }
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
        // Production settings the testkit does not model, as the Python template has them.
        assert_eq!(
            props["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
            "{}",
            spec.suffix
        );
        let pitr = &props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"];
        match spec.suffix {
            "notifications" => assert!(
                props.get("PointInTimeRecoverySpecification").is_none(),
                "the Python notifications table sets no PITR"
            ),
            "HubspotEmailTemplates" => assert!(
                tagged(pitr, "!Ref", "EnvConfigpddbpointintimerecoveryAsString"),
                "{pitr:?}"
            ),
            _ => assert_eq!(pitr, &Value::Bool(true), "{}", spec.suffix),
        }
    }
}

#[test]
fn the_parameters_are_the_python_deployers_and_none_holds_a_credential() {
    let template = template();
    let params = template["Parameters"].as_mapping().unwrap();
    let mut names: Vec<&str> = params.keys().map(|k| k.as_str().unwrap()).collect();
    names.sort_unstable();
    let ssm = [
        (
            "EnvConfigpddbpointintimerecoveryAsString",
            "/<EnvironmentName>/ddb/point-in-time-recovery",
        ),
        (
            "EnvConfiglambdamemorysizeAsString",
            "/<EnvironmentName>/lambda/memory-size",
        ),
        (
            "EnvConfiglambdatimeoutAsString",
            "/<EnvironmentName>/lambda/timeout",
        ),
        (
            "EnvConfigeventbridgeauth0eventbusAsString",
            "/<EnvironmentName>/eventbridge/auth0-event-bus",
        ),
        (
            "EnvConfigeventbridgethiscoveryeventbusAsString",
            "/<EnvironmentName>/eventbridge/thiscovery-event-bus",
        ),
    ];
    let mut expected: Vec<&str> = ssm.iter().map(|(name, _)| *name).collect();
    expected.extend(["StackTagName", "EnvironmentTagName"]);
    // The alarms' settings, new, with defaults: the deployer's command line is unchanged.
    expected.extend(ALARM_PARAMETERS);
    expected.sort_unstable();
    assert_eq!(
        names, expected,
        "exactly the Python template's parameters and the alarms' two"
    );
    for name in ALARM_PARAMETERS {
        assert!(
            template["Parameters"][name].get("Default").is_some(),
            "{name} needs a default"
        );
    }
    // The two the deployer overrides: no defaults, as in the Python template.
    for name in ["StackTagName", "EnvironmentTagName"] {
        let p = &template["Parameters"][name];
        assert_eq!(p["Type"], "String", "{name}");
        assert!(p.get("Default").is_none(), "{name} has no default");
    }
    for (name, default) in ssm {
        let p = &template["Parameters"][name];
        assert_eq!(p["Type"], "AWS::SSM::Parameter::Value<String>", "{name}");
        assert_eq!(p["Default"], default, "{name}");
    }
    // Credentials come from Secrets Manager: no NoEcho parameter is left.
    for (name, p) in params {
        assert!(p.get("NoEcho").is_none(), "{name:?} is a NoEcho parameter");
    }
}

/// The two functions: logical id and `CRM_ROLE`.
const FUNCTIONS: [(&str, &str); 2] = [
    ("CrmIngestFunction", "ingest"),
    ("CrmProcessorFunction", "processor"),
];

fn function<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert_eq!(
        resource["Type"], "AWS::Serverless::Function",
        "no function {logical_id}"
    );
    &resource["Properties"]
}

#[test]
fn one_binary_deployed_as_an_ingest_function_and_one_processor() {
    let template = template();
    let mut functions: Vec<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id.as_str().unwrap())
        .collect();
    functions.sort_unstable();
    assert_eq!(functions, ["CrmIngestFunction", "CrmProcessorFunction"]);
    for (id, role) in FUNCTIONS {
        let f = function(&template, id);
        assert_eq!(
            f["CodeUri"], "target/lambda/lambda/",
            "{id}: the same binary"
        );
        assert_eq!(f["Environment"]["Variables"]["CRM_ROLE"], role, "{id}");
    }
    let ingest = function(&template, "CrmIngestFunction");
    assert!(
        ingest.get("ReservedConcurrentExecutions").is_none(),
        "recording takes any concurrency"
    );
    assert!(
        tagged(&ingest["Timeout"], "!Ref", "EnvConfiglambdatimeoutAsString"),
        "the Python record functions' timeout: {:?}",
        ingest["Timeout"]
    );
    let processor = function(&template, "CrmProcessorFunction");
    assert_eq!(
        processor["ReservedConcurrentExecutions"], 1,
        "one processor at a time: one HubSpot budget in use, bursts batched"
    );
    assert_eq!(
        processor["Timeout"], 900,
        "as the Python processnotifications"
    );
    // The outputs name functions that exist.
    let outputs = &template["Outputs"];
    assert!(tagged(
        &outputs["CrmFunctionArn"]["Value"],
        "!GetAtt",
        "CrmIngestFunction.Arn"
    ));
    assert!(tagged(
        &outputs["CrmProcessorFunctionArn"]["Value"],
        "!GetAtt",
        "CrmProcessorFunction.Arn"
    ));
}

#[test]
fn the_processor_takes_the_notifications_streams_inserts_in_batches() {
    let template = template();
    let events = &function(&template, "CrmProcessorFunction")["Events"];
    let stream = &events["NotificationsStream"];
    assert_eq!(stream["Type"], "DynamoDB");
    let props = &stream["Properties"];
    // The table's existing stream: no table property changes for it.
    assert!(
        tagged(&props["Stream"], "!GetAtt", "notifications.StreamArn"),
        "{:?}",
        props["Stream"]
    );
    assert_eq!(props["StartingPosition"], "LATEST");
    // A burst of 1,000 is one batch; a single event waits at most the 2 s window.
    assert_eq!(props["BatchSize"], 1000);
    assert_eq!(props["MaximumBatchingWindowInSeconds"], 2);
    assert_eq!(props["BisectBatchOnFunctionError"], true);
    assert!(props["MaximumRetryAttempts"].as_u64().is_some());
    // Only INSERTs: the processor's own claims and results (MODIFY) and cleanup's deletes
    // (REMOVE) must not invoke it again.
    let filters = props["FilterCriteria"]["Filters"].as_sequence().unwrap();
    assert_eq!(filters.len(), 1, "{filters:?}");
    let pattern: serde_json::Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();
    assert_eq!(pattern, serde_json::json!({"eventName": ["INSERT"]}));
}

#[test]
fn both_functions_read_the_environments_secrets_with_the_python_stacks_policy() {
    let template = template();
    for (id, _) in FUNCTIONS {
        the_function_reads_the_environments_secrets(function(&template, id), id);
    }
}

fn the_function_reads_the_environments_secrets(function: &Value, id: &str) {
    assert_eq!(function["Runtime"], "provided.al2023", "{id}");
    assert_eq!(function["Handler"], "bootstrap", "{id}");
    let vars = function["Environment"]["Variables"].as_mapping().unwrap();
    assert!(
        tagged(
            &function["Environment"]["Variables"]["SECRETS_NAMESPACE"],
            "!Sub",
            "/${EnvironmentTagName}/"
        ),
        "{id}: {:?}",
        function["Environment"]["Variables"]["SECRETS_NAMESPACE"]
    );
    assert!(tagged(
        &function["Environment"]["Variables"]["STACK_NAME"],
        "!Ref",
        "AWS::StackName"
    ));
    // Nothing else but the role: no credential variable (they come from the secrets), and
    // no CRM_ENV (the namespace names the environment).
    let mut names: Vec<&str> = vars.keys().map(|k| k.as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["CRM_ROLE", "RUST_LOG", "SECRETS_NAMESPACE", "STACK_NAME"],
        "{id}"
    );
    // CRUD on the four tables, and GetSecretValue on this environment's secrets only.
    let policies = function["Policies"].as_sequence().unwrap();
    let mut crud: Vec<&str> = policies
        .iter()
        .filter_map(|p| p.get("DynamoDBCrudPolicy"))
        .map(|p| match &p["TableName"] {
            Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().unwrap(),
            other => panic!("{id}: DynamoDBCrudPolicy on {other:?}"),
        })
        .collect();
    crud.sort_unstable();
    let mut python = PYTHON_TABLES.to_vec();
    python.sort_unstable();
    assert_eq!(crud, python, "{id}");
    let statements: Vec<&Value> = policies
        .iter()
        .filter_map(|p| p.get("Statement"))
        .flat_map(|s| s.as_sequence().unwrap())
        .collect();
    assert_eq!(
        policies.len(),
        5,
        "{id}: four CRUD policies and the secrets statement"
    );
    assert_eq!(statements.len(), 1, "{id}: {statements:?}");
    let secrets = statements[0];
    assert_eq!(secrets["Effect"], "Allow");
    assert_eq!(
        secrets["Action"],
        serde_norway::from_str::<Value>("[secretsmanager:GetSecretValue]").unwrap()
    );
    assert!(
        tagged(
            &secrets["Resource"],
            "!Sub",
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:/${EnvironmentTagName}/*"
        ),
        "{id}: {:?}",
        secrets["Resource"]
    );
}

/// The events of the function `logical_id`, by name.
fn events<'a>(template: &'a Value, logical_id: &str) -> &'a serde_norway::Mapping {
    function(template, logical_id)["Events"]
        .as_mapping()
        .unwrap()
}

#[test]
fn every_python_rule_and_schedule_reaches_the_function_for_it() {
    let template = template();
    let ingest = events(&template, "CrmIngestFunction");
    let processor = events(&template, "CrmProcessorFunction");
    let event = |events: &'_ serde_norway::Mapping, name: &str| -> Value {
        events
            .get(Value::from(name))
            .unwrap_or_else(|| panic!("no event {name}"))
            .clone()
    };
    let seq = |yaml: &str| serde_norway::from_str::<Value>(yaml).unwrap();
    // Auth0's bus: registrations (ss) and logins (s), one rule each, as in Python: recorded.
    for (name, log_type) in [("Auth0Registrations", "[ss]"), ("Auth0Logins", "[s]")] {
        let rule = event(ingest, name);
        let props = &rule["Properties"];
        assert_eq!(rule["Type"], "EventBridgeRule", "{name}");
        assert!(tagged(
            &props["EventBusName"],
            "!Ref",
            "EnvConfigeventbridgeauth0eventbusAsString"
        ));
        assert_eq!(
            props["Pattern"]["detail-type"],
            seq("[Auth0 log]"),
            "{name}"
        );
        assert_eq!(
            props["Pattern"]["detail"]["data"]["type"],
            seq(log_type),
            "{name}"
        );
    }
    // thiscovery's bus: the three event types (recorded), and process_notifications (a
    // sweep, the processor's).
    let mut detail_types = Vec::new();
    for (events, name) in [
        (ingest, "ThiscoveryEvents"),
        (processor, "ProcessNotificationsRequested"),
    ] {
        let rule = event(events, name);
        let props = &rule["Properties"];
        assert_eq!(rule["Type"], "EventBridgeRule", "{name}");
        assert!(tagged(
            &props["EventBusName"],
            "!Ref",
            "EnvConfigeventbridgethiscoveryeventbusAsString"
        ));
        assert!(
            props["Pattern"].get("source").is_none(),
            "no rule filters on source"
        );
        for d in props["Pattern"]["detail-type"].as_sequence().unwrap() {
            detail_types.push(d.as_str().unwrap().to_owned());
        }
    }
    detail_types.sort();
    assert_eq!(
        detail_types,
        [
            "custom_email",
            "process_notifications",
            "task_signup",
            "transactional_email"
        ]
    );
    // The schedules, with the inputs the function dispatches on: the processor's.
    for (name, rate, action) in [
        (
            "ProcessNotifications",
            "rate(5 minutes)",
            "process_notifications",
        ),
        ("DailyCleanup", "rate(1 day)", "cleanup"),
    ] {
        let schedule = event(processor, name);
        let props = &schedule["Properties"];
        assert_eq!(schedule["Type"], "Schedule", "{name}");
        assert_eq!(props["Schedule"], rate, "{name}");
        let input: serde_json::Value =
            serde_json::from_str(props["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input["action"], action, "{name}");
    }
    // Nothing else: the ingest function gets only events to record, the processor only
    // what asks for processing.
    let names = |events: &serde_norway::Mapping| -> Vec<String> {
        let mut names: Vec<String> = events
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(ingest),
        ["Auth0Logins", "Auth0Registrations", "ThiscoveryEvents"]
    );
    assert_eq!(
        names(processor),
        [
            "DailyCleanup",
            "NotificationsStream",
            "ProcessNotifications",
            "ProcessNotificationsRequested"
        ]
    );
}

/// The parameters the alarms add (each with a default).
const ALARM_PARAMETERS: [&str; 2] = ["AlarmTopicArn", "BacklogAgeAlarmSeconds"];

/// An alarm resource, checked to notify the optional topic on alarm and on OK.
fn alarm<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert_eq!(
        resource["Type"], "AWS::CloudWatch::Alarm",
        "no alarm {logical_id}"
    );
    let p = &resource["Properties"];
    for actions in ["AlarmActions", "OKActions"] {
        // !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]
        let Value::Tagged(t) = &p[actions] else {
            panic!("{logical_id}.{actions} is not an !If: {:?}", p[actions]);
        };
        assert_eq!(t.tag, "!If", "{logical_id}.{actions}");
        let branches = t.value.as_sequence().unwrap();
        assert_eq!(branches[0], "HasAlarmTopic", "{logical_id}.{actions}");
        assert!(
            tagged(&branches[1][0], "!Ref", "AlarmTopicArn"),
            "{logical_id}.{actions}: {:?}",
            branches[1]
        );
        assert!(tagged(&branches[2], "!Ref", "AWS::NoValue"));
    }
    p
}

/// The one dimension of an alarm's metric: its name, and the value's `!Ref`.
fn dimension(alarm: &Value) -> (String, String) {
    let dims = alarm["Dimensions"].as_sequence().unwrap();
    assert_eq!(dims.len(), 1, "{dims:?}");
    let Value::Tagged(t) = &dims[0]["Value"] else {
        panic!("dimension value is not a !Ref: {:?}", dims[0]);
    };
    assert_eq!(t.tag, "!Ref");
    (
        dims[0]["Name"].as_str().unwrap().to_owned(),
        t.value.as_str().unwrap().to_owned(),
    )
}

#[test]
fn alarms_watch_dead_letters_the_backlog_and_both_functions_and_may_notify_a_topic() {
    let template = template();
    // The topic is optional: a condition on the parameter, empty by default.
    assert_eq!(template["Parameters"]["AlarmTopicArn"]["Default"], "");
    let condition = &template["Conditions"]["HasAlarmTopic"];
    assert!(
        matches!(condition, Value::Tagged(t) if t.tag == "!Not"),
        "{condition:?}"
    );
    assert_eq!(
        template["Parameters"]["BacklogAgeAlarmSeconds"]["Type"],
        "Number"
    );

    // What the Lambda emits (examples/lambda.rs: namespace thiscovery-crm, dimension Stack =
    // STACK_NAME, which the functions set to the stack's name).
    for (id, metric, statistic) in [
        (
            "DeadLetteredAlarm",
            "notifications.dead_lettered_total",
            "Sum",
        ),
        ("BacklogAgeAlarm", "backlog.oldest_age_seconds", "Maximum"),
    ] {
        let a = alarm(&template, id);
        assert_eq!(a["Namespace"], "thiscovery-crm", "{id}");
        assert_eq!(a["MetricName"], metric, "{id}");
        assert_eq!(a["Statistic"], statistic, "{id}");
        assert_eq!(a["ComparisonOperator"], "GreaterThanThreshold", "{id}");
        assert_eq!(
            dimension(a),
            ("Stack".to_owned(), "AWS::StackName".to_owned()),
            "{id}"
        );
    }
    for (id, _) in FUNCTIONS {
        assert!(tagged(
            &function(&template, id)["Environment"]["Variables"]["STACK_NAME"],
            "!Ref",
            "AWS::StackName"
        ));
    }
    let dead = alarm(&template, "DeadLetteredAlarm");
    assert_eq!(dead["Threshold"], 0, "any dead letter");
    assert_eq!(dead["TreatMissingData"], "notBreaching");
    let backlog = alarm(&template, "BacklogAgeAlarm");
    assert!(tagged(
        &backlog["Threshold"],
        "!Ref",
        "BacklogAgeAlarmSeconds"
    ));
    assert_eq!(
        backlog["TreatMissingData"], "breaching",
        "no sweep reporting is an alarm"
    );
    // The schedule sweeps every 5 minutes: the period covers more than one sweep.
    assert!(backlog["Period"].as_u64().unwrap() > 300);

    // Errors and throttles of both functions.
    let mut watched = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::CloudWatch::Alarm"
            || resource["Properties"]["Namespace"] != "AWS/Lambda"
        {
            continue;
        }
        let a = alarm(&template, id.as_str().unwrap());
        let (name, function) = dimension(a);
        assert_eq!(name, "FunctionName");
        watched.push((function, a["MetricName"].as_str().unwrap().to_owned()));
        assert_eq!(a["Statistic"], "Sum");
        assert_eq!(a["Threshold"], 0);
    }
    watched.sort();
    let mut expected = Vec::new();
    for (function, _) in FUNCTIONS {
        for metric in ["Errors", "Throttles"] {
            expected.push((function.to_owned(), metric.to_owned()));
        }
    }
    expected.sort();
    assert_eq!(watched, expected);
}

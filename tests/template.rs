//! The template and the code must describe the same system.

use std::collections::BTreeSet;

use placeholder_sync_tests::sync::Pipeline;
use placeholder_sync_tests::{fresh_store, workspace_root};
use serde_yaml_ng::Value;

fn template() -> Value {
    serde_yaml_ng::from_str(
        &std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap(),
    )
    .unwrap()
}

fn key_schema(v: &Value) -> Vec<(String, String)> {
    v.as_sequence()
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

/// The tables the code creates locally (described by the emulator) have the keys, indexes
/// and stream the template deploys.
#[tokio::test]
async fn tables_match_the_template() {
    let store = fresh_store().await;
    let t = template();
    for (resource, name) in [
        ("EntitiesTable", &store.tables().entities),
        ("MetaTable", &store.tables().meta),
    ] {
        let declared = &t["Resources"][resource]["Properties"];
        let described = store
            .client()
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let actual_keys: Vec<(String, String)> = described
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            actual_keys,
            key_schema(&declared["KeySchema"]),
            "{resource} key"
        );
        let declared_attrs: BTreeSet<(String, String)> = declared["AttributeDefinitions"]
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
        let actual_attrs: BTreeSet<(String, String)> = described
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(actual_attrs, declared_attrs, "{resource} attributes");
        let declared_indexes: BTreeSet<(String, Vec<(String, String)>)> =
            declared["GlobalSecondaryIndexes"]
                .as_sequence()
                .map(|s| {
                    s.iter()
                        .map(|i| {
                            (
                                i["IndexName"].as_str().unwrap().to_owned(),
                                key_schema(&i["KeySchema"]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        let actual_indexes: BTreeSet<(String, Vec<(String, String)>)> = described
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                let keys = i
                    .key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_owned(),
                            k.key_type().as_str().to_owned(),
                        )
                    })
                    .collect();
                (i.index_name().unwrap().to_owned(), keys)
            })
            .collect();
        assert_eq!(actual_indexes, declared_indexes, "{resource} indexes");
        let declared_stream = declared["StreamSpecification"]["StreamViewType"].as_str();
        let actual_stream = described
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned());
        assert_eq!(
            actual_stream.as_deref(),
            declared_stream,
            "{resource} stream"
        );
    }
}

/// Every route the template declares reaches a function that serves it.
#[tokio::test]
async fn every_template_route_is_served_by_its_function() {
    // Nothing listens on the remote: no route here reaches it.
    let pipeline = Pipeline::new("http://127.0.0.1:9").await;
    let api = &pipeline.api;
    let routes =
        local_stack::routes::Routes::from_template_file(&workspace_root().join("template.yaml"))
            .unwrap();
    assert_eq!(routes.all().len(), 25);
    for route in routes.all() {
        let path = route
            .path
            .replace("{id}", "1")
            .replace("{entity}", "posts")
            .replace("{path+}", "index.html");
        let r = api.request(&route.method, &path, &[], None).await;
        // The console's pages are HTML; every error is JSON.
        let message = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        assert!(
            !message.starts_with("no route"),
            "{} is not handled: {message}",
            route.key()
        );
    }
}

/// The local event source mapping (`make up`'s pump) gives up when the template's does.
#[test]
fn the_local_stream_mapping_retries_as_the_template_says() {
    let template = template();
    let stream = &template["Resources"]["CaptureFunction"]["Properties"]["Events"]["EntitiesStream"]
        ["Properties"];
    assert_eq!(
        stream["MaximumRetryAttempts"].as_u64(),
        Some(u64::from(local_stack::pump::MAX_RETRY_ATTEMPTS))
    );
    assert_eq!(
        stream["BatchSize"].as_i64(),
        Some(i64::from(local_stack::pump::BATCH_SIZE))
    );
}

/// Each function that runs the sync holds its lease longer than the function can live, and
/// its budget plus one call's deadline fits inside the lease.
#[test]
fn the_sync_lease_outlasts_every_run() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    for function in ["SyncFunction", "SyncApiFunction"] {
        let properties = &template["Resources"][function]["Properties"];
        let timeout = properties["Timeout"]
            .as_u64()
            .or(globals["Timeout"].as_u64())
            .unwrap();
        let variables = &properties["Environment"]["Variables"];
        let seconds = |name: &str| {
            variables[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{function}: {name}"))
        };
        let config = ps_sync::SyncConfig {
            budget: std::time::Duration::from_secs(seconds("SYNC_BUDGET_SECONDS")),
            call_deadline: std::time::Duration::from_secs(seconds("SYNC_CALL_DEADLINE_SECONDS")),
            lease: std::time::Duration::from_secs(seconds("SYNC_LEASE_SECONDS")),
            ..ps_sync::SyncConfig::default()
        };
        assert!(
            config.lease.as_secs() >= timeout,
            "{function}: lease < Timeout"
        );
        config.check().unwrap_or_else(|e| panic!("{function}: {e}"));
    }
}

/// Browsers may call every route: one CORS configuration, the template's, allows the
/// headers a JSONPlaceholder client sends and exposes those it reads; the local gateway
/// follows the same block.
#[test]
fn cors_allows_what_browser_clients_send_and_read() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let cors = local_stack::cors::Cors::from_template(&text, &|_| None)
        .unwrap()
        .expect("the HttpApi has a CorsConfiguration");
    assert_eq!(cors.allow_origins, ["*"], "any origin by default");
    for header in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
        "if-none-match",
    ] {
        assert!(cors.allow_headers.iter().any(|h| h == header), "{header}");
    }
    for header in ["X-Total-Count", "Link", "ETag", "Location"] {
        assert!(cors.expose_headers.iter().any(|h| h == header), "{header}");
    }
    let routes = local_stack::routes::Routes::from_template(&text).unwrap();
    for route in routes.all() {
        assert!(
            cors.allow_methods.contains(&route.method),
            "{} is not allowed cross-origin",
            route.key()
        );
    }
}

/// The contract and the deployment agree: every API route of the template is in `openapi.json`,
/// and every operation of `openapi.json` is a route of the template; the document served is
/// the committed one.
#[tokio::test]
async fn the_openapi_document_names_exactly_the_template_routes() {
    let text = std::fs::read_to_string(workspace_root().join("openapi.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            if method != "parameters" {
                documented.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    let routes =
        local_stack::routes::Routes::from_template_file(&workspace_root().join("template.yaml"))
            .unwrap();
    // The console's pages are not the API's contract (and not JSON).
    let declared: BTreeSet<String> = routes
        .all()
        .iter()
        .filter(|r| r.function != "console")
        .map(|r| r.key())
        .collect();
    assert_eq!(documented, declared);
    let api = placeholder_sync_tests::Api::new().await;
    let served = api.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.json(), doc);
}

fn resources_of<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

/// `!Ref X` or `!GetAtt X.Attr` → `X`.
fn referenced(v: &Value) -> String {
    match v {
        Value::Tagged(t) => t
            .value
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned(),
        other => panic!("not a reference: {other:?}"),
    }
}

/// Every alarm watches a metric of a resource the template declares (or one the sync
/// writes), notifies the alarm topic, says how it treats missing data and has a threshold
/// that can be crossed; and the alarms the runbook describes are all there.
#[test]
fn every_alarm_watches_something_that_exists_and_the_runbooks_alarms_are_there() {
    let t = template();
    let kind_of = |id: &str| t["Resources"][id]["Type"].as_str().map(str::to_owned);
    let emitted: BTreeSet<&str> = sync::metrics(&ps_sync::SyncReport::default())
        .into_iter()
        .chain(reconcile::metrics(&ps_reconcile::DriftReport::default()))
        .map(|(name, _, _)| name)
        .collect();
    let mut watched = Vec::new();
    for (name, alarm) in resources_of(&t, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        assert!(
            ["notBreaching", "breaching", "missing", "ignore"]
                .contains(&p["TreatMissingData"].as_str().unwrap_or_default()),
            "{name}: TreatMissingData"
        );
        let actions = p["AlarmActions"].as_sequence().expect("AlarmActions");
        assert!(
            actions.iter().any(|a| referenced(a) == "AlarmTopic"),
            "{name} notifies the alarm topic"
        );
        assert_eq!(kind_of("AlarmTopic").as_deref(), Some("AWS::SNS::Topic"));
        let period = p["Period"].as_u64().unwrap();
        assert!(period >= 60 && period % 60 == 0, "{name}: period {period}");
        assert!(p["EvaluationPeriods"].as_u64().unwrap() >= 1, "{name}");
        assert!(p["Threshold"].as_f64().unwrap() > 0.0, "{name}: threshold");
        let namespace = p["Namespace"].as_str().unwrap();
        let metric = p["MetricName"].as_str().unwrap();
        let dimensions = p["Dimensions"].as_sequence().cloned().unwrap_or_default();
        let target = match namespace {
            "AWS/SQS" => {
                assert_eq!(dimensions.len(), 1, "{name}");
                assert_eq!(dimensions[0]["Name"], "QueueName", "{name}");
                let queue = referenced(&dimensions[0]["Value"]);
                assert_eq!(
                    kind_of(&queue).as_deref(),
                    Some("AWS::SQS::Queue"),
                    "{name}"
                );
                queue
            }
            "AWS/Lambda" => {
                assert_eq!(dimensions.len(), 1, "{name}");
                assert_eq!(dimensions[0]["Name"], "FunctionName", "{name}");
                let function = referenced(&dimensions[0]["Value"]);
                assert_eq!(
                    kind_of(&function).as_deref(),
                    Some("AWS::Serverless::Function"),
                    "{name}"
                );
                function
            }
            "placeholder-sync" => {
                assert!(
                    dimensions.is_empty(),
                    "{name}: the sync's metrics have none"
                );
                assert!(
                    emitted.contains(metric),
                    "{name}: neither the sync nor the reconcile writes {metric}"
                );
                String::new()
            }
            other => panic!("{name}: namespace {other}"),
        };
        watched.push((metric.to_owned(), target, p.clone()));
    }
    let find = |metric: &str, target: &str| {
        watched
            .iter()
            .find(|(m, t, _)| m == metric && t == target)
            .map(|(_, _, p)| p.clone())
            .unwrap_or_else(|| panic!("no alarm on {metric} of {target:?}"))
    };
    for queue in ["ChangeDeadLetterQueue", "CaptureFailureQueue"] {
        let p = find("ApproximateNumberOfMessagesVisible", queue);
        assert_eq!(
            p["Threshold"].as_f64(),
            Some(1.0),
            "{queue}: one message is one too many"
        );
    }
    let age = find("IteratorAge", "CaptureFunction");
    assert_eq!(
        age["Threshold"].as_f64(),
        Some(300_000.0),
        "5 minutes, in ms"
    );
    for (function, _) in resources_of(&t, "AWS::Serverless::Function") {
        find("Errors", function);
    }
    let duration = find("Duration", "SyncFunction");
    let timeout = t["Resources"]["SyncFunction"]["Properties"]["Timeout"]
        .as_f64()
        .unwrap();
    assert_eq!(duration["Threshold"].as_f64(), Some(0.8 * timeout * 1000.0));
    let unavailable = find("RemoteUnavailable", "");
    assert_eq!(
        unavailable["Period"].as_u64().unwrap()
            * unavailable["EvaluationPeriods"].as_u64().unwrap(),
        900,
        "every run unavailable for 15 minutes"
    );
    assert_eq!(unavailable["Statistic"], "Minimum", "every run, not one");
    find("Parked", "");
    find("BackingOff", "");
}

/// Every function's logs go to a log group the template declares, kept as long as the
/// `LogRetentionDays` parameter says (30 days by default), not for ever.
#[test]
fn every_function_logs_to_a_group_with_a_retention() {
    let t = template();
    assert_eq!(
        t["Parameters"]["LogRetentionDays"]["Default"].as_u64(),
        Some(30)
    );
    let groups: Vec<String> = resources_of(&t, "AWS::Logs::LogGroup")
        .into_iter()
        .map(|(name, g)| {
            assert_eq!(
                referenced(&g["Properties"]["RetentionInDays"]),
                "LogRetentionDays",
                "{name}"
            );
            match &g["Properties"]["LogGroupName"] {
                Value::Tagged(tag) => tag.value.as_str().unwrap().to_owned(),
                _ => String::new(),
            }
        })
        .collect();
    for (function, _) in resources_of(&t, "AWS::Serverless::Function") {
        let name = format!("/aws/lambda/${{{function}}}");
        assert!(groups.contains(&name), "{function} has no log group {name}");
    }
}

/// No secret sits in an environment variable or a parameter: the functions get the ARNs of
/// Secrets Manager secrets the stack makes itself.
#[test]
fn no_secret_is_in_the_environment_or_a_parameter() {
    let t = template();
    for (name, p) in t["Parameters"].as_mapping().unwrap() {
        assert!(
            p["NoEcho"].is_null(),
            "{name:?}: a parameter that needs NoEcho holds a secret"
        );
    }
    for (function, f) in resources_of(&t, "AWS::Serverless::Function") {
        for (var, value) in f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let var = var.as_str().unwrap();
            assert!(
                !["JWT_SECRET", "AUTH_USERS"].contains(&var),
                "{function}: {var} in its environment"
            );
            if var.ends_with("_SECRET_ARN") {
                let secret = referenced(value);
                assert_eq!(
                    t["Resources"][&secret]["Type"], "AWS::SecretsManager::Secret",
                    "{function}: {var}"
                );
            }
        }
    }
    let key = &t["Resources"]["TokenSigningKey"]["Properties"]["GenerateSecretString"];
    assert!(
        key["PasswordLength"].as_u64().unwrap() >= 32,
        "a generated key of 32 bytes or more"
    );
}

/// Lambda event filtering as AWS documents it, enough for the stream mapping's patterns: a
/// pattern is an object whose leaves are arrays of values or of operator objects (`prefix`,
/// `suffix`, `anything-but`, `exists`, `equals-ignore-case`); a leaf matches when the field
/// matches any entry. Panics on anything else: a pattern AWS would refuse fails the test.
fn filter_matches(pattern: &serde_json::Value, event: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    let object = pattern.as_object().expect("a pattern is a JSON object");
    object.iter().all(|(key, rule)| {
        let field = event.get(key);
        match rule {
            J::Object(_) => field.is_some_and(|f| f.is_object() && filter_matches(rule, f)),
            J::Array(entries) => {
                assert!(!entries.is_empty(), "{key}: an empty match list");
                entries.iter().any(|entry| match entry {
                    J::Object(op) => {
                        assert_eq!(op.len(), 1, "{key}: one operator per entry: {entry}");
                        let (name, arg) = op.iter().next().unwrap();
                        let text = field.and_then(J::as_str);
                        match name.as_str() {
                            "prefix" => text.is_some_and(|t| t.starts_with(arg.as_str().unwrap())),
                            "suffix" => text.is_some_and(|t| t.ends_with(arg.as_str().unwrap())),
                            "equals-ignore-case" => {
                                text.is_some_and(|t| t.eq_ignore_ascii_case(arg.as_str().unwrap()))
                            }
                            "exists" => field.is_some() == arg.as_bool().unwrap(),
                            "anything-but" => {
                                let excluded = arg.as_array().expect("anything-but takes a list");
                                field.is_some_and(|f| !excluded.contains(f))
                            }
                            other => panic!("{key}: operator {other} is not one this check knows"),
                        }
                    }
                    J::Array(_) => panic!("{key}: nested lists are not a filter"),
                    value => field == Some(value),
                })
            }
            other => panic!("{key}: a leaf must be a list of values, not {other}"),
        }
    })
}

/// The stream mapping's filter is valid event-filtering syntax, within AWS's limits, and
/// drops exactly what capture need not see: imports (an INSERT at version 0), the list
/// counters and the answers kept under idempotency keys beside the records, never a change
/// to sync.
#[test]
fn the_stream_filter_keeps_every_change_to_sync_and_drops_imports_and_counters() {
    let t = template();
    let mapping =
        &t["Resources"]["CaptureFunction"]["Properties"]["Events"]["EntitiesStream"]["Properties"];
    let patterns: Vec<serde_json::Value> = mapping["FilterCriteria"]["Filters"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| {
            let text = f["Pattern"].as_str().unwrap();
            assert!(text.len() <= 4096, "a pattern is at most 4,096 characters");
            serde_json::from_str(text).expect("a pattern is JSON")
        })
        .collect();
    assert!(
        patterns.len() <= 5,
        "at most 5 filters per event source mapping"
    );
    let record = |event: &str, pk: &str, version: Option<u64>| {
        let mut dynamodb = serde_json::json!({"Keys": {"pk": {"S": pk}}});
        if let Some(v) = version {
            dynamodb["NewImage"] =
                serde_json::json!({"pk": {"S": pk}, "version": {"N": v.to_string()}});
        }
        serde_json::json!({"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
    };
    let kept = |r: &serde_json::Value| patterns.iter().any(|p| filter_matches(p, r));
    for (event, pk, version, keep) in [
        ("INSERT", "post#101", Some(1), true),
        ("INSERT", "comment#501", Some(1), true),
        ("INSERT", "post#7", Some(0), false),
        ("INSERT", "comment#7", Some(0), false),
        ("MODIFY", "post#7", Some(1), true),
        ("MODIFY", "comment#7", Some(4), true),
        ("REMOVE", "post#7", None, true),
        ("REMOVE", "comment#7", None, true),
        ("INSERT", "count#post", None, false),
        ("MODIFY", "count#post#3", None, false),
        ("REMOVE", "count#user#7", None, false),
        ("INSERT", "idem#post#a-key", None, false),
        ("REMOVE", "idem#comment#a-key", None, false),
    ] {
        let r = record(event, pk, version);
        assert_eq!(kept(&r), keep, "{event} {pk} version {version:?}");
    }
}

/// Both tables' time to live read the attribute the failed-login counters and the answers
/// kept under an Idempotency-Key carry, so DynamoDB removes them once they no longer count.
#[test]
fn failed_login_counters_and_kept_answers_expire() {
    let t = template();
    for table in ["MetaTable", "EntitiesTable"] {
        let ttl = &t["Resources"][table]["Properties"]["TimeToLiveSpecification"];
        assert_eq!(ttl["Enabled"].as_bool(), Some(true), "{table}");
        assert_eq!(
            ttl["AttributeName"].as_str(),
            Some(ps_store::EXPIRES_ATTRIBUTE),
            "{table}"
        );
    }
}

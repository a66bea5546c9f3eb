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
    assert_eq!(routes.all().len(), 19);
    for route in routes.all() {
        let path = route.path.replace("{id}", "1");
        let r = api.request(&route.method, &path, &[], None).await;
        let message = if r.body.is_empty() {
            String::new()
        } else {
            r.json()["message"].as_str().unwrap_or_default().to_owned()
        };
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
    for header in ["authorization", "content-type", "if-match", "if-none-match"] {
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

/// The contract and the deployment agree: every route of the template is in `openapi.json`,
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
    let declared: BTreeSet<String> = routes.all().iter().map(|r| r.key()).collect();
    assert_eq!(documented, declared);
    let api = placeholder_sync_tests::Api::new().await;
    let served = api.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.json(), doc);
}

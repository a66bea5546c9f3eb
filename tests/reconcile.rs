//! The reconcile end to end (`POST /sync/reconcile`, as an operator calls it): moto for the
//! master copy and its sync states, json-server (the real dataset) as the remote, drifted by
//! hand behind the sync's back; and wiremock for a remote that is down, slow, pages otherwise
//! or answers garbage.

use std::time::Duration;

use placeholder_sync_tests::sync::{JsonServer, Pipeline, assert_remote_equals_local, remote_list};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn reconcile(p: &Pipeline, query: &str) -> (u16, Value) {
    let auth = format!("Bearer {}", p.api.token());
    let r = p
        .api
        .request(
            "POST",
            &format!("/sync/reconcile{query}"),
            &[("authorization", auth.as_str())],
            None,
        )
        .await;
    (r.status, r.json())
}

async fn by_hand(remote: &str, verb: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new().request(verb, format!("{remote}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

async fn whole_remote(url: &str) -> (Vec<Value>, Vec<Value>) {
    (
        remote_list(url, "/posts").await,
        remote_list(url, "/comments").await,
    )
}

#[tokio::test]
async fn drift_made_by_hand_is_found_exactly_and_repaired_once() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    // Behind the sync's back: an edit, a delete (json-server takes post 3's five comments
    // with it), a second copy of post 1, and a record nobody here made.
    by_hand(
        &remote.url,
        reqwest::Method::PATCH,
        "/posts/2",
        Some(json!({"title": "edited by hand"})),
    )
    .await;
    by_hand(&remote.url, reqwest::Method::DELETE, "/posts/3", None).await;
    let post1 = remote_list(&remote.url, "/posts?id=1").await[0].clone();
    let copy = by_hand(
        &remote.url,
        reqwest::Method::POST,
        "/posts",
        Some(json!({"userId": post1["userId"], "title": post1["title"], "body": post1["body"]})),
    )
    .await;
    let foreign = by_hand(
        &remote.url,
        reqwest::Method::POST,
        "/posts",
        Some(json!({"userId": 7, "title": "foreign", "body": "not ours"})),
    )
    .await;
    let (copy, foreign) = (
        copy["id"].as_u64().unwrap(),
        foreign["id"].as_u64().unwrap(),
    );
    let drifted = whole_remote(&remote.url).await;

    // Mistakes first: no token, and a parameter it does not take.
    let anonymous = p.api.request("POST", "/sync/reconcile", &[], None).await;
    assert_eq!(anonymous.status, 401);
    let (status, body) = reconcile(&p, "?repair=yes").await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("repair must be true or false")
    );

    let (status, found) = reconcile(&p, "").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["counts"],
        json!({"inLine": 593, "differs": 1, "missing": 6, "duplicates": 1, "foreign": 1, "pending": 0})
    );
    assert_eq!(
        found["differs"],
        json!([{"entity": "post", "id": 2, "remoteId": 2, "fields": ["title"]}])
    );
    let missing: Vec<(String, u64)> = found["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["entity"].as_str().unwrap().to_owned(),
                m["id"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![("post".to_owned(), 3)];
    expected.extend((11..=15).map(|c| ("comment".to_owned(), c)));
    assert_eq!(missing, expected);
    assert_eq!(
        found["orphans"],
        json!([
            {"entity": "post", "remoteId": copy, "duplicateOf": 1},
            {"entity": "post", "remoteId": foreign, "duplicateOf": null},
        ])
    );
    // 101 posts and 495 comments in pages of 40: 3 + 13 pages, none wasted (json-server's
    // X-Total-Count says which page is the last).
    assert_eq!(found["pagesRead"], 16);
    assert_eq!(found["recordsRead"], 596);
    // Found, not changed.
    assert_eq!(whole_remote(&remote.url).await, drifted);

    // The status shows the counts to anyone, the entities only with a token.
    let public = p.api.get("/sync/status").await.json();
    assert_eq!(public["drift"]["counts"]["missing"], 6);
    assert!(public["drift"].get("missing").is_none(), "{public}");

    let (status, repaired) = reconcile(&p, "?repair=true&deleteOrphans=duplicates").await;
    assert_eq!(status, 200, "{repaired}");
    assert_eq!(
        repaired["repaired"],
        json!({"replaced": 1, "recreated": 6, "changedMeanwhile": 0, "left": 0,
               "orphansDeleted": 1, "orphansKept": 0})
    );
    // Twice does nothing more: the repairs are the sync's pending changes now.
    let (_, again) = reconcile(&p, "?repair=true&deleteOrphans=duplicates").await;
    assert_eq!(again["counts"]["pending"], 7, "{again}");
    assert_eq!(again["repaired"]["replaced"], 0);
    assert_eq!(again["repaired"]["recreated"], 0);
    assert_eq!(again["repaired"]["orphansDeleted"], 0);

    // The ordinary sync sends them: the post and its comments created again, post 2 put back.
    let report = p.sync().await;
    assert_eq!(
        (report.calls.post, report.calls.put, report.calls.delete),
        (6, 1, 0)
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_remote_equals_local(&p, &[foreign]).await;
    let (_, after) = reconcile(&p, "").await;
    assert_eq!(
        after["counts"],
        json!({"inLine": 600, "differs": 0, "missing": 0, "duplicates": 0, "foreign": 1, "pending": 0})
    );
}

/// A remote that answers the import as json-server does (whole lists), then as `fault`.
async fn imported_then(fault: Option<ResponseTemplate>) -> (MockServer, Pipeline) {
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(
            placeholder_sync_tests::workspace_root().join("fixtures/jsonplaceholder.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let server = MockServer::start().await;
    for kind in ["posts", "comments"] {
        Mock::given(method("GET"))
            .and(path(format!("/{kind}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(data[kind].clone()))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    let p = Pipeline::new(&server.uri()).await;
    p.import().await.unwrap();
    if let Some(fault) = fault {
        Mock::given(method("GET"))
            .respond_with(fault)
            .mount(&server)
            .await;
    } else {
        // Still the whole list, whatever the paging parameters: it pages otherwise.
        Mock::given(method("GET"))
            .and(path("/posts"))
            .respond_with(ResponseTemplate::new(200).set_body_json(data["posts"].clone()))
            .mount(&server)
            .await;
    }
    (server, p)
}

#[tokio::test]
async fn a_remote_that_is_down_slow_pages_otherwise_or_answers_garbage_changes_nothing() {
    let cases = [
        (None, "does not page with _limit"),
        (
            Some(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>")),
            "not a list",
        ),
        (
            Some(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "nope": true}]))),
            "record 0 is not a post",
        ),
        (Some(ResponseTemplate::new(503)), "503"),
        (
            Some(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))),
            "GET /posts",
        ),
    ];
    for (fault, says) in cases {
        let (server, p) = imported_then(fault).await;
        let before = p.state(ps_core::change::EntityKey::post(2)).await;
        let (status, body) = reconcile(&p, "?repair=true&deleteOrphans=all").await;
        assert_eq!(status, 502, "{says}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{says}: {message}");
        // Nothing written, nothing deleted, and the status says the run failed.
        assert_eq!(p.state(ps_core::change::EntityKey::post(2)).await, before);
        let writes = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method != wiremock::http::Method::GET)
            .count();
        assert_eq!(writes, 0, "{says}");
        let status = p.api.get("/sync/status").await.json();
        assert_eq!(status["drift"]["outcome"], "failed", "{status}");
        // The lease was given back: the sync runs.
        p.sync().await;
    }
}

/// A reconcile and a sync started together, while local edits are on their way (captured,
/// on the queue): they take turns at the lease (one may be told a run holds it), and the
/// reconcile never calls a change in flight drift, whichever ran first.
#[tokio::test]
async fn a_reconcile_overlapping_a_sync_never_reports_a_change_in_flight() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    let mut reconciled = 0;
    for round in 0..4 {
        for id in [3, 4, 5] {
            p.api
                .write(
                    "PATCH",
                    &format!("/posts/{id}"),
                    json!({"title": format!("round {round}")}),
                )
                .await;
        }
        p.api
            .write(
                "PATCH",
                "/comments/9",
                json!({"body": format!("round {round}")}),
            )
            .await;
        assert!(p.capture().await.batch_item_failures.is_empty());
        let (found, synced) = tokio::join!(
            reconcile(&p, ""),
            p.sync_configured(placeholder_sync_tests::sync::sync_config())
        );
        match found {
            (200, report) => {
                reconciled += 1;
                assert_eq!(report["counts"]["differs"], 0, "{report}");
                assert_eq!(report["counts"]["missing"], 0, "{report}");
                assert_eq!(report["counts"]["duplicates"], 0, "{report}");
                assert_eq!(report["counts"]["foreign"], 0, "{report}");
            }
            (409, _) => {}
            other => panic!("{other:?}"),
        }
        // The sync either ran or found the reconcile holding the lease; one more run settles.
        if synced.is_err() {
            p.sync().await;
        }
    }
    assert!(reconciled > 0, "no reconcile ever ran");
    assert_remote_equals_local(&p, &[]).await;
}

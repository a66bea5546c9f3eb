//! End to end over real HTTP: the local gateway, `cargo lambda watch`, the functions and the
//! emulator, as `make up` starts them. `tests/smoke.sh` (in `make test`) brings a stack up on
//! its own ports, runs this with `SMOKE_API_URL` set, and brings it down; that is why it is
//! `#[ignore]`d in a plain `cargo test`.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The API's and the remote's base URLs, as `tests/smoke.sh` passes them.
fn stack() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through tests/smoke.sh"))
    };
    (var("SMOKE_API_URL"), var("SMOKE_REMOTE_URL"))
}

/// The demo user's bearer token.
async fn login(http: &reqwest::Client, base: &str) -> String {
    let login: Value = http
        .post(format!("{base}/auth/token"))
        .json(&json!({"username": "demo", "password": "demo-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
#[ignore = "needs a running stack: run through tests/smoke.sh (make smoke)"]
async fn the_api_works_through_the_gateway_and_cargo_lambda_watch() {
    let (base, remote) = stack();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let list = http.get(url("/posts")).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let before: Vec<Value> = list.json().await.unwrap();
    assert_eq!(before.len(), 100, "make up imported the remote's posts");

    let refused = http
        .post(url("/auth/token"))
        .json(&json!({"username": "demo", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let token = login(&http, &base).await;

    let unauthorised = http
        .post(url("/posts"))
        .json(&json!({"title": "t", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    assert!(unauthorised.headers().contains_key("www-authenticate"));

    // Rejected writes first, transactional ones among them (moto rolls a cancelled
    // transaction back in a way that used to stall the stream pump for good): none of them
    // may reach the remote, and every write after them must.
    let missing_post = http
        .post(url("/posts/999999/comments"))
        .bearer_auth(&token)
        .json(&json!({"name": "n", "email": "smoke@example.com", "body": "orphan"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_post.status(), StatusCode::NOT_FOUND);
    let stale_delete = http
        .delete(url("/posts/1"))
        .bearer_auth(&token)
        .header("if-match", "\"999\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), StatusCode::PRECONDITION_FAILED);

    let created = http
        .post(url("/posts"))
        .bearer_auth(&token)
        .json(&json!({"title": "smoke", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let post: Value = created.json().await.unwrap();
    assert_eq!(location, format!("/posts/{}", post["id"]));

    let patched = http
        .patch(url(&location))
        .bearer_auth(&token)
        .header("if-match", &etag)
        .json(&json!({"title": "smoke, edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let stale = http
        .patch(url(&location))
        .bearer_auth(&token)
        .header("if-match", &etag)
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    let comment = http
        .post(url(&format!("{location}/comments")))
        .bearer_auth(&token)
        .json(&json!({"name": "n", "email": "smoke@example.com", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), StatusCode::CREATED);
    let comments: Vec<Value> = http
        .get(url(&format!("{location}/comments")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(comments.len(), 1);

    let page = http
        .get(url("/posts?_page=1&_limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.headers()["x-total-count"].to_str().unwrap(),
        (before.len() + 1).to_string()
    );
    assert!(page.headers().contains_key("link"));

    let invalid = http
        .post(url("/posts"))
        .bearer_auth(&token)
        .json(&json!({"title": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let body: Value = invalid.json().await.unwrap();
    assert!(body["errors"]["title"].is_array());

    // The changes reach the remote: the stream pump captures them within seconds, and
    // POST /sync/run syncs at once (the scheduler would within SYNC_INTERVAL).
    let title_on_remote = format!("{remote}/posts?title=smoke,%20edited");
    let mut synced = false;
    for _ in 0..30 {
        let run = http
            .post(url("/sync/run"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(
            run.status() == StatusCode::OK || run.status() == StatusCode::CONFLICT,
            "{}",
            run.status()
        );
        let found: Vec<Value> = http
            .get(&title_on_remote)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if found.len() == 1 {
            synced = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(synced, "the new post never reached the remote");
    let status: Value = http
        .get(url("/sync/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["entities"]["failed"], 0, "{status}");
    assert_eq!(
        status["entities"]["waiting"], 0,
        "nothing rejected is waiting: {status}"
    );
    assert_eq!(status["queue"]["captureFailed"], 0, "{status}");
    let orphans: Vec<Value> = http
        .get(format!("{remote}/comments?body=orphan"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(orphans.is_empty(), "a rejected comment reached the remote");
    assert_eq!(
        http.get(format!("{remote}/posts/1"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "a rejected delete reached the remote"
    );
    assert!(
        status["entities"]["local"].as_u64().unwrap() >= 601,
        "{status}"
    );
    // Counts are public; the remote's answers, entity by entity, need a token.
    assert!(status["entities"].get("problems").is_none(), "{status}");
    assert_eq!(status["detailed"], false);
    let detailed: Value = http
        .get(url("/sync/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(detailed["entities"]["problems"].is_array(), "{detailed}");
    let forged = http
        .get(url("/sync/status"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let anonymous_run = http.post(url("/sync/run")).send().await.unwrap();
    assert_eq!(anonymous_run.status(), StatusCode::UNAUTHORIZED);

    let deleted = http
        .delete(url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(deleted.json::<Value>().await.unwrap(), json!({}));

    // A page on another origin may call the API: the gateway answers the preflight and
    // exposes what a client reads.
    let preflight = http
        .request(reqwest::Method::OPTIONS, url("/posts/1"))
        .header("origin", "https://admin.example")
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,content-type,if-match",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let cross = http
        .get(url("/posts?_page=1"))
        .header("origin", "https://admin.example")
        .send()
        .await
        .unwrap();
    let exposed = cross.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-total-count") && exposed.contains("link") && exposed.contains("etag")
    );
    assert_eq!(
        http.get(url(&location)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(url(&format!("{location}/comments")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(url("/nowhere")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

/// What an operator meets: the remote refuses a change (someone deleted the record there, so
/// the `PUT` is a 404), the sync parks it (the smoke stack runs with `SYNC_MAX_ATTEMPTS=1`),
/// the status shows it, and `POST /sync/redrive` brings it back, one entity's or all, where it
/// merges with the newer local delete: in the end nothing is parked and the remote holds
/// neither record.
#[tokio::test]
#[ignore = "needs a running stack: run through tests/smoke.sh (make smoke)"]
async fn a_refused_change_is_parked_shown_and_redriven() {
    let (base, remote) = stack();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let token = login(&http, &base).await;
    // Runs the sync until `done` holds of the status.
    let sync_until = |what: &'static str, done: Box<dyn Fn(&Value) -> bool>| {
        let (http, token, url) = (http.clone(), token.clone(), url);
        async move {
            for _ in 0..30 {
                http.post(url("/sync/run"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                let s: Value = http
                    .get(url("/sync/status"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if done(&s) {
                    return s;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            panic!("{what}: never happened");
        }
    };
    let on_remote = |title: String| {
        let http = http.clone();
        let remote = remote.clone();
        async move {
            let title = title.replace(' ', "%20").replace(',', "%2C");
            http.get(format!("{remote}/posts?title={title}"))
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };

    let mut ids = Vec::new();
    for name in ["parked a", "parked b"] {
        let created: Value = http
            .post(url("/posts"))
            .bearer_auth(&token)
            .json(&json!({"title": name, "body": "to be refused"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_u64().unwrap());
    }
    let mut remote_ids = Vec::new();
    for name in ["parked a", "parked b"] {
        let mut found = Vec::new();
        for _ in 0..30 {
            http.post(url("/sync/run"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            found = on_remote(name.into()).await;
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        assert_eq!(found.len(), 1, "{name} reached the remote once");
        remote_ids.push(found[0]["id"].as_u64().unwrap());
    }
    // Deleted behind our back: the next PUT of each is refused with a 404.
    for rid in &remote_ids {
        let gone = http
            .delete(format!("{remote}/posts/{rid}"))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::OK);
    }
    for id in &ids {
        let edited = http
            .patch(url(&format!("/posts/{id}")))
            .bearer_auth(&token)
            .json(&json!({"title": "parked, edited"}))
            .send()
            .await
            .unwrap();
        assert_eq!(edited.status(), StatusCode::OK);
    }
    let is_parked = |s: &Value, id: u64| {
        s["entities"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| {
                p["entity"] == "post"
                    && p["id"] == id
                    && p["parked"] == true
                    && p["since"].as_u64().is_some_and(|t| t > 1_700_000_000)
                    && p["lastError"]
                        .as_str()
                        .is_some_and(|e| e.contains("parked in the dead-letter queue"))
            })
    };
    let (a, b) = (ids[0], ids[1]);
    let parked = sync_until(
        "both edits parked",
        Box::new(move |s| is_parked(s, a) && is_parked(s, b)),
    )
    .await;
    assert!(
        parked["queue"]["deadLettered"].as_u64().unwrap() >= 2,
        "{parked}"
    );
    assert!(
        parked["entities"]["parked"].as_u64().unwrap() >= 2,
        "{parked}"
    );

    let anonymous = http.post(url("/sync/redrive")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let half = http
        .post(url("/sync/redrive?entity=post"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(half.status(), StatusCode::BAD_REQUEST, "entity without id");

    // One entity's: a's change comes back, b's stays parked.
    let one: Value = http
        .post(url(&format!("/sync/redrive?entity=post&id={a}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["redriven"], 1, "{one}");
    assert!(one["left"].as_u64().unwrap() >= 1, "{one}");
    // The redriven edit merges with the newer delete: one DELETE, a 404 that counts as done.
    let delete = |id: u64| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let deleted = http
                .delete(url(&format!("/posts/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(deleted.status(), StatusCode::OK);
        }
    };
    delete(a).await;
    let s = sync_until(
        "a synced after its redrive",
        Box::new(move |s| !is_parked(s, a) && is_parked(s, b)),
    )
    .await;
    assert!(is_parked(&s, b), "{s}");

    let all: Value = http
        .post(url("/sync/redrive"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["redriven"], 1, "{all}");
    delete(b).await;
    let s = sync_until(
        "nothing parked",
        Box::new(move |s| !is_parked(s, a) && !is_parked(s, b) && s["queue"]["deadLettered"] == 0),
    )
    .await;
    assert_eq!(s["entities"]["failed"], 0, "{s}");
    let nothing: Value = http
        .post(url("/sync/redrive"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nothing, json!({"redriven": 0, "left": 0}));
    for title in ["parked a", "parked b", "parked, edited"] {
        assert!(
            on_remote(title.into()).await.is_empty(),
            "{title} on the remote"
        );
    }
}

/// What an operator meets when someone edits the remote by hand: `POST /sync/reconcile`
/// finds it (which entity, which field) and changes nothing; with `?repair=true` the entity
/// becomes a pending change, and the next sync puts the remote back.
#[tokio::test]
#[ignore = "needs a running stack: run through tests/smoke.sh (make smoke)"]
async fn drift_on_the_remote_is_found_then_repaired_by_the_sync() {
    let (base, remote) = stack();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let token = login(&http, &base).await;
    let original: Value = http
        .get(format!("{remote}/posts/5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let edited = http
        .patch(format!("{remote}/posts/5"))
        .json(&json!({"title": "edited on the remote by hand"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    let comment: Value = http
        .get(format!("{remote}/comments/7"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let edited = http
        .patch(format!("{remote}/comments/7"))
        .json(&json!({"body": "edited on the remote by hand"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    let anonymous = http.post(url("/sync/reconcile")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let reconcile = |query: &'static str| {
        let (http, token, url) = (&http, &token, url(&format!("/sync/reconcile{query}")));
        async move {
            // A sync run of the stack's scheduler may hold the lease for a moment.
            for _ in 0..30 {
                let r = http.post(&url).bearer_auth(token).send().await.unwrap();
                if r.status() != StatusCode::CONFLICT {
                    assert_eq!(r.status(), StatusCode::OK);
                    return r.json::<Value>().await.unwrap();
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            panic!("the lease was never free");
        }
    };
    let found = reconcile("").await;
    let differs = found["differs"].as_array().unwrap();
    assert!(
        differs.contains(&json!({"entity": "post", "id": 5, "remoteId": 5, "fields": ["title"]})),
        "{found}"
    );
    assert!(
        differs.contains(&json!({"entity": "comment", "id": 7, "remoteId": 7, "fields": ["body"]})),
        "{found}"
    );
    let remote_title = |http: reqwest::Client, remote: String| async move {
        let post: Value = http
            .get(format!("{remote}/posts/5"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        post["title"].clone()
    };
    assert_eq!(
        remote_title(http.clone(), remote.clone()).await,
        "edited on the remote by hand",
        "found, not changed"
    );
    let status: Value = http
        .get(url("/sync/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        status["drift"]["counts"]["differs"].as_u64().unwrap() >= 1,
        "{status}"
    );

    let repaired = reconcile("?repair=true").await;
    assert!(
        repaired["repaired"]["replaced"].as_u64().unwrap() >= 1,
        "{repaired}"
    );
    let mut back = false;
    for _ in 0..30 {
        http.post(url("/sync/run"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if remote_title(http.clone(), remote.clone()).await == original["title"] {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(back, "the repair never reached the remote");
    let restored: Value = http
        .get(format!("{remote}/comments/7"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(restored["body"], comment["body"]);
    let after = reconcile("").await;
    assert!(
        !after["differs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == 5 && d["entity"] == "post"),
        "{after}"
    );
}

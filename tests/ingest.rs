//! `POST /ingest` and `GET /ingest/status` against moto: machine clients' signed batches.

use std::time::{SystemTime, UNIX_EPOCH};

use placeholder_sync_tests::api::INGEST_SECRET;
use placeholder_sync_tests::sync::{JsonServer, Pipeline};
use placeholder_sync_tests::{Api, TestResponse};
use ps_http::signature::header_value as signature;
use serde_json::{Value, json};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `body` as `client` signs it now, to `method path`.
async fn signed_as(
    api: &Api,
    (client, secret): (&str, &str),
    method: &str,
    path: &str,
    body: &[u8],
) -> TestResponse {
    let header = signature(client, secret, now(), body);
    let body = (!body.is_empty()).then_some(body);
    api.request(
        method,
        path,
        &[("x-ingest-signature", header.as_str())],
        body,
    )
    .await
}

const ACME: (&str, &str) = ("acme", INGEST_SECRET);

async fn send(api: &Api, body: &Value, extra: &[(&str, &str)]) -> TestResponse {
    send_at(api, body, now(), extra).await
}

async fn send_at(api: &Api, body: &Value, t: u64, extra: &[(&str, &str)]) -> TestResponse {
    let bytes = body.to_string().into_bytes();
    let header = signature("acme", INGEST_SECRET, t, &bytes);
    let mut headers = vec![
        ("x-ingest-signature", header.as_str()),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    api.request("POST", "/ingest", &headers, Some(&bytes)).await
}

async fn counts(api: &Api) -> (u64, u64) {
    let total = |path: &'static str| async move {
        api.get(path)
            .await
            .header("x-total-count")
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    (
        total("/posts?_limit=1").await,
        total("/comments?_limit=1").await,
    )
}

fn mixed_batch(title: &str) -> Value {
    json!({"items": [
        {"op": "upsert", "entity": "post", "ref": "p", "data": {"title": title, "body": "from a machine"}},
        {"op": "upsert", "entity": "comment", "data": {"postRef": "p", "name": "n", "email": "m@example.com", "body": "b"}},
    ]})
}

#[tokio::test]
async fn a_signed_batch_is_applied_in_order_through_the_apis_writes() {
    let api = Api::new().await;
    let first_post = api.create_post("made through the API").await;
    let other = api.create_post("to be replaced").await;
    let doomed = api.create_comment(other, "to be deleted").await;
    let batch = json!({"items": [
        {"op": "upsert", "entity": "post", "ref": "p", "data": {"title": "machine post", "body": "b"}},
        {"op": "upsert", "entity": "comment", "data": {"postRef": "p", "name": "n", "email": "m@example.com", "body": "b"}},
        {"op": "upsert", "entity": "post", "id": other, "data": {"title": "replaced by a machine", "body": "b"}},
        {"op": "delete", "entity": "comment", "id": doomed},
    ]});
    let r = send(&api, &batch, &[]).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    let results = answer["results"].as_array().unwrap();
    let post_id = results[0]["id"].as_u64().unwrap();
    assert_eq!(post_id, other + 1, "ids go on from the API's counters");
    assert_eq!(
        results
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["created", "created", "replaced", "deleted"]
    );
    let comment = api
        .get(&format!("/comments/{}", results[1]["id"]))
        .await
        .json();
    assert_eq!(comment["postId"], post_id, "under the post made first");
    assert_eq!(
        api.get(&format!("/posts/{other}")).await.json()["title"],
        "replaced by a machine"
    );
    assert_eq!(api.get(&format!("/comments/{doomed}")).await.status, 404);
    assert_eq!(api.get(&format!("/posts/{first_post}")).await.status, 200);

    // The same batch again, even signed anew: 409 with what was done, nothing done twice.
    let before = counts(&api).await;
    let again = send(&api, &batch, &[]).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["original"], answer);
    assert_eq!(counts(&api).await, before);
}

#[tokio::test]
async fn a_wrong_missing_stale_or_future_signature_is_refused_and_writes_nothing() {
    let api = Api::new().await;
    let before = counts(&api).await;
    let body = mixed_batch("never").to_string().into_bytes();
    let other_body = mixed_batch("other").to_string().into_bytes();
    let t = now();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        // Tampered: signed for another body.
        (
            signature("acme", INGEST_SECRET, t, &other_body),
            body.clone(),
            "wrong signature",
        ),
        (
            signature("acme", "a guess", t, &body),
            body.clone(),
            "wrong signature",
        ),
        (
            signature("nobody", INGEST_SECRET, t, &body),
            body.clone(),
            "unknown client",
        ),
        // A replay six minutes later, and a clock six minutes fast.
        (
            signature("acme", INGEST_SECRET, t - 360, &body),
            body.clone(),
            "old",
        ),
        (
            signature("acme", INGEST_SECRET, t + 360, &body),
            body.clone(),
            "future",
        ),
        ("sha256=abc".into(), body.clone(), "t=<unix seconds>"),
    ];
    for (header, body, says) in cases {
        let r = api
            .request(
                "POST",
                "/ingest",
                &[("x-ingest-signature", header.as_str())],
                Some(&body),
            )
            .await;
        assert_eq!(r.status, 401, "{header}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{message} should say {says}");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .starts_with("HMAC-SHA256")
        );
    }
    let unsigned = api.request("POST", "/ingest", &[], Some(&body)).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(counts(&api).await, before);
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_and_writes_nothing() {
    let api = Api::new().await;
    let post = api.create_post("exists").await;
    let before = counts(&api).await;
    let comment_on = |post: u64| json!({"op": "upsert", "entity": "comment", "data": {"postId": post, "name": "n", "email": "m@example.com", "body": "b"}});
    let fine = json!({"op": "upsert", "entity": "post", "data": {"title": "fine", "body": "b"}});
    let hundred_and_one: Vec<Value> = (0..101).map(|_| fine.clone()).collect();
    for (batch, field) in [
        // One invalid item among good ones.
        (
            json!({"items": [fine.clone(), {"op": "upsert", "entity": "post", "data": {"title": "", "body": "b"}}]}),
            Some("items[1].data.title"),
        ),
        // A comment on a post that does not exist, after a write that would have worked.
        (
            json!({"items": [fine.clone(), comment_on(post), comment_on(999_999)]}),
            Some("items[2].data.postId"),
        ),
        (json!({"items": hundred_and_one}), None),
        (json!({"items": []}), None),
        (json!({"posts": []}), None),
    ] {
        let r = send(&api, &batch, &[]).await;
        assert_eq!(r.status, 400, "{batch}");
        if let Some(field) = field {
            assert!(r.json()["errors"][field].is_array(), "{}", r.json());
        }
    }
    let r = signed_as(&api, ACME, "POST", "/ingest", b"{\"items\": [").await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    let huge = json!({"items": [{"op": "upsert", "entity": "post", "data": {"title": "t", "body": "x".repeat(300 * 1024)}}]});
    assert_eq!(send(&api, &huge, &[]).await.status, 413);
    assert_eq!(
        counts(&api).await,
        before,
        "nothing of a refused batch was written"
    );
    // The refused batches were let go: sent again once fixed, a batch goes through.
    let fixed = json!({"items": [fine.clone(), comment_on(post)]});
    assert_eq!(send(&api, &fixed, &[]).await.status, 202);
}

#[tokio::test]
async fn the_same_key_twice_at_once_makes_one_entity() {
    let api = Api::new().await;
    let before = counts(&api).await;
    let batch = mixed_batch("sent twice at once");
    let key = [("idempotency-key", "nightly-2026-12-07")];
    let (a, b) = tokio::join!(send(&api, &batch, &key), send(&api, &batch, &key));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [202, 409]);
    assert_eq!(counts(&api).await, (before.0 + 1, before.1 + 1));
    // The key with another body: not the same request.
    let r = send(&api, &mixed_batch("another body"), &key).await;
    assert_eq!(r.status, 422);
    assert_eq!(counts(&api).await, (before.0 + 1, before.1 + 1));
}

#[tokio::test]
async fn a_client_past_its_rate_waits() {
    let mut api = Api::new().await;
    api.ingest.per_minute = 2;
    // Two per minute: a minute boundary between the calls would reset it, so start after one.
    while now() % 60 > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert_eq!(send(&api, &mixed_batch("one"), &[]).await.status, 202);
    assert_eq!(send(&api, &mixed_batch("two"), &[]).await.status, 202);
    let third = send(&api, &mixed_batch("three"), &[]).await;
    assert_eq!(third.status, 429);
    let wait: u64 = third.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another client has a rate of its own.
    let body = mixed_batch("other client").to_string().into_bytes();
    let other = ("other", "other-test-secret");
    assert_eq!(
        signed_as(&api, other, "POST", "/ingest", &body)
            .await
            .status,
        202
    );
}

/// The writes are the API's: captured, synced, and counted in the client's status.
#[tokio::test]
async fn a_clients_writes_are_synced_and_its_status_says_so() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let r = send(&p.api, &mixed_batch("to the remote"), &[]).await;
    assert_eq!(r.status, 202);
    // (written, queued, synced) as the client's status says.
    async fn counts_of(api: &Api) -> (u64, u64, u64) {
        let s = signed_as(api, ACME, "GET", "/ingest/status", b"")
            .await
            .json();
        assert_eq!(s["client"], "acme", "{s}");
        let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
        (n("written"), n("queued"), n("synced"))
    }
    assert_eq!(counts_of(&p.api).await, (2, 2, 0));
    p.capture().await;
    p.sync().await;
    assert_eq!(counts_of(&p.api).await, (2, 0, 2));
    // A newer write to a synced entity: queued until the sync has it on the remote too.
    let post = r.json()["results"][0]["id"].as_u64().unwrap();
    let replace = json!({"items": [{"op": "upsert", "entity": "post", "id": post, "data": {"title": "to the remote, again", "body": "b"}}]});
    assert_eq!(send(&p.api, &replace, &[]).await.status, 202);
    assert_eq!(counts_of(&p.api).await, (2, 1, 1));
    p.capture().await;
    p.sync().await;
    assert_eq!(counts_of(&p.api).await, (2, 0, 2));
    let on_remote: Vec<Value> = reqwest::get(format!(
        "{}/posts?title=to%20the%20remote,%20again",
        remote.url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(on_remote.len(), 1);
    let unsigned = p.api.get("/ingest/status").await;
    assert_eq!(unsigned.status, 401);
}

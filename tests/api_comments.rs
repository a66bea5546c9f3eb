//! Every comments route, against moto server.

use placeholder_sync_tests::{Api, fixture, seeded_api};
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|c| c["id"].as_u64().expect("id"))
        .collect()
}

fn comment(post_id: u64) -> Value {
    json!({"postId": post_id, "name": "n", "email": "reader@example.com", "body": "b"})
}

#[tokio::test]
async fn lists_filters_and_paginates_comments() {
    let api = seeded_api().await;
    let (_, comments) = fixture();
    let all = api.get("/comments").await;
    assert_eq!(ids(&all.json()), (1..=500).collect::<Vec<_>>());
    assert_eq!(all.json()[0], serde_json::to_value(&comments[0]).unwrap());
    let of_post = api.get("/comments?postId=7").await.json();
    let expected: Vec<u64> = comments
        .iter()
        .filter(|c| c.post_id == 7)
        .map(|c| c.id)
        .collect();
    assert_eq!(ids(&of_post), expected);
    assert_eq!(api.get("/posts/7/comments").await.json(), of_post);
    assert_eq!(api.get("/comments?postId=1000").await.json(), json!([]));

    let page = api.get("/comments?_page=3&_limit=50").await;
    assert_eq!(ids(&page.json()), (101..=150).collect::<Vec<_>>());
    assert_eq!(page.header("x-total-count").as_deref(), Some("500"));
    assert!(
        page.header("link")
            .unwrap()
            .contains("</comments?_page=10&_limit=50>; rel=\"last\"")
    );
    let nested = api.get("/posts/7/comments?_page=2&_limit=2").await;
    assert_eq!(ids(&nested.json()), expected[2..4].to_vec());
    assert!(
        nested
            .header("link")
            .unwrap()
            .contains("</posts/7/comments?_page=3&_limit=2>; rel=\"last\"")
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_and_400() {
    let api = seeded_api().await;
    assert_eq!(api.get("/comments/501").await.status, 404);
    assert_eq!(api.get("/posts/101/comments").await.status, 404);
    assert_eq!(api.get("/posts/x/comments").await.status, 400);
    assert_eq!(api.get("/comments/x").await.status, 400);
    assert_eq!(api.get("/comments?postId=x").await.status, 400);
    assert_eq!(api.get("/comments?mail=a").await.status, 400);
    let r = api.get("/comments/3").await;
    assert_eq!((r.status, r.etag()), (200, "\"0\"".to_owned()));
}

#[tokio::test]
async fn creates_through_either_route() {
    let api = seeded_api().await;
    let r = api.write("POST", "/comments", comment(3)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["id"], 501);
    assert_eq!(r.header("location").as_deref(), Some("/comments/501"));
    let nested = api
        .write(
            "POST",
            "/posts/3/comments",
            json!({"name": "n", "email": "a@b.io", "body": "b"}),
        )
        .await;
    assert_eq!(nested.status, 201);
    assert_eq!(nested.json()["postId"], 3);
    assert_eq!(nested.json()["id"], 502);
    assert_eq!(
        api.get("/posts/3/comments")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

#[tokio::test]
async fn a_comment_needs_an_existing_post() {
    let api = seeded_api().await;
    let body_ref = api.write("POST", "/comments", comment(404)).await;
    assert_eq!(body_ref.status, 400);
    assert!(body_ref.json()["errors"]["postId"].is_array());
    let path_ref = api
        .write(
            "POST",
            "/posts/404/comments",
            json!({"name": "n", "email": "a@b.io", "body": "b"}),
        )
        .await;
    assert_eq!(path_ref.status, 404);
    let clash = api.write("POST", "/posts/3/comments", comment(4)).await;
    assert_eq!(clash.status, 400);
    assert_eq!(
        api.get("/comments")
            .await
            .header("x-total-count")
            .as_deref(),
        Some("500")
    );
}

#[tokio::test]
async fn invalid_comments_are_400_with_field_errors() {
    let api = seeded_api().await;
    let cases = [
        (json!({"postId": 1, "email": "a@b.io", "body": "b"}), "name"),
        (
            json!({"postId": 1, "name": "n".repeat(129), "email": "a@b.io", "body": "b"}),
            "name",
        ),
        (
            json!({"postId": 1, "name": "n", "email": "no-at-sign", "body": "b"}),
            "email",
        ),
        (
            json!({"postId": 1, "name": "n", "email": format!("{}@b.io", "a".repeat(124)), "body": "b"}),
            "email",
        ),
        (
            json!({"postId": 1, "name": "n", "email": "a@b.io", "body": "x".repeat(1025)}),
            "body",
        ),
        (
            json!({"name": "n", "email": "a@b.io", "body": "b"}),
            "postId",
        ),
        (
            json!({"postId": "1", "name": "n", "email": "a@b.io", "body": "b"}),
            "postId",
        ),
        (
            json!({"postId": 1, "name": "n", "email": "a@b.io", "body": "b", "x": 1}),
            "x",
        ),
    ];
    for (body, field) in cases {
        let r = api.write("POST", "/comments", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.json()["errors"][field].is_array(),
            "{field}: {}",
            r.json()
        );
    }
    assert_eq!(
        api.get("/comments")
            .await
            .header("x-total-count")
            .as_deref(),
        Some("500")
    );
}

#[tokio::test]
async fn updates_keep_the_post_and_honour_if_match() {
    let api = seeded_api().await;
    let moved = api
        .write("PATCH", "/comments/1", json!({"postId": 2}))
        .await;
    assert_eq!(moved.status, 400);
    assert!(moved.json()["errors"]["postId"].is_array());
    let put = api
        .write(
            "PUT",
            "/comments/1",
            json!({"postId": 1, "name": "n2", "email": "x@y.io", "body": "b2"}),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        put.json(),
        json!({"postId": 1, "id": 1, "name": "n2", "email": "x@y.io", "body": "b2"})
    );
    let stale = api
        .write_with(
            "PATCH",
            "/comments/1",
            json!({"body": "b3"}),
            &[("if-match", "\"0\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    let fresh = api
        .write_with(
            "PATCH",
            "/comments/1",
            json!({"body": "b3"}),
            &[("if-match", &put.etag())],
        )
        .await;
    assert_eq!(
        (fresh.status, fresh.json()["body"].as_str()),
        (200, Some("b3"))
    );
    assert_eq!(
        api.delete("/comments/1", &[("if-match", &put.etag())])
            .await
            .status,
        412
    );
    let deleted = api.delete("/comments/1", &[]).await;
    assert_eq!(
        (deleted.status, deleted.json()),
        (200, serde_json::json!({}))
    );
    assert_eq!(api.get("/comments/1").await.status, 404);
    assert_eq!(
        api.get("/posts/1").await.status,
        200,
        "deleting a comment leaves its post"
    );
}

#[tokio::test]
async fn comment_writes_need_a_token() {
    let api = Api::new().await;
    let post = api.create_post("p").await;
    let body = comment(post).to_string();
    for (method, path) in [
        ("POST", "/comments".to_owned()),
        ("POST", format!("/posts/{post}/comments")),
        ("PUT", "/comments/1".into()),
        ("PATCH", "/comments/1".into()),
        ("DELETE", "/comments/1".into()),
    ] {
        let r = api
            .request(
                method,
                &path,
                &[("content-type", "application/json")],
                Some(body.as_bytes()),
            )
            .await;
        assert_eq!(r.status, 401, "{method} {path}");
    }
    assert_eq!(api.get("/comments").await.json(), json!([]));
}

/// A comment's create with an `Idempotency-Key`, sent twice, makes one comment, on either
/// route; the key is per kind, so a post may use the same one.
#[tokio::test]
async fn a_comment_create_with_an_idempotency_key_happens_once() {
    let api = placeholder_sync_tests::seeded_api().await;
    let key = [("idempotency-key", "comment-once")];
    let body = serde_json::json!({"name": "n", "email": "a@example.com", "body": "once"});
    let first = api
        .write_with("POST", "/posts/3/comments", body.clone(), &key)
        .await;
    assert_eq!(first.status, 201);
    let again = api
        .write_with("POST", "/posts/3/comments", body.clone(), &key)
        .await;
    assert_eq!((again.status, again.json()), (201, first.json()));
    let elsewhere = api
        .write_with(
            "POST",
            "/comments",
            serde_json::json!({"postId": 3, "name": "n", "email": "a@example.com", "body": "once"}),
            &key,
        )
        .await;
    assert_eq!(elsewhere.status, 422, "another route is another request");
    let post = api
        .write_with(
            "POST",
            "/posts",
            serde_json::json!({"title": "t", "body": "b"}),
            &key,
        )
        .await;
    assert_eq!(post.status, 201, "keys are per kind");
    let listed = api.get("/posts/3/comments?body=once").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

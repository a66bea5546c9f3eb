//! Every /posts route, status code, filter, pagination rule, precondition and bad input,
//! against moto server.

use placeholder_sync_tests::{Api, fixture, seeded_api};
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|p| p["id"].as_u64().expect("id"))
        .collect()
}

#[tokio::test]
async fn lists_every_post_in_id_order_without_pagination() {
    let api = seeded_api().await;
    let r = api.get("/posts").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.json()), (1..=100).collect::<Vec<_>>());
    assert_eq!(r.header("x-total-count").as_deref(), Some("100"));
    assert_eq!(r.header("link"), None);
    let (posts, _) = fixture();
    assert_eq!(
        r.json()[0],
        serde_json::to_value(&posts[0]).unwrap(),
        "JSONPlaceholder's shape"
    );
}

#[tokio::test]
async fn gets_one_post_with_an_etag_and_404s_unknown_ids() {
    let api = seeded_api().await;
    let r = api.get("/posts/7").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 7);
    assert_eq!(r.etag(), "\"0\"");
    let missing = api.get("/posts/1000").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "post 1000 not found");
    for bad in ["/posts/abc", "/posts/0", "/posts/-1", "/posts/1.5"] {
        let r = api.get(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("id must be a positive integer")
        );
    }
}

#[tokio::test]
async fn filters_by_user_exact_title_and_case_insensitive_title_substring() {
    let api = seeded_api().await;
    let (posts, _) = fixture();
    let by_user = api.get("/posts?userId=3").await.json();
    let expected: Vec<u64> = posts
        .iter()
        .filter(|p| p.user_id == 3)
        .map(|p| p.id)
        .collect();
    assert_eq!(ids(&by_user), expected);

    let title = &posts[41].title;
    let encoded: String = title.split(' ').collect::<Vec<_>>().join("%20");
    assert_eq!(
        ids(&api.get(&format!("/posts?title={encoded}")).await.json()),
        vec![42]
    );

    let like = api.get("/posts?title_like=QUI").await;
    let expected: Vec<u64> = posts
        .iter()
        .filter(|p| p.title.to_lowercase().contains("qui"))
        .map(|p| p.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&like.json()), expected);
    assert_eq!(
        like.header("x-total-count"),
        Some(expected.len().to_string())
    );

    let combined = api.get("/posts?userId=1&title_like=qui").await.json();
    let expected: Vec<u64> = posts
        .iter()
        .filter(|p| p.user_id == 1 && p.title.contains("qui"))
        .map(|p| p.id)
        .collect();
    assert_eq!(ids(&combined), expected);
}

#[tokio::test]
async fn bad_filters_are_400_not_500() {
    let api = seeded_api().await;
    for bad in [
        "/posts?userId=abc",
        "/posts?userId=-1",
        "/posts?_page=0",
        "/posts?_limit=x",
        "/posts?author=1",
        "/posts?_sort=id&_sort=title",
        "/posts?title_like=(",
        "/posts?_embed=users",
    ] {
        let r = api.get(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["message"].is_string());
    }
}

#[tokio::test]
async fn paginates_with_total_count_and_link_relations() {
    let api = seeded_api().await;
    let r = api.get("/posts?_page=2&_limit=10").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.json()), (11..=20).collect::<Vec<_>>());
    assert_eq!(r.header("x-total-count").as_deref(), Some("100"));
    let link = r.header("link").expect("Link");
    for rel in [
        "</posts?_page=1&_limit=10>; rel=\"first\"",
        "</posts?_page=1&_limit=10>; rel=\"prev\"",
        "</posts?_page=3&_limit=10>; rel=\"next\"",
        "</posts?_page=10&_limit=10>; rel=\"last\"",
    ] {
        assert!(link.contains(rel), "{rel} in {link}");
    }
    let last = api.get("/posts?_page=10&_limit=10").await;
    assert!(!last.header("link").unwrap().contains("rel=\"next\""));
    assert_eq!(api.get("/posts?_page=11&_limit=10").await.json(), json!([]));
    assert_eq!(
        ids(&api.get("/posts?_page=3").await.json()),
        (21..=30).collect::<Vec<_>>(),
        "default limit 10"
    );

    // Walking the pages gives every post once, in order, filters kept.
    let mut walked = Vec::new();
    let mut page = 1;
    loop {
        let r = api
            .get(&format!("/posts?userId=2&_page={page}&_limit=3"))
            .await;
        let got = ids(&r.json());
        if got.is_empty() {
            break;
        }
        assert!(r.header("link").unwrap().contains("userId=2"));
        walked.extend(got);
        page += 1;
    }
    assert_eq!(walked, (11..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn creates_with_the_next_id_a_location_and_the_fixed_user() {
    let api = seeded_api().await;
    let r = api
        .write(
            "POST",
            "/posts",
            json!({"title": "t", "body": "b", "userId": 1}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json(),
        json!({"userId": 99999942, "id": 101, "title": "t", "body": "b"})
    );
    assert_eq!(r.header("location").as_deref(), Some("/posts/101"));
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!(api.get("/posts/101").await.json(), r.json());
    assert_eq!(api.create_post("second").await, 102);
}

#[tokio::test]
async fn concurrent_creates_never_collide_on_an_id() {
    let api = Api::new().await;
    let titles: Vec<String> = (0..20).map(|i| format!("post {i}")).collect();
    let mut ids = futures::future::join_all(titles.iter().map(|t| api.create_post(t))).await;
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(
        api.get("/posts").await.header("x-total-count").as_deref(),
        Some("20")
    );
}

#[tokio::test]
async fn put_replaces_patch_merges_and_a_no_op_writes_nothing() {
    let api = seeded_api().await;
    let put = api
        .write(
            "PUT",
            "/posts/5",
            json!({"id": 5, "title": "new", "body": "new body"}),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        put.json(),
        json!({"userId": 1, "id": 5, "title": "new", "body": "new body"})
    );
    assert_eq!(put.etag(), "\"1\"");

    let patch = api
        .write("PATCH", "/posts/5", json!({"title": "newer"}))
        .await;
    assert_eq!(patch.json()["body"], "new body");
    assert_eq!(patch.json()["title"], "newer");
    assert_eq!(patch.etag(), "\"2\"");

    let same = api
        .write("PATCH", "/posts/5", json!({"title": "newer"}))
        .await;
    assert_eq!(same.status, 200);
    assert_eq!(
        same.etag(),
        "\"2\"",
        "an update that changes nothing is not a write"
    );

    assert_eq!(
        api.write("PUT", "/posts/500", json!({"title": "t", "body": "b"}))
            .await
            .status,
        404
    );
    assert_eq!(
        api.write("PATCH", "/posts/500", json!({"title": "t"}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn if_match_guards_put_patch_and_delete() {
    let api = seeded_api().await;
    let etag = api.get("/posts/9").await.etag();
    let ok = api
        .write_with(
            "PATCH",
            "/posts/9",
            json!({"title": "first"}),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(ok.status, 200);
    // The second editor still holds the old ETag: refused, and nothing is written.
    let stale = api
        .write_with(
            "PUT",
            "/posts/9",
            json!({"title": "second", "body": "b"}),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    assert!(stale.json()["message"].as_str().unwrap().contains("ETag"));
    assert_eq!(api.get("/posts/9").await.json()["title"], "first");
    assert_eq!(
        api.delete("/posts/9", &[("if-match", &etag)]).await.status,
        412
    );
    assert_eq!(api.get("/posts/9").await.status, 200);

    let star = api
        .write_with(
            "PATCH",
            "/posts/9",
            json!({"title": "third"}),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(star.status, 200);
    let current = star.etag();
    assert_eq!(
        api.delete("/posts/9", &[("if-match", &current)])
            .await
            .status,
        200
    );
    assert_eq!(api.get("/posts/9").await.status, 404);
    assert_eq!(api.delete("/posts/9", &[]).await.status, 404);
}

#[tokio::test]
async fn invalid_writes_are_400_with_field_errors_and_write_nothing() {
    let api = seeded_api().await;
    let cases = [
        (json!({"body": "b"}), "title"),
        (json!({"title": "", "body": "b"}), "title"),
        (json!({"title": "   ", "body": "b"}), "title"),
        (json!({"title": "x".repeat(257), "body": "b"}), "title"),
        (json!({"title": "t", "body": "x".repeat(1025)}), "body"),
        (json!({"title": 3, "body": "b"}), "title"),
        (json!({"title": "t", "body": "b", "tags": []}), "tags"),
        (json!({"title": "t", "body": "b", "id": 7}), "id"),
        (json!({"title": "t", "body": "b", "userId": "1"}), "userId"),
    ];
    for (body, field) in cases {
        let r = api.write("POST", "/posts", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["message"], "validation failed");
        assert!(
            r.json()["errors"][field].is_array(),
            "{field} in {}",
            r.json()
        );
    }
    assert_eq!(
        api.write(
            "POST",
            "/posts",
            json!({"title": "x".repeat(256), "body": "b"})
        )
        .await
        .status,
        201
    );

    let put = api
        .write(
            "PUT",
            "/posts/1",
            json!({"id": 2, "title": "t", "body": "b"}),
        )
        .await;
    assert_eq!(
        (put.status, put.json()["errors"]["id"].is_array()),
        (400, true)
    );
    let user = api.write("PATCH", "/posts/1", json!({"userId": 2})).await;
    assert_eq!(
        (user.status, user.json()["errors"]["userId"].is_array()),
        (400, true)
    );
    assert_eq!(
        api.write("PUT", "/posts/1", json!({"title": "only title"}))
            .await
            .status,
        400
    );
    assert_eq!(
        api.get("/posts/1").await.etag(),
        "\"0\"",
        "post 1 untouched"
    );
    assert_eq!(
        api.get("/posts").await.header("x-total-count").as_deref(),
        Some("101"),
        "only the valid create"
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_and_oversized_ones_413() {
    let api = Api::new().await;
    let token = format!("Bearer {}", api.token());
    let auth = ("authorization", token.as_str());
    let json_ct = ("content-type", "application/json");
    for (body, headers) in [
        (&b"{not json"[..], vec![auth, json_ct]),
        (&b""[..], vec![auth, json_ct]),
        (&b"[1,2]"[..], vec![auth, json_ct]),
        (&b"\"text\""[..], vec![auth, json_ct]),
        (
            &b"title=t&body=b"[..],
            vec![auth, ("content-type", "application/x-www-form-urlencoded")],
        ),
    ] {
        let r = api.request("POST", "/posts", &headers, Some(body)).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(r.json()["message"].is_string());
    }
    let huge = json!({"title": "t", "body": "x".repeat(70 * 1024)}).to_string();
    let r = api
        .request("POST", "/posts", &[auth, json_ct], Some(huge.as_bytes()))
        .await;
    assert_eq!(r.status, 413);
    assert!(r.json()["message"].as_str().unwrap().contains("65536"));
    assert_eq!(api.get("/posts").await.json(), json!([]));
}

#[tokio::test]
async fn writes_need_a_valid_bearer_token() {
    let api = seeded_api().await;
    let expired = placeholder_sync_tests::api::test_keys()
        .issue_at("demo", 1_000_000)
        .unwrap();
    let foreign = ps_http::auth::TokenKeys::new(&[9u8; 40], std::time::Duration::from_secs(60))
        .unwrap()
        .issue("demo")
        .unwrap();
    let body = br#"{"title":"t","body":"b"}"#;
    for auth in [
        None,
        Some("Bearer".to_owned()),
        Some("Basic ZGVtbzpkZW1v".to_owned()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {foreign}")),
        Some("Bearer not.a.jwt".to_owned()),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        for (method, path) in [
            ("POST", "/posts"),
            ("PUT", "/posts/1"),
            ("PATCH", "/posts/1"),
            ("DELETE", "/posts/1"),
        ] {
            let r = api.request(method, path, &headers, Some(body)).await;
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}");
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
            assert!(r.json()["message"].is_string());
        }
    }
    assert_eq!(api.get("/posts/1").await.etag(), "\"0\"");
    assert_eq!(
        api.get("/posts").await.header("x-total-count").as_deref(),
        Some("100")
    );
}

#[tokio::test]
async fn deleting_a_post_deletes_its_comments() {
    let api = seeded_api().await;
    assert_eq!(
        api.get("/comments?postId=1")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(api.delete("/posts/1", &[]).await.status, 200);
    assert_eq!(api.get("/comments?postId=1").await.json(), json!([]));
    assert_eq!(api.get("/posts/1/comments").await.status, 404);
    assert_eq!(api.get("/comments/1").await.status, 404);
    assert_eq!(
        api.get("/comments")
            .await
            .header("x-total-count")
            .as_deref(),
        Some("495")
    );
}

#[tokio::test]
async fn deleting_a_post_with_more_comments_than_one_transaction_holds() {
    let api = Api::new().await;
    let post = api.create_post("popular").await;
    for i in 0..120 {
        api.create_comment(post, &format!("c{i}")).await;
    }
    let other = api.create_post("other").await;
    let kept = api.create_comment(other, "kept").await;
    assert_eq!(api.delete(&format!("/posts/{post}"), &[]).await.status, 200);
    assert_eq!(
        api.get(&format!("/comments?postId={post}")).await.json(),
        json!([])
    );
    assert_eq!(api.get(&format!("/comments/{kept}")).await.status, 200);
    assert_eq!(
        api.get("/comments")
            .await
            .header("x-total-count")
            .as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let api = Api::new().await;
    assert_eq!(api.get("/users").await.status, 404);
    assert_eq!(api.request("PUT", "/posts", &[], None).await.status, 404);
}

/// A create sent again with the same `Idempotency-Key` answers as the first time (same
/// status, id, body, `Location` and `ETag`) and creates nothing; the same key with another
/// body is a 422 that writes nothing; a malformed key is a 400.
#[tokio::test]
async fn a_create_with_an_idempotency_key_happens_once() {
    let api = seeded_api().await;
    let key = [("idempotency-key", "7f6c1e2a-create-once")];
    let body = json!({"title": "once", "body": "only once"});
    let first = api.write_with("POST", "/posts", body.clone(), &key).await;
    assert_eq!(first.status, 201);
    let again = api.write_with("POST", "/posts", body.clone(), &key).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    // Edited since: the repeat still answers what the first create answered.
    let id = first.json()["id"].as_u64().unwrap();
    let edited = api
        .write("PATCH", &format!("/posts/{id}"), json!({"title": "edited"}))
        .await;
    assert_eq!(edited.status, 200);
    let late = api.write_with("POST", "/posts", body.clone(), &key).await;
    assert_eq!((late.status, late.json()), (201, first.json()));

    let other = api
        .write_with(
            "POST",
            "/posts",
            json!({"title": "another", "body": "b"}),
            &key,
        )
        .await;
    assert_eq!(
        other.status,
        422,
        "{}",
        String::from_utf8_lossy(&other.body)
    );
    assert!(
        other.json()["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    let quoted = api
        .write_with(
            "POST",
            "/posts",
            body.clone(),
            &[("idempotency-key", "\"7f6c1e2a-create-once\"")],
        )
        .await;
    assert_eq!(
        quoted.json(),
        first.json(),
        "the draft's quoted form is the same key"
    );
    for bad in ["", "a key with spaces", &"k".repeat(256)] {
        let r = api
            .write_with("POST", "/posts", body.clone(), &[("idempotency-key", bad)])
            .await;
        assert_eq!(r.status, 400, "{bad:?}");
    }
    let list = api.get("/posts?title=once").await;
    assert_eq!(
        list.json().as_array().unwrap().len(),
        0,
        "the create's title was edited"
    );
    assert_eq!(
        api.get("/posts").await.header("x-total-count"),
        Some("101".into())
    );
}

/// The same create sent five times at once with one key makes one post; every answer that
/// is not a 409 (still being processed) is the first create's.
#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_post() {
    let api = seeded_api().await;
    let key = [("idempotency-key", "concurrent-key")];
    let body = json!({"title": "raced", "body": "b"});
    let answers = futures::future::join_all(
        (0..5).map(|_| api.write_with("POST", "/posts", body.clone(), &key)),
    )
    .await;
    let created: Vec<Value> = answers
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.json())
        .collect();
    assert!(!created.is_empty());
    assert!(
        answers.iter().all(|r| r.status == 201 || r.status == 409),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(created.iter().all(|c| *c == created[0]), "{created:?}");
    assert_eq!(
        api.get("/posts?title=raced")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/posts").await.header("x-total-count"),
        Some("101".into())
    );
}

//! The JSONPlaceholder query language, answer shapes and conditional reads, over the real
//! dataset in the emulator, through the template's routes.

use placeholder_sync_tests::{Api, fixture, seeded_api};
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|p| p["id"].as_u64().expect("id"))
        .collect()
}

async fn list(api: &Api, path: &str) -> (Vec<u64>, u64) {
    let r = api.get(path).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let total = r
        .header("x-total-count")
        .expect("X-Total-Count on every list")
        .parse()
        .unwrap();
    (ids(&r.json()), total)
}

#[tokio::test]
async fn filters_operators_search_sort_and_slices_match_json_server() {
    let api = seeded_api().await;
    // react-admin's getMany: a repeated parameter is OR.
    assert_eq!(
        list(&api, "/posts?id=3&id=1&id=2").await,
        (vec![1, 2, 3], 3)
    );
    assert_eq!(list(&api, "/posts?id_gte=98").await, (vec![98, 99, 100], 3));
    assert_eq!(
        list(&api, "/posts?userId=1&id_lte=3&id_ne=2").await,
        (vec![1, 3], 2)
    );
    // `_like` is a case-insensitive regular expression.
    let (like, _) = list(&api, "/posts?title_like=^SUNT").await;
    let (posts, comments) = fixture();
    let expected: Vec<u64> = posts
        .iter()
        .filter(|p| p.title.starts_with("sunt"))
        .map(|p| p.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(like, expected);
    // `q` searches every field.
    let (found, total) = list(&api, "/comments?q=Eliseo@gardner.biz").await;
    assert_eq!((found, total), (vec![1], 1));
    // Several sort keys with their own orders; slices; the total counts every match.
    let (sorted, total) = list(
        &api,
        "/comments?_sort=postId,email&_order=desc,asc&_start=0&_end=3",
    )
    .await;
    assert_eq!(total, 500);
    let mut last: Vec<&ps_core::Comment> = comments.iter().filter(|c| c.post_id == 100).collect();
    last.sort_by(|a, b| a.email.cmp(&b.email));
    assert_eq!(
        sorted,
        last.iter().take(3).map(|c| c.id).collect::<Vec<_>>()
    );
    assert_eq!(
        list(&api, "/posts?_sort=id&_order=DESC&_limit=2").await,
        (vec![100, 99], 100)
    );
    assert_eq!(list(&api, "/posts?_start=98").await, (vec![99, 100], 100));
    // Nested lists take the same language.
    assert_eq!(
        list(&api, "/posts/1/comments?_sort=id&_order=desc&_limit=2").await,
        (vec![5, 4], 5)
    );
}

#[tokio::test]
async fn embed_and_expand_add_the_related_records() {
    let api = seeded_api().await;
    let r = api.get("/posts?_embed=comments&_limit=2").await;
    let posts = r.json();
    assert_eq!(ids(&posts), [1, 2]);
    assert_eq!(ids(&posts[0]["comments"]), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&posts[1]["comments"]), [6, 7, 8, 9, 10]);
    let one = api.get("/posts/3?_embed=comments").await.json();
    assert_eq!(ids(&one["comments"]), [11, 12, 13, 14, 15]);
    let comments = api
        .get("/comments?_expand=post&postId=2&_limit=1")
        .await
        .json();
    assert_eq!(comments[0]["post"]["id"], 2);
    assert_eq!(
        api.get("/comments/1?_expand=post").await.json()["post"]["id"],
        1
    );
    let r = api.get("/posts/1?_limit=1").await;
    assert_eq!(r.status, 400, "a single read takes only its relation");
}

#[tokio::test]
async fn unknown_parameters_are_400_naming_what_is_supported() {
    let api = seeded_api().await;
    for bad in [
        "/posts?titel=x",
        "/posts?_sortt=id",
        "/comments?postId_like=(",
        "/posts?_page=1&_end=3",
    ] {
        let r = api.get(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["message"].as_str().unwrap().len() > 10, "{bad}");
    }
    let message = api.get("/posts?titel=x").await.json()["message"].to_string();
    assert!(
        message.contains("title") && message.contains("_like") && message.contains("q"),
        "{message}"
    );
}

#[tokio::test]
async fn deletes_answer_200_with_an_empty_object_and_put_takes_the_record_back() {
    let api = seeded_api().await;
    let record = api.get("/posts/7").await.json();
    let mut edited = record.clone();
    edited["title"] = json!("edited");
    let r = api.write("PUT", "/posts/7", edited.clone()).await;
    assert_eq!((r.status, r.json()), (200, edited));
    let r = api.delete("/posts/7", &[]).await;
    assert_eq!((r.status, r.json()), (200, json!({})));
    let comment = api.get("/comments/1").await.json();
    let r = api.write("PUT", "/comments/1", comment.clone()).await;
    assert_eq!((r.status, r.json()), (200, comment));
}

#[tokio::test]
async fn if_none_match_answers_304_for_records_and_lists() {
    let api = seeded_api().await;
    for path in [
        "/posts/1",
        "/posts?_page=1",
        "/posts/1/comments",
        "/posts/1?_embed=comments",
    ] {
        let first = api.get(path).await;
        let tag = first.etag();
        let again = api
            .request("GET", path, &[("if-none-match", &tag)], None)
            .await;
        assert_eq!((again.status, again.body.len()), (304, 0), "{path}");
        assert_eq!(again.etag(), tag);
        let other = api
            .request("GET", path, &[("if-none-match", "\"other\"")], None)
            .await;
        assert_eq!(other.status, 200, "{path}");
    }
    // A change makes the old tag stale.
    let list_tag = api.get("/posts/1/comments").await.etag();
    api.create_comment(1, "new").await;
    let r = api
        .request(
            "GET",
            "/posts/1/comments",
            &[("if-none-match", &list_tag)],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn malformed_conditions_are_400_and_write_nothing() {
    let api = seeded_api().await;
    let before = api.get("/posts/1").await.json();
    let mut non_ascii = String::from("\"77\"");
    non_ascii.push('é');
    for bad in ["77", non_ascii.as_str(), "\"1", "W/ \"1\""] {
        let r = api
            .write_with(
                "PATCH",
                "/posts/1",
                json!({"title": "stale"}),
                &[("if-match", bad)],
            )
            .await;
        assert_eq!(r.status, 400, "If-Match {bad:?}");
        let r = api
            .request("GET", "/posts/1", &[("if-none-match", bad)], None)
            .await;
        assert_eq!(r.status, 400, "If-None-Match {bad:?}");
    }
    assert_eq!(
        api.get("/posts/1").await.json(),
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn totals_stay_exact_through_creates_and_deletes() {
    let api = seeded_api().await;
    let total = |path: &'static str| {
        let api = &api;
        async move { list(api, path).await.1 }
    };
    let post = api.create_post("counted").await;
    let comment = api.create_comment(post, "c").await;
    api.create_comment(post, "d").await;
    assert_eq!(total("/posts?_page=1").await, 101);
    assert_eq!(total("/comments?_limit=1").await, 502);
    assert_eq!(
        list(&api, &format!("/comments?postId={post}&_limit=1"))
            .await
            .1,
        2
    );
    assert_eq!(list(&api, "/posts?userId=99999942&_page=1").await.1, 1);
    assert_eq!(
        api.delete(&format!("/comments/{comment}"), &[])
            .await
            .status,
        200
    );
    assert_eq!(api.delete(&format!("/posts/{post}"), &[]).await.status, 200);
    assert_eq!(api.delete("/posts/1", &[]).await.status, 200);
    assert_eq!(total("/posts?_page=1").await, 99);
    assert_eq!(total("/comments?_page=1").await, 495);
    assert_eq!(list(&api, "/posts?userId=1&_limit=1").await.1, 9);
    assert_eq!(list(&api, "/posts?userId=99999942&_limit=1").await.1, 0);
    // The counters agree with a full read.
    assert_eq!(total("/comments?q=").await, 495);
}

#[tokio::test]
async fn queries_the_index_cannot_answer_are_refused_past_the_read_cap() {
    let api = Api::new().await;
    let cap = ps_core::query::READ_CAP;
    let posts: Vec<ps_core::Post> = (1..=cap + 1)
        .map(|id| ps_core::Post {
            user_id: 1 + id % 2,
            id,
            title: format!("t{id}"),
            body: "b".into(),
        })
        .collect();
    api.store.import(&posts, &[]).await.unwrap();
    // The index still answers pages, and a scope small enough may be read whole.
    assert_eq!(
        list(&api, "/posts?_page=2&_limit=3").await,
        (vec![4, 5, 6], cap + 1)
    );
    let (found, total) = list(&api, "/posts?userId=2&title_like=^t3$").await;
    assert_eq!((found, total), (vec![3], 1));
    for refused in [
        "/posts?title_like=t1",
        "/posts?_sort=title&_limit=1",
        "/posts",
        "/posts?_start=4990&_limit=20",
    ] {
        let r = api.get(refused).await;
        assert_eq!(r.status, 400, "{refused}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&cap.to_string()), "{message}");
    }
}

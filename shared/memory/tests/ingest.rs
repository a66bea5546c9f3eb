//! The ingest use-case over the in-memory store: a batch is checked whole before anything is
//! written, applied in order, and applied again after a failure part-way creates nothing twice.

use ps_core::ingest::{self, Item, Op};
use ps_core::ports::{EntityRead, Once};
use ps_core::{Comment, Post, ServiceError};
use ps_memory::MemoryEntities;
use serde_json::{Value, json};

fn store() -> MemoryEntities {
    let s = MemoryEntities::new();
    let post = |id: u64| Post {
        id,
        user_id: 1,
        title: format!("post {id}"),
        body: "b".into(),
    };
    let comment = |id: u64, post_id: u64| Comment {
        id,
        post_id,
        name: format!("c{id}"),
        email: "a@b.co".into(),
        body: "b".into(),
    };
    s.import(&[post(1), post(2)], &[comment(1, 1), comment(2, 2)]);
    s
}

fn once(client: &'static str) -> impl Fn(usize, &Item) -> Once + Sync {
    move |index, item| Once {
        key: format!("{client}:batch:{index}"),
        request_digest: item.data.to_string(),
    }
}

fn invalid_fields(result: Result<impl std::fmt::Debug, ServiceError>) -> Vec<String> {
    match result {
        Err(ServiceError::Invalid(errors)) => errors.fields().map(str::to_owned).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[tokio::test]
async fn a_post_and_its_comments_are_created_in_order_by_reference() {
    let s = store();
    let batch = ingest::parse(&json!({"items": [
        {"op": "upsert", "entity": "post", "ref": "p", "data": {"title": "new", "body": "b"}},
        {"op": "upsert", "entity": "comment", "data": {"postRef": "p", "name": "n", "email": "a@b.co", "body": "b"}},
        {"op": "upsert", "entity": "post", "id": 2, "data": {"title": "replaced", "body": "b"}},
        {"op": "delete", "entity": "comment", "id": 1},
    ]}))
    .unwrap();
    ingest::check_targets(&batch, &s, &s).await.unwrap();
    let results = ingest::apply(&batch, &s, &once("acme")).await.unwrap();
    let done: Vec<(Op, u64, &str)> = results.iter().map(|r| (r.op, r.id, r.outcome)).collect();
    assert_eq!(
        done,
        vec![
            (Op::Create, 3, "created"),
            (Op::Create, 3, "created"),
            (Op::Replace, 2, "replaced"),
            (Op::Delete, 1, "deleted"),
        ]
    );
    let comment: Option<_> = EntityRead::<Comment>::get(&s, 3).await.unwrap();
    assert_eq!(
        comment.unwrap().value.post_id,
        3,
        "under the post made first"
    );

    // The same batch again (a retry after a lost answer): nothing new, nothing twice.
    let again = ingest::apply(&batch, &s, &once("acme")).await.unwrap();
    let ids: Vec<u64> = again.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 3, 2, 1]);
    assert_eq!(again[2].outcome, "unchanged");
    assert_eq!(again[3].outcome, "gone");
    assert_eq!(EntityRead::<Post>::count(&s, None).await.unwrap(), 3);
    assert_eq!(EntityRead::<Comment>::count(&s, None).await.unwrap(), 2);
}

#[tokio::test]
async fn one_bad_item_refuses_the_batch_with_its_index() {
    let fields = invalid_fields(ingest::parse(&json!({"items": [
        {"op": "upsert", "entity": "post", "data": {"title": "fine", "body": "b"}},
        {"op": "upsert", "entity": "post", "data": {"title": " ", "body": "b"}},
        {"op": "delete", "entity": "post"},
        {"op": "upsert", "entity": "user", "data": {}},
        {"op": "upsert", "entity": "comment", "data": {"postRef": "nothing", "name": "n", "email": "a@b.co", "body": "b"}},
        {"op": "upsert", "entity": "post", "id": 4, "data": {"id": 5, "title": "t", "body": "b"}},
        {"op": "upsert", "entity": "comment", "ref": "c", "data": {"postId": 1, "name": "n", "email": "a@b.co", "body": "b"}},
    ]})));
    assert_eq!(
        fields,
        vec![
            "items[1].data.title",
            "items[2].id",
            "items[3].entity",
            "items[4].data.postRef",
            "items[5].data.id",
            "items[6].ref",
        ]
    );
}

#[tokio::test]
async fn the_form_of_the_batch_is_checked_first() {
    for body in [
        json!([]),
        json!({"items": []}),
        json!({"items": {}}),
        json!({"items": [{}], "more": 1}),
        Value::Array((0..101).map(|_| json!({})).collect()),
        json!({"items": (0..101).map(|_| json!({"op": "delete", "entity": "post", "id": 1})).collect::<Vec<_>>()}),
    ] {
        assert!(
            matches!(ingest::parse(&body), Err(ServiceError::BadRequest(_))),
            "{body}"
        );
    }
    let hundred = json!({"items": (0..100).map(|_| json!({"op": "delete", "entity": "post", "id": 1})).collect::<Vec<_>>()});
    assert_eq!(ingest::parse(&hundred).unwrap().items.len(), 100);
}

#[tokio::test]
async fn what_an_item_names_must_exist_when_its_turn_comes() {
    let s = store();
    let check = |body: Value| {
        let s = &s;
        async move {
            let batch = ingest::parse(&body).unwrap();
            ingest::check_targets(&batch, s, s).await
        }
    };
    let comment_on = |post: u64| json!({"op": "upsert", "entity": "comment", "data": {"postId": post, "name": "n", "email": "a@b.co", "body": "b"}});
    assert_eq!(
        invalid_fields(check(json!({"items": [comment_on(9)]})).await),
        vec!["items[0].data.postId"]
    );
    // The post goes first, so its comment has none; and the post's comment goes with it.
    assert_eq!(
        invalid_fields(
            check(json!({"items": [
                {"op": "delete", "entity": "post", "id": 1},
                comment_on(1),
                {"op": "delete", "entity": "comment", "id": 1},
                {"op": "upsert", "entity": "post", "id": 1, "data": {"title": "t", "body": "b"}},
                {"op": "delete", "entity": "comment", "id": 2},
                {"op": "delete", "entity": "comment", "id": 2},
            ]}))
            .await
        ),
        vec![
            "items[1].data.postId",
            "items[2].id",
            "items[3].id",
            "items[5].id"
        ]
    );
    check(json!({"items": [comment_on(2), {"op": "delete", "entity": "post", "id": 2}]}))
        .await
        .unwrap();
    // Nothing was written by any check.
    assert_eq!(EntityRead::<Post>::count(&s, None).await.unwrap(), 2);
    assert_eq!(EntityRead::<Comment>::count(&s, None).await.unwrap(), 2);
}

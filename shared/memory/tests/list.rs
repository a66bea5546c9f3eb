//! The API's list use-case over the in-memory store: whatever plan a query takes (an index
//! window with a counted total, records by id, or a partition read), the answer is the
//! query evaluated over every record; and what the index cannot answer is refused past the
//! read cap.

use proptest::prelude::*;
use ps_core::query::{ListQuery, READ_CAP};
use ps_core::service;
use ps_core::{Comment, Post, ServiceError};
use ps_memory::MemoryEntities;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn posts(spec: &[(u64, u64, String)]) -> Vec<Post> {
    spec.iter()
        .map(|(id, user, title)| Post {
            user_id: *user,
            id: *id,
            title: title.clone(),
            body: format!("b{id}"),
        })
        .collect()
}

fn arb_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let one = prop_oneof![
        (1u64..4).prop_map(|u| ("userId".to_string(), u.to_string())),
        (1u64..60).prop_map(|i| ("id".to_string(), i.to_string())),
        (1u64..60).prop_map(|i| ("id_lte".to_string(), i.to_string())),
        "[ab]{0,2}".prop_map(|t| ("title_like".to_string(), t)),
        "[ab]{0,2}".prop_map(|t| ("q".to_string(), t)),
        Just(("_sort".to_string(), "title".to_string())),
        Just(("_sort".to_string(), "id".to_string())),
        Just(("_order".to_string(), "desc".to_string())),
        (0u64..50).prop_map(|s| ("_start".to_string(), s.to_string())),
        (0u64..50).prop_map(|e| ("_end".to_string(), e.to_string())),
        (1u64..20).prop_map(|l| ("_limit".to_string(), l.to_string())),
        (1u64..6).prop_map(|p| ("_page".to_string(), p.to_string())),
    ];
    proptest::collection::vec(one, 0..5)
}

proptest! {
    #[test]
    fn every_plan_answers_what_evaluating_every_record_answers(
        spec in proptest::collection::btree_map(1u64..60, (1u64..4, "[abAB ]{0,3}"), 0..40),
        params in arb_params(),
    ) {
        let spec: Vec<(u64, u64, String)> = spec.into_iter().map(|(id, (u, t))| (id, u, t)).collect();
        let all = posts(&spec);
        let store = MemoryEntities::new();
        store.import(&all, &[]);
        let Ok(query) = ListQuery::parse::<Post>(&params) else { return Ok(()) };
        let got = runtime().block_on(service::list::<Post, _>(&store, &query)).unwrap();
        prop_assert_eq!(got, query.evaluate(all));
    }
}

#[test]
fn what_the_index_cannot_answer_is_refused_past_the_cap_and_pages_still_work() {
    let all: Vec<Post> = (1..=READ_CAP + 1)
        .map(|id| Post {
            user_id: 1,
            id,
            title: format!("t{id}"),
            body: "b".into(),
        })
        .collect();
    let store = MemoryEntities::new();
    store.import(&all, &[]);
    let rt = runtime();
    let run = |pairs: &[(&str, &str)]| {
        let params: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rt.block_on(service::list::<Post, _>(
            &store,
            &ListQuery::parse::<Post>(&params).unwrap(),
        ))
    };
    let page = run(&[("_page", "3"), ("_limit", "2")]).unwrap();
    assert_eq!(
        (
            page.items.iter().map(|p| p.id).collect::<Vec<_>>(),
            page.total
        ),
        (vec![5, 6], READ_CAP + 1)
    );
    for refused in [
        &[("q", "t1")][..],
        &[("_sort", "title"), ("_limit", "1")],
        &[],
        &[("_start", "4999"), ("_limit", "2")],
    ] {
        assert!(
            matches!(run(refused), Err(ServiceError::BadRequest(_))),
            "{refused:?}"
        );
    }
    assert_eq!(
        run(&[("id", "7"), ("id", "9")]).unwrap().total,
        2,
        "ids are read by key"
    );
}

#[test]
fn embedded_and_expanded_relations_are_those_of_each_record() {
    let store = MemoryEntities::new();
    let p = posts(&[(1, 1, "a".into()), (2, 1, "b".into())]);
    let c: Vec<Comment> = [(1, 1), (2, 2), (3, 1)]
        .iter()
        .map(|(id, post)| Comment {
            post_id: *post,
            id: *id,
            name: "n".into(),
            email: "e@x.io".into(),
            body: "b".into(),
        })
        .collect();
    store.import(&p, &c);
    let rt = runtime();
    let embedded = rt.block_on(service::embed_comments(&store, &p)).unwrap();
    let ids = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&embedded[0]["comments"]), [1, 3]);
    assert_eq!(ids(&embedded[1]["comments"]), [2]);
    let expanded = rt.block_on(service::expand_posts(&store, &c)).unwrap();
    assert_eq!(expanded[1]["post"]["id"], 2);
}

#[test]
fn embedding_more_comments_than_the_cap_is_refused() {
    let rt = runtime();
    let p = posts(&[(1, 1, "a".into()), (2, 1, "b".into())]);
    let comments = |per_post: u64| -> Vec<Comment> {
        (0..2 * per_post)
            .map(|i| Comment {
                post_id: 1 + i % 2,
                id: i + 1,
                name: "n".into(),
                email: "e@x.io".into(),
                body: "b".into(),
            })
            .collect()
    };
    let within = MemoryEntities::new();
    within.import(&p, &comments(READ_CAP / 2));
    assert!(rt.block_on(service::embed_comments(&within, &p)).is_ok());
    let over = MemoryEntities::new();
    over.import(&p, &comments(READ_CAP / 2 + 1));
    assert!(matches!(
        rt.block_on(service::embed_comments(&over, &p)),
        Err(ServiceError::BadRequest(_))
    ));
}

use proptest::prelude::*;

use super::*;
use crate::model::{Comment, Post};

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn post(id: u64, user_id: u64, title: &str) -> Post {
    Post {
        user_id,
        id,
        title: title.into(),
        body: format!("body of {id}"),
    }
}

fn posts() -> Vec<Post> {
    vec![
        post(1, 1, "sunt aut facere"),
        post(2, 1, "qui est esse"),
        post(3, 2, "ea molestias"),
        post(4, 2, "Eum et est"),
        post(5, 3, "nesciunt quas"),
    ]
}

fn ids(page: &Page<Post>) -> Vec<u64> {
    page.items.iter().map(|p| p.id).collect()
}

fn run(pairs: &[(&str, &str)]) -> Page<Post> {
    ListQuery::parse::<Post>(&params(pairs))
        .unwrap()
        .evaluate(posts())
}

#[test]
fn repeated_filters_are_or_and_repeated_ne_is_and() {
    assert_eq!(ids(&run(&[("id", "1"), ("id", "3"), ("id", "9")])), [1, 3]);
    assert_eq!(ids(&run(&[("id_ne", "1"), ("id_ne", "3")])), [2, 4, 5]);
    assert_eq!(ids(&run(&[("userId", "2"), ("id_gte", "4")])), [4]);
    assert_eq!(ids(&run(&[("id_gte", "2"), ("id_lte", "3")])), [2, 3]);
}

#[test]
fn like_is_a_case_insensitive_regex_and_q_searches_every_field() {
    assert_eq!(ids(&run(&[("title_like", "^e")])), [3, 4]);
    assert_eq!(ids(&run(&[("title_like", "EST")])), [2, 3, 4]);
    assert_eq!(ids(&run(&[("q", "ESSE")])), [2]);
    assert_eq!(ids(&run(&[("q", "body of 5")])), [5]);
    assert_eq!(ids(&run(&[("q", "")])).len(), 5);
}

#[test]
fn sorts_by_several_fields_with_orders_in_any_case() {
    assert_eq!(
        ids(&run(&[("_sort", "userId,title"), ("_order", "DESC,asc")])),
        // Upper case sorts before lower case, as in JavaScript.
        [5, 4, 3, 2, 1]
    );
    assert_eq!(ids(&run(&[("_sort", "title")])), [4, 3, 5, 2, 1]);
    assert_eq!(ids(&run(&[("_order", "desc")])), [5, 4, 3, 2, 1]);
}

#[test]
fn slices_ranges_and_pages() {
    let page = run(&[("_start", "1"), ("_end", "3")]);
    assert_eq!(
        (ids(&page), page.total, page.pagination),
        (vec![2, 3], 5, None)
    );
    assert_eq!(ids(&run(&[("_start", "3"), ("_limit", "5")])), [4, 5]);
    assert_eq!(ids(&run(&[("_limit", "2")])), [1, 2]);
    assert_eq!(ids(&run(&[("_start", "4")])), [5]);
    let page = run(&[("_page", "2"), ("_limit", "2")]);
    assert_eq!(ids(&page), [3, 4]);
    assert_eq!(page.pagination, Some(Pagination { page: 2, limit: 2 }));
    let q = ListQuery::parse::<Post>(&params(&[("_page", "2")])).unwrap();
    assert_eq!(q.slice, Slice::Page(Pagination { page: 2, limit: 10 }));
}

#[test]
fn bad_parameters_are_rejected_with_what_is_supported() {
    for bad in [
        vec![("userId", "x")],
        vec![("_page", "0")],
        vec![("_limit", "-3")],
        vec![("userid", "1")],
        vec![("title_contains", "a")],
        vec![("_sort", "title"), ("_sort", "id")],
        vec![("_sort", "nope")],
        vec![("_order", "up")],
        vec![("_sort", "id"), ("_order", "asc,desc")],
        vec![("_page", "1"), ("_start", "0")],
        vec![("title_like", "(")],
        vec![("_embed", "users")],
        vec![("_expand", "post")],
        vec![("callback", "f")],
    ] {
        match ListQuery::parse::<Post>(&params(&bad)) {
            Err(ServiceError::BadRequest(m)) => assert!(!m.is_empty()),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    let Err(ServiceError::BadRequest(m)) = ListQuery::parse::<Post>(&params(&[("usrId", "1")]))
    else {
        panic!()
    };
    assert!(
        m.contains("userId") && m.contains("_like") && m.contains("_embed=comments"),
        "{m}"
    );
    assert!(
        ListQuery::parse::<Comment>(&params(&[("_expand", "post")]))
            .unwrap()
            .include_related
    );
}

#[test]
fn a_pattern_too_large_is_refused_and_a_nasty_one_is_linear() {
    let long = "a".repeat(LIKE_PATTERN_MAX + 1);
    assert!(ListQuery::parse::<Post>(&params(&[("title_like", &long)])).is_err());
    // Catastrophic for a backtracking engine; linear here.
    let q = ListQuery::parse::<Post>(&params(&[("title_like", "^(a+)+$")])).unwrap();
    let hostile = post(1, 1, &format!("{}!", "a".repeat(10_000)));
    assert_eq!(q.evaluate(vec![hostile]).total, 0);
    // Counted repetition that would compile to a huge automaton.
    assert!(ListQuery::parse::<Post>(&params(&[("title_like", "\\w{1000}{1000}")])).is_err());
}

#[test]
fn plans_use_the_index_only_when_it_answers_alone() {
    let plan = |p: &[(&str, &str)]| ListQuery::parse::<Post>(&params(p)).unwrap().plan::<Post>();
    assert_eq!(
        plan(&[("_page", "3"), ("_limit", "10")]),
        Plan::Window {
            scope: None,
            descending: false,
            offset: 20,
            limit: Some(10)
        }
    );
    assert_eq!(
        plan(&[
            ("userId", "7"),
            ("_sort", "id"),
            ("_order", "desc"),
            ("_start", "5"),
            ("_end", "9")
        ]),
        Plan::Window {
            scope: Some(7),
            descending: true,
            offset: 5,
            limit: Some(4)
        }
    );
    assert_eq!(
        plan(&[("id", "4"), ("id", "2"), ("id", "4")]),
        Plan::Ids(vec![2, 4])
    );
    assert_eq!(
        plan(&[("userId", "7"), ("_sort", "title")]),
        Plan::Partition { scope: Some(7) }
    );
    assert_eq!(
        plan(&[("userId", "7"), ("userId", "8")]),
        Plan::Partition { scope: None }
    );
    assert_eq!(plan(&[("q", "x")]), Plan::Partition { scope: None });
}

#[test]
fn single_reads_take_only_the_relation() {
    assert!(parse_read::<Post>(&params(&[("_embed", "comments")])).unwrap());
    assert!(!parse_read::<Post>(&[]).unwrap());
    assert!(parse_read::<Post>(&params(&[("_limit", "1")])).is_err());
    assert!(parse_read::<Comment>(&params(&[("_expand", "user")])).is_err());
}

fn arb_posts() -> impl Strategy<Value = Vec<Post>> {
    proptest::collection::btree_set(1u64..60, 0..40).prop_flat_map(|ids| {
        let n = ids.len();
        (
            Just(ids),
            proptest::collection::vec((1u64..4, "[abAB ]{0,4}"), n),
        )
            .prop_map(|(ids, fields)| {
                ids.into_iter()
                    .zip(fields)
                    .map(|(id, (user, title))| post(id, user, &title))
                    .collect()
            })
    })
}

fn arb_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let filter = prop_oneof![
        (1u64..4).prop_map(|u| ("userId".to_string(), u.to_string())),
        (1u64..60).prop_map(|i| ("id".to_string(), i.to_string())),
        (1u64..60).prop_map(|i| ("id_gte".to_string(), i.to_string())),
        (1u64..60).prop_map(|i| ("id_ne".to_string(), i.to_string())),
        "[ab]{0,2}".prop_map(|t| ("title_like".to_string(), t)),
        "[ab]{0,2}".prop_map(|t| ("q".to_string(), t)),
        Just(("_sort".to_string(), "title,id".to_string())),
        Just(("_sort".to_string(), "id".to_string())),
        Just(("_order".to_string(), "desc".to_string())),
        (0u64..50).prop_map(|s| ("_start".to_string(), s.to_string())),
        (0u64..50).prop_map(|e| ("_end".to_string(), e.to_string())),
        (1u64..20).prop_map(|l| ("_limit".to_string(), l.to_string())),
        (1u64..6).prop_map(|p| ("_page".to_string(), p.to_string())),
    ];
    proptest::collection::vec(filter, 0..5)
}

/// What the store's window read returns: the scope's records in id order, skipped and cut.
fn window_read(
    all: &[Post],
    scope: Option<u64>,
    descending: bool,
    offset: u64,
    limit: Option<u64>,
) -> Vec<Post> {
    let mut part: Vec<Post> = all
        .iter()
        .filter(|p| scope.is_none_or(|s| p.user_id == s))
        .cloned()
        .collect();
    part.sort_by_key(|p| p.id);
    if descending {
        part.reverse();
    }
    part.into_iter()
        .skip(offset as usize)
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .collect()
}

proptest! {
    /// Whatever the plan reads, the answer is the in-memory answer over everything.
    #[test]
    fn every_plan_answers_what_evaluating_everything_answers(all in arb_posts(), p in arb_params()) {
        let Ok(query) = ListQuery::parse::<Post>(&p) else { return Ok(()) };
        let expected = query.evaluate(all.clone());
        let got = match query.plan::<Post>() {
            Plan::Window { scope, descending, offset, limit } => Page {
                items: window_read(&all, scope, descending, offset, limit),
                total: all.iter().filter(|p| scope.is_none_or(|s| p.user_id == s)).count() as u64,
                pagination: query.slice.pagination(),
            },
            Plan::Ids(ids) => query.evaluate(all.iter().filter(|p| ids.contains(&p.id)).cloned().collect()),
            Plan::Partition { scope } => query.evaluate(
                all.iter().filter(|p| scope.is_none_or(|s| p.user_id == s)).cloned().collect()),
        };
        prop_assert_eq!(got, expected);
    }

    /// Walking every page gives back the whole list, in order, exactly once.
    #[test]
    fn pages_partition_the_list(all in arb_posts(), limit in 1u64..15) {
        let whole = ListQuery::parse::<Post>(&[]).unwrap().evaluate(all.clone());
        let pages = whole.total.div_ceil(limit).max(1);
        let mut walked = Vec::new();
        for page in 1..=pages + 1 {
            let q = ListQuery::parse::<Post>(&params(&[("_page", &page.to_string()), ("_limit", &limit.to_string())])).unwrap();
            let p = q.evaluate(all.clone());
            prop_assert_eq!(p.total, whole.total);
            prop_assert!(p.items.len() as u64 <= limit);
            if page > pages { prop_assert!(p.items.is_empty()); }
            walked.extend(p.items);
        }
        prop_assert_eq!(walked, whole.items);
    }

    /// Sorting never loses or invents a record, and the order asked for holds.
    #[test]
    fn sorting_is_a_permutation_in_the_order_asked(all in arb_posts(), desc in any::<bool>()) {
        let order = if desc { "desc" } else { "asc" };
        let q = ListQuery::parse::<Post>(&params(&[("_sort", "title"), ("_order", order)])).unwrap();
        let got = q.evaluate(all.clone()).items;
        prop_assert_eq!(got.len(), all.len());
        for pair in got.windows(2) {
            let ok = if desc { pair[0].title >= pair[1].title } else { pair[0].title <= pair[1].title };
            prop_assert!(ok);
            if pair[0].title == pair[1].title { prop_assert!(pair[0].id < pair[1].id, "stable from id order"); }
        }
    }
}

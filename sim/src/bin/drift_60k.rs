//! `drift-60k db <path>` writes a json-server db of 10,000 posts and 50,000 comments with a
//! planted set of drifts; `drift-60k run <url>` reconciles the copy those came from (its sync
//! states in memory) against that remote over HTTP and prints, as JSON, the calls it made,
//! the pages needed, how long it took, its peak heap (above a baseline taken once the states
//! are in place: what the store holds is not the run's) and whether it found exactly the
//! planted drifts.

use std::time::Instant;

use peak_alloc::PeakAlloc;
use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey, EntityKind};
use ps_core::merge::SyncState;
use ps_core::{Comment, Post};
use ps_memory::MemoryStates;
use ps_reconcile::{DriftCounts, Options, ReconcileConfig, Reconciler};
use serde_json::json;

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

const POSTS: u64 = 10_000;
const COMMENTS_PER_POST: u64 = 5;
const PAGE: usize = 1000;

fn post(id: u64) -> Post {
    Post {
        user_id: id % 10 + 1,
        id,
        title: format!("post {id}: sunt aut facere repellat provident"),
        body: "quia et suscipit suscipit recusandae consequuntur expedita et cum ".repeat(2),
    }
}

fn comment(id: u64) -> Comment {
    Comment {
        post_id: id.div_ceil(COMMENTS_PER_POST),
        id,
        name: format!("comment {id}: id labore ex et quam laborum"),
        email: format!("reader{}@example.com", id % 97),
        body: "laudantium enim quasi est quidem magnam voluptate ipsam eos ".repeat(2),
    }
}

/// The drifts planted on the remote, and what the reconcile must find.
const EDITED_POSTS: std::ops::RangeInclusive<u64> = 10..=19;
const EDITED_COMMENTS: std::ops::RangeInclusive<u64> = 100..=109;
/// Deleted on the remote, with its five comments (json-server's cascade).
const DELETED_POST: u64 = 5000;
const DELETED_COMMENTS: [u64; 2] = [30_000, 30_001];
/// Copied on the remote (duplicates).
const COPIED_POSTS: std::ops::RangeInclusive<u64> = 1..=5;
/// Pending locally (edited on the remote too: not judged).
const PENDING_POSTS: std::ops::RangeInclusive<u64> = 20..=24;

fn expected() -> DriftCounts {
    let comments = POSTS * COMMENTS_PER_POST;
    let differs = (EDITED_POSTS.count() + EDITED_COMMENTS.count()) as u64;
    let missing = 1 + COMMENTS_PER_POST + DELETED_COMMENTS.len() as u64;
    let pending = PENDING_POSTS.count() as u64;
    DriftCounts {
        in_line: POSTS + comments - differs - missing - pending,
        differs,
        missing,
        duplicates: COPIED_POSTS.count() as u64,
        foreign: 5,
        pending,
    }
}

fn write_db(path: &str) {
    let mut posts: Vec<serde_json::Value> = Vec::new();
    for id in 1..=POSTS {
        if id == DELETED_POST {
            continue;
        }
        let mut p = post(id);
        if EDITED_POSTS.contains(&id) || PENDING_POSTS.contains(&id) {
            p.title = format!("{} (edited by hand)", p.title);
        }
        posts.push(serde_json::to_value(p).expect("json"));
    }
    let mut next = POSTS;
    for id in COPIED_POSTS {
        next += 1;
        posts.push(
            serde_json::to_value(Post {
                id: next,
                ..post(id)
            })
            .expect("json"),
        );
    }
    for _ in 0..3 {
        next += 1;
        posts.push(json!({"userId": 77, "id": next, "title": "foreign", "body": "not ours"}));
    }
    let mut comments: Vec<serde_json::Value> = Vec::new();
    for id in 1..=POSTS * COMMENTS_PER_POST {
        let c = comment(id);
        if c.post_id == DELETED_POST || DELETED_COMMENTS.contains(&id) {
            continue;
        }
        let mut c = c;
        if EDITED_COMMENTS.contains(&id) {
            c.body = format!("{} (edited by hand)", c.body);
        }
        comments.push(serde_json::to_value(c).expect("json"));
    }
    let mut next = POSTS * COMMENTS_PER_POST;
    for post_id in [1, 2] {
        next += 1;
        comments.push(json!({"postId": post_id, "id": next, "name": "foreign", "email": "x@y.z", "body": "not ours"}));
    }
    let db = json!({"posts": posts, "comments": comments});
    std::fs::write(path, serde_json::to_vec(&db).expect("json")).expect("db written");
}

fn states() -> MemoryStates {
    let states = MemoryStates::new();
    for id in 1..=POSTS {
        let data = EntityData::Post(post(id));
        let mut state = SyncState::imported(data.clone());
        if PENDING_POSTS.contains(&id) {
            state.pending = Some(ChangeEvent {
                key: EntityKey::post(id),
                change: ChangeKind::Modify,
                post_id: id,
                after: Some(data),
                version: 1,
                sequence: "7".parse().expect("digits"),
                event_id: format!("e{id}"),
            });
        }
        states.put(EntityKey::post(id), state);
    }
    for id in 1..=POSTS * COMMENTS_PER_POST {
        let data = EntityData::Comment(comment(id));
        states.put(EntityKey::comment(id), SyncState::imported(data));
    }
    states
}

async fn run(url: &str) {
    let states = states();
    // The master copy is read only by a repair, which this run does not make.
    let entities = ps_memory::MemoryEntities::new();
    let mut remote_config = ps_remote::RemoteConfig::new(url);
    // The sync's own limit on AWS at its highest tested: the reconcile's pages go under it.
    remote_config.rate_per_second = std::num::NonZeroU32::new(100).expect("non-zero");
    remote_config.timeout = std::time::Duration::from_secs(30);
    let remote = ps_remote::HttpRemote::new(remote_config).expect("remote client");
    let reconciler = Reconciler {
        states: &states,
        scan: &states,
        posts: &entities,
        comments: &entities,
        listing: &remote,
        remote: &remote,
        config: ReconcileConfig {
            page_size: PAGE,
            state_page: PAGE,
            budget: std::time::Duration::from_secs(600),
            lease: std::time::Duration::from_secs(700),
            ..ReconcileConfig::default()
        },
    };
    let baseline = PEAK.current_usage();
    PEAK.reset_peak_usage();
    let started = Instant::now();
    let report = reconciler
        .run(Options::default())
        .await
        .expect("a reconcile");
    let seconds = started.elapsed().as_secs_f64();
    let peak_mb = (PEAK.peak_usage().saturating_sub(baseline)) as f64 / 1_048_576.0;
    let posts_on_remote = POSTS - 1 + COPIED_POSTS.count() as u64 + 3;
    let comments_on_remote =
        POSTS * COMMENTS_PER_POST - COMMENTS_PER_POST - DELETED_COMMENTS.len() as u64 + 2;
    let pages_needed =
        posts_on_remote.div_ceil(PAGE as u64) + comments_on_remote.div_ceil(PAGE as u64);
    let listed = |list: Vec<(EntityKind, u64)>| {
        let mut list = list;
        list.sort_unstable();
        list
    };
    let mut differs_expected: Vec<(EntityKind, u64)> = EDITED_POSTS
        .map(|id| (EntityKind::Post, id))
        .chain(EDITED_COMMENTS.map(|id| (EntityKind::Comment, id)))
        .collect();
    differs_expected.sort_unstable();
    let mut missing_expected: Vec<(EntityKind, u64)> = vec![(EntityKind::Post, DELETED_POST)];
    missing_expected.extend(
        ((DELETED_POST - 1) * COMMENTS_PER_POST + 1..=DELETED_POST * COMMENTS_PER_POST)
            .chain(DELETED_COMMENTS)
            .map(|id| (EntityKind::Comment, id)),
    );
    missing_expected.sort_unstable();
    let duplicates: Vec<Option<u64>> = report
        .orphans
        .iter()
        .filter(|o| o.duplicate_of.is_some())
        .map(|o| o.duplicate_of)
        .collect();
    let exact = report.counts == expected()
        && listed(report.differs.iter().map(|d| (d.entity, d.id)).collect()) == differs_expected
        && listed(report.missing.iter().map(|d| (d.entity, d.id)).collect()) == missing_expected
        && duplicates == COPIED_POSTS.map(Some).collect::<Vec<_>>();
    if !exact {
        eprintln!("expected {:?}, found {report:#?}", expected());
    }
    println!(
        "{}",
        json!({
            "calls": report.pages_read,
            "pages_needed": pages_needed,
            "records": report.records_read,
            "states": report.states_read,
            "seconds": seconds,
            "peak_mb": peak_mb,
            "found_exact": exact,
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("db"), Some(path)) => write_db(path),
        (Some("run"), Some(url)) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(run(url)),
        _ => {
            eprintln!("usage: drift-60k db <path> | drift-60k run <remote url>");
            std::process::exit(2);
        }
    }
}

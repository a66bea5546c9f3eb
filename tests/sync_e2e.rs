//! Import, capture and sync end to end: moto server for DynamoDB, its stream and SQS, and
//! json-server loaded with the real dataset as the remote.

use placeholder_sync_tests::sync::{JsonServer, Pipeline, assert_remote_equals_local, remote_list};
use ps_core::change::EntityKey;
use ps_sync::CallCounts;
use serde_json::json;

#[tokio::test]
async fn every_local_change_reaches_the_remote_with_the_fewest_calls() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    // Someone else creates a post on the remote first, so the remote's next ids are not ours.
    let foreign: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/posts", remote.url))
        .json(&json!({"userId": 7, "title": "foreign", "body": "not ours"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(foreign["id"], 101);

    let post = p.api.create_post("ours").await; // local 101
    let kept = p.api.create_comment(post, "kept").await;
    let dropped = p.api.create_comment(post, "dropped").await;
    p.api
        .write(
            "PATCH",
            &format!("/posts/{post}"),
            json!({"body": "edited before sync"}),
        )
        .await;
    p.api
        .write(
            "PATCH",
            &format!("/comments/{kept}"),
            json!({"body": "edited"}),
        )
        .await;
    p.api.delete(&format!("/comments/{dropped}"), &[]).await;
    p.api
        .write(
            "PUT",
            "/posts/5",
            json!({"title": "five", "body": "replaced"}),
        )
        .await;
    p.api
        .write("PATCH", "/posts/5", json!({"title": "five, again"}))
        .await;
    p.api.delete("/posts/7", &[]).await; // and its 5 comments
    let ephemeral = p.api.create_post("here and gone").await;
    p.api.delete(&format!("/posts/{ephemeral}"), &[]).await;
    p.api
        .write(
            "PATCH",
            "/posts/9",
            json!({"title": p.api.get("/posts/9").await.json()["title"]}),
        )
        .await; // no change

    assert!(p.capture().await.batch_item_failures.is_empty());
    let report = p.sync().await;
    // post 101: create+update = 1 POST; comment kept: create+update = 1 POST; comment
    // dropped: create..delete = nothing; post 5: 2 updates = 1 PUT; post 7 and its 5
    // comments: 1 DELETE (json-server deletes them with it; one read checks it did); the
    // ephemeral post: nothing; the no-op PATCH: not even a change.
    assert_eq!(
        report.calls,
        CallCounts {
            post: 2,
            put: 1,
            patch: 0,
            delete: 1
        }
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.messages_received, report.messages_deleted);
    assert_eq!(p.counts().await.queued, 0);

    let state = p.state(EntityKey::post(post)).await;
    assert_eq!(state.remote_id, Some(102), "the remote assigned its own id");
    assert_remote_equals_local(&p, &[101]).await;
    let remote_comment = remote_list(&remote.url, "/comments?postId=102").await;
    assert_eq!(
        remote_comment.len(),
        1,
        "the comment went to the post's remote id"
    );

    // A later update goes to the remote id, never to a guessed one.
    p.api
        .write(
            "PATCH",
            &format!("/posts/{post}"),
            json!({"title": "ours, renamed"}),
        )
        .await;
    p.capture().await;
    assert_eq!(
        p.sync().await.calls,
        CallCounts {
            post: 0,
            put: 1,
            patch: 0,
            delete: 0
        }
    );
    let remote_post: serde_json::Value = reqwest::get(format!("{}/posts/102", remote.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(remote_post["title"], "ours, renamed");
    let untouched: serde_json::Value = reqwest::get(format!("{}/posts/101", remote.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(untouched["title"], "foreign");
    assert_remote_equals_local(&p, &[101]).await;

    // Nothing changed: nothing to do.
    p.capture().await;
    assert_eq!(p.sync().await.calls.total(), 0);
}

/// Ordered within its group: a post is created before its comments; deleted, it takes its
/// comments with it on json-server (one DELETE), or, told the remote does not, after them.
#[tokio::test]
async fn a_post_is_created_before_its_comments_and_deleted_after_them() {
    for cascade in [true, false] {
        post_and_comments_created_then_deleted(cascade).await;
    }
}

async fn post_and_comments_created_then_deleted(cascade: bool) {
    let remote = JsonServer::start().await;
    let mut p = Pipeline::new(&remote.url).await;
    p.deletes_cascade = cascade;
    p.import().await.unwrap();
    let post = p.api.create_post("parent").await;
    for i in 0..3 {
        p.api.create_comment(post, &format!("child {i}")).await;
    }
    p.capture().await;
    let report = p.sync().await;
    assert_eq!(
        report.calls,
        CallCounts {
            post: 4,
            put: 0,
            patch: 0,
            delete: 0
        }
    );
    assert_remote_equals_local(&p, &[]).await;

    p.api.delete(&format!("/posts/{post}"), &[]).await;
    p.capture().await;
    let report = p.sync().await;
    assert_eq!(
        report.calls,
        CallCounts {
            post: 0,
            put: 0,
            patch: 0,
            delete: if cascade { 1 } else { 4 }
        }
    );
    assert_eq!(report.gone_with_post, if cascade { 3 } else { 0 });
    assert!(report.failures.is_empty());
    assert_remote_equals_local(&p, &[]).await;
}

#[tokio::test]
async fn older_and_redelivered_changes_are_never_applied_over_newer_ones() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    p.api
        .write("PATCH", "/posts/3", json!({"title": "first"}))
        .await;
    let first_batch = p.stream_event().await;
    p.api
        .write("PATCH", "/posts/3", json!({"title": "second"}))
        .await;
    let second_batch = p.stream_event().await;
    // The newer change is enqueued and synced before the older one arrives.
    capture::handle(second_batch, &p.queue).await;
    assert_eq!(p.sync().await.calls.put, 1);
    // Arriving after the newer one, past the queue's deduplication window (so with an id of
    // its own): exactly what FIFO order alone would not protect against.
    let mut late_batch = first_batch;
    for record in &mut late_batch.records {
        record.event_id = format!("late-{}", record.event_id);
    }
    capture::handle(late_batch, &p.queue).await;
    let late = p.sync().await;
    assert_eq!((late.calls.total(), late.stale_messages), (0, 1));
    let remote_post: serde_json::Value = reqwest::get(format!("{}/posts/3", remote.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(remote_post["title"], "second");
}

/// More changes to one post's group than SQS hands out at once (10 per receive, and a FIFO
/// group yields no more while those are in flight) still cost one call per entity: each
/// batch merges into the entity's pending change before the flush.
#[tokio::test]
async fn changes_beyond_one_receive_still_merge_into_one_call_per_entity() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    for i in 0..25 {
        p.api
            .write("PATCH", "/posts/3", json!({"title": format!("edit {i}")}))
            .await;
        p.api
            .write(
                "PATCH",
                "/comments/11",
                json!({"body": format!("edit {i}")}),
            )
            .await;
    }
    p.capture().await;
    assert_eq!(p.counts().await.queued, 50);
    let report = p.sync().await;
    assert!(report.rounds > 1, "took several receives: {report:?}");
    assert_eq!(
        (report.calls.put, report.calls.total()),
        (2, 2),
        "{report:?}"
    );
    assert_eq!((report.entities_pending, report.entities_synced), (2, 2));
    assert_remote_equals_local(&p, &[]).await;
}

/// `GET /sync/status` reads no state it does not report: the pending ones are counted
/// through their sparse index, the failed, parked and waiting ones listed through theirs
/// (with the remote's answer and since when), and the rest are the list counters' total.
#[tokio::test]
async fn the_status_reads_its_figures_from_the_indexes_and_counters_not_a_scan() {
    use ps_core::change::ChangeEvent;
    use ps_core::merge::{SyncState, SyncStatus};
    let store = placeholder_sync_tests::fresh_store().await;
    let event = |id: u64| placeholder_sync_tests::sync::post_edit(id, &format!("e{id}"));
    let state = |status: SyncStatus, pending: Option<ChangeEvent>, error: Option<&str>| SyncState {
        status,
        pending,
        last_error: error.map(str::to_owned),
        ..SyncState::default()
    };
    let mut states = Vec::new();
    for id in 1..=40 {
        states.push((EntityKey::post(id), state(SyncStatus::Synced, None, None)));
    }
    for id in 41..=43 {
        states.push((
            EntityKey::post(id),
            state(SyncStatus::Pending, Some(event(id)), None),
        ));
    }
    states.push((
        EntityKey::post(44),
        state(
            SyncStatus::Failed,
            None,
            Some("parked in the dead-letter queue after 5 attempts: 404"),
        ),
    ));
    states.push((
        EntityKey::post(45),
        state(
            SyncStatus::Failed,
            Some(event(45)),
            Some("remote rejected the call: 422"),
        ),
    ));
    states.push((
        EntityKey::comment(46),
        state(
            SyncStatus::Waiting,
            Some(event(46)),
            Some("waiting for its post"),
        ),
    ));
    store.save_states(&states).await.unwrap();
    let s = store.state_summary().await.unwrap();
    assert_eq!(
        (s.pending, s.failed, s.parked, s.waiting, s.pending_more),
        (5, 2, 1, 1, false),
        "{s:?}"
    );
    let listed: Vec<(u64, bool)> = s.problems.iter().map(|p| (p.id, p.parked)).collect();
    assert_eq!(listed, vec![(44, true), (45, false), (46, false)]);
    assert!(s.problems.iter().all(|p| p.since > 1_700_000_000));
    assert!(s.problems[0].last_error.as_deref().unwrap().contains("404"));
    assert_eq!(
        s.local, 0,
        "no posts or comments were created through the store"
    );
}

/// What the console shows beside a post or comment, `GET /sync/entities/{entity}/{id}`:
/// behind the token (the remote's answers can echo data), `queued` before the sync took its
/// change in, `synced` under the remote's id after; and `GET /sync/status` says when a run
/// holds the lease, so the dashboard can follow a run it did not start.
#[tokio::test]
async fn one_entitys_sync_state_and_a_run_going_on_are_visible() {
    use ps_core::ports::SyncStateStore;
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    let id = p.api.create_post("seen from the console").await;
    let path = format!("/sync/entities/posts/{id}");
    assert_eq!(p.api.get(&path).await.status, 401, "not without a token");
    let auth = format!("Bearer {}", p.api.token());
    let get = |path: String| {
        let auth = auth.clone();
        let api = &p.api;
        async move {
            api.request("GET", &path, &[("authorization", auth.as_str())], None)
                .await
        }
    };
    let before = get(path.clone()).await;
    assert_eq!(before.status, 200);
    assert_eq!(before.json()["status"], "queued", "{}", before.json());
    assert_eq!(before.json()["remoteId"], serde_json::Value::Null);

    p.capture().await;
    p.sync().await;
    let after = get(path.clone()).await.json();
    assert_eq!(
        (
            &after["status"],
            &after["onRemote"],
            &after["pending"],
            &after["parked"]
        ),
        (&json!("synced"), &json!(true), &json!(false), &json!(false)),
        "{after}"
    );
    let remote_id = after["remoteId"].as_u64().unwrap();
    let on_remote = reqwest::get(format!("{}/posts/{remote_id}", remote.url))
        .await
        .unwrap();
    assert_eq!(on_remote.status(), 200, "the remote id is the remote's");

    for bad in [
        "/sync/entities/users/1",
        "/sync/entities/posts/0",
        "/sync/entities/posts/x",
    ] {
        assert_eq!(get(bad.to_owned()).await.status, 400, "{bad}");
    }

    let status = p.api.get("/sync/status").await.json();
    assert_eq!(status["running"], false, "{status}");
    let store = &p.api.store;
    let lease = store
        .try_lease("another-run", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert!(lease.is_some());
    let status = p.api.get("/sync/status").await.json();
    assert_eq!(status["running"], true, "{status}");
    assert!(status["runningUntil"].as_u64().unwrap() > 1_700_000_000);
    store.release_lease("another-run").await.unwrap();
    assert_eq!(p.api.get("/sync/status").await.json()["running"], false);
}

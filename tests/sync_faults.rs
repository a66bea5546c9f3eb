//! The sync under faults: a wiremock remote for 5xx, timeouts, 429 and 4xx, json-server for
//! a run that dies between a remote call and its bookkeeping. Queues and state are moto's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use placeholder_sync_tests::sync::{JsonServer, MAX_ATTEMPTS, Pipeline, remote_list, sync_config};
use ps_core::change::{ChangeEvent, EntityData, EntityKey};
use ps_core::merge::{SyncState, SyncStatus};
use ps_core::ports::{PortError, SyncStateStore};
use ps_memory::SaveHook;
use ps_sync::{SyncConfig, SyncError};
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn created(id: u64) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"id": id}))
}

async fn requests(server: &MockServer, verb: &str, route: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == route)
        .count()
}

/// A post created and synced, then edited to "edited" and captured: its update pending.
async fn synced_then_edited(p: &Pipeline) -> u64 {
    let post = p.api.create_post("p").await;
    p.capture().await;
    p.sync().await;
    p.api
        .write(
            "PATCH",
            &format!("/posts/{post}"),
            json!({"title": "edited"}),
        )
        .await;
    p.capture().await;
    post
}

/// A 503 says the create was not done, so it is retried; a create processed but answered
/// too late may have been done, so it is never repeated blindly: the next run finds it on
/// the remote and adopts it.
#[tokio::test]
async fn a_create_answered_too_late_is_found_not_sent_twice() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(900).set_delay(Duration::from_secs(5)))
        .with_priority(2)
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = p.api.create_post("p").await;
    // What the remote holds after the slow create: found by the look-up.
    Mock::given(method("GET"))
        .and(path("/posts"))
        .and(query_param("title", "p"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"userId": ps_core::NEW_POST_USER_ID, "id": 900, "title": "p", "body": "body"}
        ])))
        .mount(&remote)
        .await;
    p.capture().await;
    let report = p.sync().await;
    assert_eq!(
        requests(&remote, "POST", "/posts").await,
        2,
        "a 503 (retried), then the create answered too late (not repeated)"
    );
    assert_eq!(report.creates_unresolved, 1);
    let state = p.state(EntityKey::post(post)).await;
    assert!(state.creating && state.remote_id.is_none() && state.pending.is_some());

    let report = p.sync().await;
    assert_eq!((report.creates_recovered, report.calls.post), (1, 0));
    assert_eq!(
        requests(&remote, "POST", "/posts").await,
        2,
        "never sent a third time"
    );
    let state = p.state(EntityKey::post(post)).await;
    assert_eq!(
        (state.remote_id, state.status),
        (Some(900), SyncStatus::Synced)
    );
    assert_eq!(p.counts().await.queued + p.counts().await.in_flight, 0);
}

/// Two identical comments on one post: the second's create fails without an answer, and
/// the look-up finds only the first one's remote copy. It must not be adopted (deleting one
/// comment would then delete the other's remote copy); the second is created for itself.
#[tokio::test]
async fn a_lost_create_never_adopts_another_entitys_remote_copy() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(5))
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/comments"))
        .respond_with(created(77))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/comments"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/comments"))
        .respond_with(created(78))
        .with_priority(3)
        .mount(&remote)
        .await;
    Mock::given(method("GET"))
        .and(path("/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"postId": 5, "id": 77, "name": "same", "email": "a@example.com", "body": "b"}
        ])))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = p.api.create_post("p").await;
    let first = p.api.create_comment(post, "same").await;
    let second = p.api.create_comment(post, "same").await;
    p.capture().await;
    p.sync().await;
    assert_eq!(p.state(EntityKey::comment(first)).await.remote_id, Some(77));
    assert_eq!(p.state(EntityKey::comment(second)).await.remote_id, None);

    p.sync().await;
    assert_eq!(
        p.state(EntityKey::comment(second)).await.remote_id,
        Some(78),
        "created for itself, not mapped to the first comment's remote copy"
    );
    assert_eq!(p.state(EntityKey::comment(first)).await.remote_id, Some(77));
    assert_eq!(requests(&remote, "POST", "/comments").await, 3);
}

/// A remote that is down answers 503 to everything: runs stop calling it, count no
/// attempt and park nothing, however long it lasts; when it is back, everything syncs.
#[tokio::test]
async fn an_outage_parks_nothing_and_everything_syncs_when_it_ends() {
    let remote = MockServer::start().await;
    let outage = Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount_as_scoped(&remote)
        .await;
    for id in [9, 10] {
        Mock::given(method("POST"))
            .and(path("/posts"))
            .respond_with(created(id))
            .up_to_n_times(1)
            .with_priority(2)
            .mount(&remote)
            .await;
    }
    let p = Pipeline::new(&remote.uri()).await;
    let posts = [p.api.create_post("a").await, p.api.create_post("b").await];
    p.capture().await;
    for _ in 0..2 * MAX_ATTEMPTS {
        let report = p.sync().await;
        assert_eq!(report.outcome, ps_sync::Outcome::RemoteUnavailable);
        assert_eq!(report.parked, 0);
        assert!(
            report.failures.iter().all(|f| !f.counted),
            "{:?}",
            report.failures
        );
    }
    for post in posts {
        let state = p.state(EntityKey::post(post)).await;
        assert_eq!((state.attempts, state.status), (0, SyncStatus::Pending));
        assert!(state.pending.is_some());
    }
    assert_eq!(p.counts().await.dead_lettered, 0);
    drop(outage);
    let report = p.sync().await;
    assert_eq!(report.outcome, ps_sync::Outcome::Completed);
    assert_eq!(report.entities_synced, 2);
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_long_one_is_not_waited_for() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(5))
        .with_priority(2)
        .mount(&remote)
        .await;
    Mock::given(method("PUT"))
        .and(path("/posts/5"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = p.api.create_post("p").await;
    p.capture().await;
    let started = Instant::now();
    let report = p.sync().await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as Retry-After said"
    );
    assert_eq!(
        (report.calls.post, requests(&remote, "POST", "/posts").await),
        (1, 2)
    );

    p.api
        .write(
            "PATCH",
            &format!("/posts/{post}"),
            json!({"title": "later"}),
        )
        .await;
    p.capture().await;
    let report = p.sync().await;
    assert_eq!(
        requests(&remote, "PUT", "/posts/5").await,
        1,
        "an hour's Retry-After is left to a later run"
    );
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.outcome, ps_sync::Outcome::RemoteUnavailable);
    let state = p.state(EntityKey::post(post)).await;
    assert_eq!(
        (state.status, state.attempts),
        (SyncStatus::Pending, 0),
        "being asked to wait is no failed attempt"
    );
}

/// `Retry-After` as an HTTP date, an hour ahead: not waited for within the run either.
#[tokio::test]
async fn a_retry_after_date_is_honoured() {
    let remote = MockServer::start().await;
    let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", later.as_str()))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    p.api.create_post("p").await;
    p.capture().await;
    let started = Instant::now();
    let report = p.sync().await;
    assert!(started.elapsed() < Duration::from_secs(5), "not waited for");
    assert_eq!(requests(&remote, "POST", "/posts").await, 1);
    assert_eq!(report.outcome, ps_sync::Outcome::RemoteUnavailable);
}

#[tokio::test]
async fn a_rejected_entity_fails_alone_with_its_error_recorded() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .and(body_partial_json(json!({"title": "bad"})))
        .respond_with(ResponseTemplate::new(422).set_body_string("title not allowed"))
        .with_priority(1)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(77))
        .with_priority(2)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/comments"))
        .respond_with(created(78))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let bad = p.api.create_post("bad").await;
    let good = p.api.create_post("good").await;
    let comment = p.api.create_comment(good, "c").await;
    p.capture().await;
    let report = p.sync().await;
    assert_eq!(report.failures.len(), 1);
    assert_eq!((report.failures[0].id, report.calls.post), (bad, 3));
    assert_eq!(
        requests(&remote, "POST", "/posts").await,
        2,
        "a 4xx is not retried"
    );
    let state = p.state(EntityKey::post(bad)).await;
    assert_eq!(state.status, SyncStatus::Failed);
    assert!(state.last_error.as_deref().unwrap().contains("422"));
    assert_eq!(
        p.state(EntityKey::post(good)).await.status,
        SyncStatus::Synced
    );
    assert_eq!(
        p.state(EntityKey::comment(comment)).await.remote_id,
        Some(78)
    );
    assert_eq!(
        (state.pending.is_some(), state.attempts),
        (true, 1),
        "the failed change stays pending for the next run"
    );
    let counts = p.counts().await;
    assert_eq!(
        counts.queued + counts.in_flight,
        0,
        "every message left the queue once journaled"
    );
}

#[tokio::test]
async fn a_comment_waits_while_its_post_is_not_on_the_remote() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = p.api.create_post("p").await;
    let comment = p.api.create_comment(post, "c").await;
    p.capture().await;
    let report = p.sync().await;
    assert_eq!(report.failures.len(), 2);
    let state = p.state(EntityKey::comment(comment)).await;
    assert_eq!(state.status, SyncStatus::Waiting);
    assert!(state.last_error.unwrap().contains(&format!("post {post}")));
    assert!(state.pending.is_some(), "the comment stays pending");
    assert!(p.state(EntityKey::post(post)).await.pending.is_some());
    assert_eq!(requests(&remote, "POST", "/comments").await, 0);
    let counts = p.counts().await;
    assert_eq!(
        counts.queued + counts.in_flight,
        0,
        "nothing waits in the queue"
    );
}

/// The remote as the real JSONPlaceholder behaves: every create answers id 101, nothing
/// persists, and a PUT to an id it does not hold answers 500 while everything else works.
/// A 500 is the remote's fault, not the change's: the change is never parked, and it backs
/// off (a minute, doubling, up to an hour) instead of being retried at every run.
#[tokio::test]
async fn a_remote_that_keeps_failing_one_change_backs_off_and_parks_nothing() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(101))
        .mount(&remote)
        .await;
    Mock::given(method("PUT"))
        .and(path("/posts/101"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = synced_then_edited(&p).await;
    let config = SyncConfig {
        backoff: Duration::from_secs(60),
        ..sync_config()
    };
    let report = p.sync_configured(config.clone()).await.unwrap();
    assert_eq!(report.failures.len(), 1);
    assert!(!report.failures[0].counted, "a 500 is no refusal");
    for _ in 0..2 * MAX_ATTEMPTS {
        let report = p.sync_configured(config.clone()).await.unwrap();
        assert_eq!(
            (report.calls.total(), report.entities_backing_off),
            (0, 1),
            "not tried again before its backoff ends"
        );
    }
    assert_eq!(
        requests(&remote, "PUT", "/posts/101").await,
        4,
        "one attempt: 1 + 3 retries"
    );
    let state = p.state(EntityKey::post(post)).await;
    assert_eq!(
        (state.status, state.attempts, state.failures),
        (SyncStatus::Failed, 0, 1)
    );
    assert!(state.pending.is_some(), "still pending, never parked");
    assert!(state.last_error.unwrap().contains("500"));
    assert_eq!(p.counts().await.dead_lettered, 0);
}

/// A change the remote refuses (a 4xx) is parked after its last attempt: the dead-letter
/// queue holds the change itself, ready to be redriven, and it is not tried again.
#[tokio::test]
async fn a_refused_change_is_parked_after_its_last_attempt() {
    let remote = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(101))
        .mount(&remote)
        .await;
    Mock::given(method("PUT"))
        .and(path("/posts/101"))
        .respond_with(ResponseTemplate::new(422).set_body_string("title not allowed"))
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = synced_then_edited(&p).await;
    for run in 1..=MAX_ATTEMPTS {
        let report = p.sync().await;
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.failures[0].id, post);
        assert_eq!(report.failures[0].attempts, run);
        assert_eq!(report.parked, u64::from(run == MAX_ATTEMPTS), "run {run}");
    }
    assert_eq!(
        requests(&remote, "PUT", "/posts/101").await,
        MAX_ATTEMPTS as usize,
        "a 4xx is not retried within a run"
    );
    let state = p.state(EntityKey::post(post)).await;
    assert_eq!(state.status, SyncStatus::Failed);
    assert!(state.pending.is_none());
    let error = state.last_error.unwrap();
    assert!(
        error.contains("422") && error.contains("dead-letter"),
        "{error}"
    );
    let counts = p.counts().await;
    assert_eq!(
        (counts.queued, counts.in_flight, counts.dead_lettered),
        (0, 0, 1)
    );
    let parked = p
        .queue
        .client()
        .receive_message()
        .queue_url(&p.queue.urls().dead_letters)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let parked: ChangeEvent = serde_json::from_str(parked[0].body().unwrap()).unwrap();
    assert_eq!(parked.key, EntityKey::post(post));
    assert!(
        matches!(&parked.after, Some(EntityData::Post(p)) if p.title == "edited"),
        "the DLQ holds the change itself, ready to be redriven: {parked:?}"
    );

    assert_eq!(
        p.sync().await.calls.total(),
        0,
        "a parked change is not retried"
    );
}

#[tokio::test]
async fn a_run_killed_between_call_and_bookkeeping_loses_and_repeats_nothing() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    let post = p.api.create_post("survives a crash").await;
    p.capture().await;
    // The run dies right after its first remote create, before recording it: the journal
    // (save 0, which also marks the create) lands, the outcome (1) does not.
    let saves = &AtomicUsize::new(0);
    let dying = SaveHook::new(&p.api.store, move || async move {
        match saves.fetch_add(1, Ordering::SeqCst) {
            1 => Err(PortError("the process died".into())),
            _ => Ok(()),
        }
    });
    assert!(matches!(p.sync_with(&dying).await, Err(SyncError::Port(_))));
    assert_eq!(
        remote_list(&remote.url, "/posts?title=survives%20a%20crash")
            .await
            .len(),
        1,
        "the create reached the remote"
    );
    assert_eq!(
        p.state(EntityKey::post(post)).await.remote_id,
        None,
        "but was not recorded"
    );

    let report = p.sync().await;
    assert_eq!((report.creates_recovered, report.calls.post), (1, 0));
    assert_eq!(
        remote_list(&remote.url, "/posts?title=survives%20a%20crash")
            .await
            .len(),
        1,
        "not created twice"
    );
    assert_eq!(p.state(EntityKey::post(post)).await.remote_id, Some(101));
    assert_eq!(p.counts().await.queued + p.counts().await.in_flight, 0);
}

#[tokio::test]
async fn only_one_sync_runs_at_a_time() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.api.create_post("p").await;
    p.capture().await;
    assert!(
        p.api
            .store
            .try_lease("another run", Duration::from_secs(60))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(p.sync_with(&p.api.store).await, Err(SyncError::LeaseHeld));
    assert_eq!(
        p.counts().await.queued,
        1,
        "left for the run that holds the lease"
    );
    p.api.store.release_lease("another run").await.unwrap();
    assert_eq!(p.sync().await.calls.post, 1);
}

/// The fences on DynamoDB itself: a state write based on a stale read, or from a run
/// whose lease was taken over since, is refused; the lease epoch grows with every take.
#[tokio::test]
async fn state_writes_are_fenced_by_revision_and_lease_epoch() {
    let store = placeholder_sync_tests::fresh_store().await;
    let key = EntityKey::post(1);
    let old = store
        .try_lease("a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let mut first = [(key, SyncState::default())];
    store.save(old, &mut first).await.unwrap();
    assert_eq!(first[0].1.revision, 1);

    let mut stale = [(key, SyncState::default())];
    assert!(
        store.save(old, &mut stale).await.is_err(),
        "a write based on revision 0 after revision 1 was written"
    );

    store.release_lease("a").await.unwrap();
    let new = store
        .try_lease("b", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(new.epoch > old.epoch);
    let mut current = [(key, store.load(&[key]).await.unwrap()[&key].clone())];
    store.save(new, &mut current).await.unwrap();
    let mut zombie = [(key, store.load(&[key]).await.unwrap()[&key].clone())];
    assert!(
        store.save(old, &mut zombie).await.is_err(),
        "a write under an older lease after a newer one wrote"
    );
    assert_eq!(store.load(&[key]).await.unwrap()[&key].revision, 2);
}

/// Two redrives at once move every parked change back exactly once between them: SQS hides
/// a message one of them received from the other. One entity's redrive leaves the rest
/// parked and visible at once; a redrive of nothing is a no-op.
#[tokio::test]
async fn two_redrives_at_once_move_each_parked_change_once() {
    use ps_core::ports::{ChangeSink, ChangeSource};
    let p = Pipeline::new("http://127.0.0.1:9").await;
    let parked: Vec<ChangeEvent> = (1..=25u64)
        .map(|id| placeholder_sync_tests::sync::post_edit(id, &format!("parked-{id}")))
        .collect();
    let failed = p.queue.dead_letters().send(&parked).await.unwrap();
    assert!(failed.is_empty());

    let one = p.queue.redrive(Some(EntityKey::post(7))).await.unwrap();
    assert_eq!((one.redriven, one.left), (1, 24));
    let (a, b) = tokio::join!(p.queue.redrive(None), p.queue.redrive(None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.redriven + b.redriven, 24, "{a:?} {b:?}");

    let mut back = Vec::new();
    for _ in 0..20 {
        let got = p.queue.receive(10).await.unwrap();
        if got.is_empty() && back.len() >= 25 {
            break;
        }
        p.queue
            .delete(&got.iter().map(|c| c.receipt.clone()).collect::<Vec<_>>())
            .await
            .unwrap();
        back.extend(got.into_iter().map(|c| c.event.event_id));
    }
    back.sort();
    let mut expected: Vec<String> = parked.iter().map(|e| e.event_id.clone()).collect();
    expected.sort();
    assert_eq!(
        back, expected,
        "each parked change back on the change queue once"
    );
    let counts = p.queue.counts().await.unwrap();
    assert_eq!(counts.dead_lettered, 0, "{counts:?}");
    let nothing = p.queue.redrive(None).await.unwrap();
    assert_eq!((nothing.redriven, nothing.left), (0, 0));
}

/// A remote at `remote` that creates post 7 and comments 20 and 21, deletes anything, and
/// answers what post 7 still holds with `left`: a post with two comments is created and
/// synced, then deleted (with its comments) and synced.
async fn post_deleted_on(remote: &MockServer, left: serde_json::Value) -> ps_sync::SyncReport {
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(7))
        .mount(remote)
        .await;
    for (priority, id) in [(1, 20), (2, 21)] {
        Mock::given(method("POST"))
            .and(path("/comments"))
            .respond_with(created(id))
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(remote)
            .await;
    }
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(remote)
        .await;
    Mock::given(method("GET"))
        .and(path("/comments"))
        .and(query_param("postId", "7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(left))
        .mount(remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = p.api.create_post("p").await;
    p.api.create_comment(post, "c1").await;
    p.api.create_comment(post, "c2").await;
    p.capture().await;
    p.sync().await;
    p.api
        .write("DELETE", &format!("/posts/{post}"), json!({}))
        .await;
    p.capture().await;
    p.sync().await
}

/// json-server deletes a post's comments with the post: the post gets one DELETE, one read
/// shows it left nothing behind, and the comments cost no call.
#[tokio::test]
async fn a_cascading_remote_gets_no_delete_for_a_deleted_posts_comments() {
    let remote = MockServer::start().await;
    let report = post_deleted_on(&remote, json!([])).await;
    assert_eq!(requests(&remote, "DELETE", "/posts/7").await, 1);
    assert_eq!(requests(&remote, "DELETE", "/comments/20").await, 0);
    assert_eq!(requests(&remote, "DELETE", "/comments/21").await, 0);
    assert_eq!(report.gone_with_post, 2, "{report:?}");
}

/// A remote configured as cascading (the default) that is not: the read after the post's
/// delete finds its comments still there, and each gets its DELETE, so the remote still
/// ends equal to the local copy.
#[tokio::test]
async fn a_remote_that_keeps_a_deleted_posts_comments_gets_their_deletes() {
    let remote = MockServer::start().await;
    let still_there = json!([{"id": 20, "postId": 7}, {"id": 21, "postId": 7}]);
    let report = post_deleted_on(&remote, still_there).await;
    assert_eq!(requests(&remote, "DELETE", "/posts/7").await, 1);
    assert_eq!(requests(&remote, "DELETE", "/comments/20").await, 1);
    assert_eq!(requests(&remote, "DELETE", "/comments/21").await, 1);
    assert!(report.cascade_refuted, "{report:?}");
    assert_eq!(report.gone_with_post, 0);
}

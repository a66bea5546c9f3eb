//! The sync under faults: a wiremock remote for 5xx, timeouts, 429 and 4xx, json-server for
//! a run that dies between a remote call and its bookkeeping. Queues and state are moto's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use placeholder_sync_tests::sync::{JsonServer, MAX_ATTEMPTS, Pipeline, remote_list};
use ps_core::change::{ChangeEvent, EntityData, EntityKey};
use ps_core::merge::{SyncState, SyncStatus};
use ps_core::ports::{PortError, SyncStateStore};
use ps_store::DynamoStore;
use ps_sync::SyncError;
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
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

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_until_they_succeed() {
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
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&remote)
        .await;
    Mock::given(method("POST"))
        .and(path("/posts"))
        .respond_with(created(901))
        .with_priority(3)
        .mount(&remote)
        .await;
    let p = Pipeline::new(&remote.uri()).await;
    let post = p.api.create_post("p").await;
    p.capture().await;
    let report = p.sync().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.calls.post, 1, "one call, however many attempts");
    assert_eq!(
        requests(&remote, "POST", "/posts").await,
        3,
        "a 503, a timeout, then success"
    );
    assert_eq!(p.state(EntityKey::post(post)).await.remote_id, Some(901));
    assert_eq!(p.counts().await.queued + p.counts().await.in_flight, 0);
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
    assert_eq!(
        p.state(EntityKey::post(post)).await.status,
        SyncStatus::Failed
    );
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
/// persists, and a PUT to an id it does not hold answers 500.
#[tokio::test]
async fn a_remote_that_fakes_writes_ends_in_failed_entities_and_dead_letters_not_a_retry_storm() {
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
    for run in 1..=MAX_ATTEMPTS {
        let report = p.sync().await;
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.failures[0].id, post);
        assert_eq!(report.failures[0].attempts, run);
        assert_eq!(report.parked, u64::from(run == MAX_ATTEMPTS), "run {run}");
    }
    let puts = requests(&remote, "PUT", "/posts/101").await;
    assert_eq!(
        puts,
        4 * MAX_ATTEMPTS as usize,
        "bounded: 1 + 3 retries per attempt, then parked"
    );
    let state = p.state(EntityKey::post(post)).await;
    assert_eq!(state.status, SyncStatus::Failed);
    assert!(state.pending.is_none());
    let error = state.last_error.unwrap();
    assert!(
        error.contains("500") && error.contains("dead-letter"),
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

/// The state store of a run that dies right after its first remote create, before
/// recording it: the first save (the create marker) lands, the second does not.
struct DiesAfterFirstCreate {
    inner: DynamoStore,
    saves: AtomicUsize,
}

#[async_trait]
impl SyncStateStore for DiesAfterFirstCreate {
    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        self.inner.load(keys).await
    }
    async fn save(&self, key: EntityKey, state: &SyncState) -> Result<(), PortError> {
        if self.saves.fetch_add(1, Ordering::SeqCst) == 1 {
            return Err(PortError("the process died".into()));
        }
        self.inner.save(key, state).await
    }
    async fn save_many(&self, states: &[(EntityKey, SyncState)]) -> Result<(), PortError> {
        self.inner.save_many(states).await
    }
    async fn pending(&self) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        self.inner.pending().await
    }
    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<bool, PortError> {
        self.inner.try_lease(owner, ttl).await
    }
    async fn release_lease(&self, owner: &str) -> Result<(), PortError> {
        self.inner.release_lease(owner).await
    }
}

#[tokio::test]
async fn a_run_killed_between_call_and_bookkeeping_loses_and_repeats_nothing() {
    let remote = JsonServer::start().await;
    let p = Pipeline::new(&remote.url).await;
    p.import().await.unwrap();
    let post = p.api.create_post("survives a crash").await;
    p.capture().await;
    let dying = DiesAfterFirstCreate {
        inner: p.api.store.clone(),
        saves: AtomicUsize::new(0),
    };
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

//! The engine over the in-memory ports: the windows for loss and duplication that are
//! easiest to pin down without an emulator (the moto and wiremock tests cover the rest).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey, EntityKind};
use ps_core::merge::{SyncState, SyncStatus};
use ps_core::model::Post;
use ps_core::ports::{ChangeSink, PortError, RemoteApi, RemoteError, SyncStateStore};
use ps_memory::{Fault, MemoryDeadLetters, MemoryQueue, MemoryRemote, MemoryStates, SaveHook};
use ps_sync::{Outcome, SyncConfig, SyncEngine, SyncError, SyncReport};
use tokio::sync::Semaphore;

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

fn post(id: u64, title: &str) -> EntityData {
    EntityData::Post(Post {
        user_id: 99_999_942,
        id,
        title: title.into(),
        body: "body".into(),
    })
}

/// A captured change of post `id` (sequence numbers grow with every call).
fn change(id: u64, kind: ChangeKind, title: &str) -> ChangeEvent {
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    ChangeEvent {
        key: EntityKey::post(id),
        change: kind,
        post_id: id,
        after: (kind != ChangeKind::Remove).then(|| post(id, title)),
        version: seq,
        sequence: format!("{seq:021}").parse().unwrap(),
        event_id: format!("e{seq}"),
    }
}

fn config() -> SyncConfig {
    SyncConfig {
        budget: Duration::from_secs(50),
        call_deadline: Duration::from_secs(20),
        lease: Duration::from_secs(120),
        max_attempts: 3,
        ..SyncConfig::default()
    }
}

struct World {
    queue: MemoryQueue,
    states: MemoryStates,
    remote: MemoryRemote,
    dead: MemoryDeadLetters,
}

impl World {
    fn new() -> Self {
        World {
            queue: MemoryQueue::new(Duration::from_secs(180)),
            states: MemoryStates::new(),
            remote: MemoryRemote::new(),
            dead: MemoryDeadLetters::default(),
        }
    }

    async fn enqueue(&self, events: &[ChangeEvent]) {
        self.queue.send(events).await.unwrap();
    }

    fn engine<'a>(
        &'a self,
        states: &'a dyn SyncStateStore,
        remote: &'a dyn RemoteApi,
        config: SyncConfig,
    ) -> SyncEngine<'a> {
        SyncEngine {
            source: &self.queue,
            states,
            remote,
            parked: &self.dead,
            config,
        }
    }

    async fn run(&self) -> SyncReport {
        self.engine(&self.states, &self.remote, config())
            .run()
            .await
            .expect("the run completes")
    }

    fn state(&self, id: u64) -> SyncState {
        self.states
            .snapshot()
            .remove(&EntityKey::post(id))
            .unwrap_or_default()
    }

    fn remote_titles(&self) -> Vec<String> {
        self.remote
            .rows(EntityKind::Post)
            .into_values()
            .map(|d| match d {
                EntityData::Post(p) => p.title,
                EntityData::Comment(_) => unreachable!(),
            })
            .collect()
    }
}

/// The index still lists an entity whose create was synced (it lags): the next run reads
/// the state itself, sees nothing pending, and sends nothing.
#[tokio::test]
async fn a_lagging_index_never_replays_a_synced_create() {
    let w = World::new();
    w.enqueue(&[change(1, ChangeKind::Insert, "a")]).await;
    w.run().await;
    // The index froze while the create was pending.
    w.states.lag_index(true);
    let mut stale = w.state(1);
    stale.pending = Some(change(1, ChangeKind::Insert, "a"));
    w.states.put(EntityKey::post(1), stale);
    w.states.catch_up_index();
    w.states.put(EntityKey::post(1), {
        let mut synced = w.state(1);
        synced.pending = None;
        synced.status = SyncStatus::Synced;
        synced
    });
    let report = w.run().await;
    assert_eq!(report.calls.total(), 0, "{report:?}");
    assert_eq!(w.remote.calls().create, 1);
    assert_eq!(w.remote_titles(), ["a"]);
}

/// Run A stalls after its call, before recording the outcome; its lease is taken over, and
/// run B takes in and syncs a newer change of the same entity. A's outcome write of its
/// older view must be refused (and A stop), or the newer change, its message already
/// deleted, would be lost. Outcome writes are conditional (revision and epoch), so this holds
/// however long A stalls. (The journal's writes are fenced by time instead: see
/// `a_journal_write_that_stalls_is_given_up_at_half_the_lease`.)
#[tokio::test]
async fn a_run_that_lost_its_lease_cannot_overwrite_a_newer_change() {
    let w = World {
        // The stalled run's messages come back at once, as after a visibility timeout.
        queue: MemoryQueue::new(Duration::ZERO),
        ..World::new()
    };
    w.enqueue(&[change(1, ChangeKind::Insert, "v1")]).await;
    w.run().await;
    w.enqueue(&[change(1, ChangeKind::Modify, "v2")]).await;
    // A's second write (the first is its journal) waits for a permit: a run stalled there
    // (a slow network, a paused process) while its lease runs out.
    let (gate, reached) = (&Semaphore::new(0), &Semaphore::new(0));
    let writes = &AtomicU64::new(0);
    let stalled = SaveHook::new(&w.states, move || async move {
        if writes.fetch_add(1, Ordering::Relaxed) == 1 {
            reached.add_permits(1);
            gate.acquire().await.expect("open").forget();
        }
        Ok(())
    });
    let a = w.engine(&stalled, &w.remote, config());
    let b = async {
        reached.acquire().await.expect("open").forget();
        w.states.expire_lease();
        w.enqueue(&[change(1, ChangeKind::Modify, "v3")]).await;
        let report = w.run().await;
        gate.add_permits(1000);
        report
    };
    let (a, b) = tokio::join!(a.run(), b);
    assert!(matches!(a, Err(SyncError::Port(_))), "A must stop: {a:?}");
    assert_eq!(w.remote.calls().replace, 2, "A's PUT of v2, then B's of v3");
    assert_eq!(b.calls.put, 1);
    // Whatever A left in the queue is older than what was synced.
    let after = w.run().await;
    assert_eq!(after.calls.total(), 0, "{after:?}");
    assert_eq!(w.remote_titles(), ["v3"]);
    assert_eq!(w.state(1).status, SyncStatus::Synced);
}

/// An hour of outage, a run a minute: nothing counts as an attempt, nothing is parked,
/// each run stops calling after the first failure it sees, and all of it syncs afterwards.
#[tokio::test(start_paused = true)]
async fn an_hour_long_outage_parks_nothing_and_converges() {
    let w = World::new();
    let events: Vec<ChangeEvent> = (1..=40)
        .map(|id| change(id, ChangeKind::Insert, &format!("p{id}")))
        .collect();
    w.enqueue(&events).await;
    w.remote.set_down(true);
    for minute in 0..60 {
        let before = w.remote.calls();
        let report = w.run().await;
        assert_eq!(
            report.outcome,
            Outcome::RemoteUnavailable,
            "minute {minute}"
        );
        assert_eq!(report.parked, 0);
        let calls = w.remote.calls().create - before.create;
        assert!(
            calls <= config().concurrency as u64,
            "minute {minute}: {calls} creates against a remote that is down"
        );
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    assert!(w.dead.parked().is_empty());
    assert!(w.states.snapshot().values().all(|s| s.attempts == 0));
    w.remote.set_down(false);
    let report = w.run().await;
    assert_eq!(
        (report.outcome, report.entities_synced),
        (Outcome::Completed, 40)
    );
    assert_eq!(w.remote.rows(EntityKind::Post).len(), 40);
}

/// A backlog far larger than a page is read and synced a page at a time.
#[tokio::test]
async fn a_backlog_is_worked_through_in_pages() {
    let w = World::new();
    for chunk in (1..=1_000u64).collect::<Vec<_>>().chunks(100) {
        let events: Vec<ChangeEvent> = chunk
            .iter()
            .map(|&id| change(id, ChangeKind::Insert, &format!("p{id}")))
            .collect();
        w.enqueue(&events).await;
    }
    let config = SyncConfig {
        page_size: 64,
        ..config()
    };
    let report = w.engine(&w.states, &w.remote, config).run().await.unwrap();
    assert_eq!(report.entities_synced, 1_000);
    let largest = w.states.load_sizes().into_iter().max().unwrap();
    assert!(largest <= 100, "one read of {largest} states");
}

/// The flush takes its states from the intake, which journaled them, except those an
/// earlier page wrote since. Post 1 is created in the first page (of one entity), and its
/// comment in the second, which needs the post's remote id: the intake's copy has none.
#[tokio::test]
async fn a_page_sees_what_the_page_before_it_wrote() {
    let w = World::new();
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    w.enqueue(&[
        change(1, ChangeKind::Insert, "a"),
        ChangeEvent {
            key: EntityKey::comment(1),
            change: ChangeKind::Insert,
            post_id: 1,
            after: Some(comment(1, 1)),
            version: seq,
            sequence: format!("{seq:021}").parse().unwrap(),
            event_id: format!("e{seq}"),
        },
    ])
    .await;
    let config = SyncConfig {
        page_size: 1,
        ..config()
    };
    let report = w.engine(&w.states, &w.remote, config).run().await.unwrap();
    assert_eq!(report.entities_synced, 2, "{report:?}");
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(w.remote.rows(EntityKind::Comment).len(), 1);
}

/// Whatever fails, the report fits a log event and a DynamoDB item.
#[tokio::test]
async fn the_report_stays_bounded_whatever_fails() {
    let w = World::new();
    w.remote.refuse_containing("refused");
    let events: Vec<ChangeEvent> = (1..=2_000)
        .map(|id| {
            change(
                id,
                ChangeKind::Insert,
                &format!("refused {}", "x".repeat(200)),
            )
        })
        .collect();
    w.enqueue(&events).await;
    let report = w.run().await;
    assert_eq!(report.failures.len(), ps_sync::MAX_FAILURES_LISTED);
    assert_eq!(
        report.failures_omitted,
        2_000 - ps_sync::MAX_FAILURES_LISTED as u64
    );
    let size = serde_json::to_string(&report).unwrap().len();
    assert!(size < 64 * 1024, "{size} bytes");
}

/// A remote that never answers.
struct Hanging;

#[async_trait]
impl RemoteApi for Hanging {
    async fn create(&self, _: &EntityData) -> Result<u64, RemoteError> {
        std::future::pending().await
    }
    async fn replace(&self, _: u64, _: &EntityData) -> Result<(), RemoteError> {
        std::future::pending().await
    }
    async fn delete(&self, _: EntityKind, _: u64) -> Result<(), RemoteError> {
        std::future::pending().await
    }
    async fn find(&self, _: &EntityData) -> Result<Vec<u64>, RemoteError> {
        std::future::pending().await
    }
    async fn probe(&self) -> Result<(), RemoteError> {
        std::future::pending().await
    }
    async fn comments_of(&self, _: u64) -> Result<Vec<u64>, RemoteError> {
        std::future::pending().await
    }
}

/// A run ends before its lease even when every call hangs: no run is still calling the
/// remote when another may take the lease.
#[tokio::test(start_paused = true)]
async fn a_run_ends_before_its_lease_even_when_the_remote_hangs() {
    let w = World::new();
    w.enqueue(&[change(1, ChangeKind::Insert, "a")]).await;
    let started = tokio::time::Instant::now();
    let report = w.engine(&w.states, &Hanging, config()).run().await.unwrap();
    assert!(
        started.elapsed() < config().lease,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.outcome, Outcome::RemoteUnavailable);
    let state = w.state(1);
    assert!(
        state.creating,
        "the create's outcome is unknown: looked up before a repeat"
    );
    assert_eq!(state.attempts, 0);
}

/// A remote that fails one change again and again (500s) while it answers otherwise: the
/// change is never parked, it waits longer after each failure (a minute, doubling, up to an
/// hour: 20 failures take most of a day, not 20 minutes of runs), and it syncs once the
/// remote takes it.
#[tokio::test(start_paused = true)]
async fn a_change_the_remote_keeps_failing_backs_off_and_is_never_parked() {
    let w = World::new();
    w.enqueue(&[change(1, ChangeKind::Insert, "a")]).await;
    w.remote.push_faults(&[Some(Fault::ServerError); 20]);
    let mut synced_at = None;
    for minute in 0..24 * 60 {
        let report = w.run().await;
        assert_eq!(report.parked, 0);
        if report.entities_synced == 1 {
            synced_at = Some(minute);
            break;
        }
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    let minute = synced_at.expect("synced within the day");
    assert!(
        minute > 10 * 60,
        "synced after {minute} minutes: no backoff"
    );
    assert_eq!(w.remote.calls().create, 21, "20 failures, then the create");
    assert!(w.dead.parked().is_empty());
    assert_eq!(w.remote_titles(), ["a"]);
}

fn comment(id: u64, post_id: u64) -> EntityData {
    EntityData::Comment(ps_core::model::Comment {
        post_id,
        id,
        name: format!("comment {id}"),
        email: "a@example.com".into(),
        body: "body".into(),
    })
}

/// Post 1 with comments 1 and 2, imported (on the remote under the same ids); then the
/// post is deleted locally, which deletes its comments: three change events.
async fn post_with_comments_deleted(w: &World) {
    for data in [post(1, "a"), comment(1, 1), comment(2, 1)] {
        w.remote.seed(data.clone());
        w.states.import(data);
    }
    let removed = |key: EntityKey| {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        ChangeEvent {
            key,
            change: ChangeKind::Remove,
            post_id: 1,
            after: None,
            version: seq,
            sequence: format!("{seq:021}").parse().unwrap(),
            event_id: format!("e{seq}"),
        }
    };
    w.enqueue(&[
        removed(EntityKey::comment(1)),
        removed(EntityKey::comment(2)),
        removed(EntityKey::post(1)),
    ])
    .await;
}

/// json-server deletes a post's comments with the post: one DELETE, and the comments are
/// recorded as gone with it, after one read that shows the post left none behind.
#[tokio::test]
async fn a_cascading_remote_gets_one_delete_for_a_post_and_its_comments() {
    let w = World::new();
    post_with_comments_deleted(&w).await;
    let report = w.run().await;
    assert_eq!(report.calls.delete, 1, "{report:?}");
    assert_eq!(report.gone_with_post, 2);
    assert_eq!(report.cascade_checks, 1);
    assert!(w.remote.rows(EntityKind::Comment).is_empty());
    assert!(w.remote.rows(EntityKind::Post).is_empty());
    let gone = w.states.snapshot()[&EntityKey::comment(1)].clone();
    assert!(gone.pending.is_none() && !gone.remote_exists, "{gone:?}");
}

/// Configured as cascading, but it is not: the read after the post's delete shows the
/// comments still there, and they get their own deletes.
#[tokio::test]
async fn a_remote_wrongly_said_to_cascade_still_ends_equal() {
    let w = World::new();
    w.remote.set_cascade(false, true);
    post_with_comments_deleted(&w).await;
    let report = w.run().await;
    assert_eq!(report.calls.delete, 3, "{report:?}");
    assert_eq!(report.gone_with_post, 0);
    assert!(report.cascade_refuted);
    assert!(w.remote.rows(EntityKind::Comment).is_empty());
}

/// With the capability off, every comment gets its delete, before its post's, and nothing
/// is read.
#[tokio::test]
async fn without_the_capability_each_comment_is_deleted() {
    let w = World::new();
    w.remote.set_cascade(false, false);
    post_with_comments_deleted(&w).await;
    let report = w.run().await;
    assert_eq!(report.calls.delete, 3, "{report:?}");
    assert_eq!(report.cascade_checks, 0);
    assert!(w.remote.rows(EntityKind::Comment).is_empty());
    assert!(w.remote.rows(EntityKind::Post).is_empty());
}

/// Settings under which a run could outlive its lease are refused before the lease is
/// taken, whoever built them.
#[tokio::test]
async fn a_run_refuses_settings_it_could_outlive_its_lease_under() {
    let w = World::new();
    w.enqueue(&[change(1, ChangeKind::Insert, "a")]).await;
    let config = SyncConfig {
        lease: config().budget,
        ..config()
    };
    let refused = w.engine(&w.states, &w.remote, config).run().await;
    assert!(matches!(refused, Err(SyncError::Config(_))), "{refused:?}");
    assert_eq!(w.queue.len(), 1);
    assert!(w.remote_titles().is_empty());
}

/// A run refused at half its lease journaled nothing and left the change queued; the next
/// run (once the lease is over) syncs it.
async fn stopped_at_half_the_lease(w: &World, refused: Result<SyncReport, SyncError>) {
    assert!(
        matches!(&refused, Err(SyncError::Port(e)) if e.0.contains("half the lease")),
        "{refused:?}"
    );
    assert_eq!(w.state(1), SyncState::default(), "nothing journaled");
    assert_eq!(w.queue.len(), 1, "the change stays queued");
    tokio::time::advance(Duration::from_secs(300)).await;
    w.run().await;
    assert_eq!(w.remote_titles(), ["a"]);
}

/// A journal write that stalls (a slow network, a paused process) is given up when half the
/// lease is over: the run stops before the write can land while another run may hold the
/// lease, and the batch stays queued.
#[tokio::test(start_paused = true)]
async fn a_journal_write_that_stalls_is_given_up_at_half_the_lease() {
    let w = World::new();
    w.enqueue(&[change(1, ChangeKind::Insert, "a")]).await;
    let stalled = SaveHook::new(&w.states, || async {
        tokio::time::sleep(config().lease).await;
        Ok(())
    });
    let refused = w.engine(&stalled, &w.remote, config()).run().await;
    stopped_at_half_the_lease(&w, refused).await;
}

/// The remote hands out the highest id again once its record is deleted (json-server and
/// the in-memory remote both do). Post 3 deleted and post 4 created in one run: the create
/// must not be sent while the delete's outcome is still unrecorded, or its answer (id 3) is
/// an id still held by post 3, and the create is deferred, backing off. Every save yields
/// here, so without the deletes' wave first the groups interleave exactly there.
#[tokio::test]
async fn a_create_is_not_sent_while_a_delete_of_the_same_run_is_unrecorded() {
    let w = World::new();
    for id in 1..=3 {
        w.remote.seed(post(id, "old"));
        w.states.import(post(id, "old"));
    }
    w.enqueue(&[
        change(3, ChangeKind::Remove, ""),
        change(4, ChangeKind::Insert, "new"),
    ])
    .await;
    let yielding = SaveHook::new(&w.states, || async {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        Ok(())
    });
    let report = w
        .engine(&yielding, &w.remote, config())
        .run()
        .await
        .expect("the run completes");
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(
        (report.calls.post, report.calls.delete),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(w.remote_titles(), ["old", "old", "new"]);
    assert_eq!(w.state(4).remote_id, Some(3), "{:?}", w.state(4));
    assert!(w.state(4).pending.is_none());
}

/// A queue whose receives take `delay` each.
struct SlowQueue<'a> {
    inner: &'a MemoryQueue,
    delay: Duration,
}

#[async_trait]
impl ps_core::ports::ChangeSource for SlowQueue<'_> {
    async fn receive(&self, max: usize) -> Result<Vec<ps_core::ports::QueuedChange>, PortError> {
        tokio::time::sleep(self.delay).await;
        self.inner.receive(max).await
    }
    async fn delete(&self, receipts: &[String]) -> Result<(), PortError> {
        self.inner.delete(receipts).await
    }
}

/// The journal's writes are unconditional, fenced by the lease's time alone: a run that
/// reaches one with less than half its lease left stops without writing, and the batch
/// stays queued for the next run.
#[tokio::test(start_paused = true)]
async fn no_journal_write_is_made_past_half_the_lease() {
    let w = World::new();
    w.enqueue(&[change(1, ChangeKind::Insert, "a")]).await;
    let slow = SlowQueue {
        inner: &w.queue,
        delay: config().lease / 2,
    };
    let engine = SyncEngine {
        source: &slow,
        states: &w.states,
        remote: &w.remote,
        parked: &w.dead,
        config: config(),
    };
    let refused = engine.run().await;
    stopped_at_half_the_lease(&w, refused).await;
}

//! A deterministic simulation of capture and sync, in the spirit of FoundationDB's simulator
//! and TigerBeetle's VOPR. Each seed draws a workload and a fault schedule and runs the real
//! capture function and the real sync engine over the in-memory ports on a virtual clock
//! (tokio's, paused): the remote loses answers, errs, throttles, answers late and goes down;
//! the queue fails sends, delivers twice and out of order; the pending index lags; capture
//! and sync are dropped at random await points (a crash; a new instance starts on the same
//! durable state), and runs overlap. The remote deletes a post's comments with it
//! (json-server's way) or not, and is configured to say so or, wrongly, that it does.
//! In most seeds someone else also writes to the remote behind the sync's back (edits,
//! deletes, second copies, foreign records), and reconciles with repair run now and then,
//! crashing and overlapping sync runs like everything else. After a fault-free tail, a
//! reconcile that repairs (deleting every orphan) and a second tail, the invariants are
//! checked: the remote equals the local copy.
//! Everything follows from the seed: `SIM_SEED=<n>` replays one exactly.

mod check;
pub mod local;
mod mapping;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ps_core::change::{EntityData, EntityKind};
use ps_core::merge::SyncState;
use ps_core::{Comment, Post};
use ps_memory::{Fault, MemoryDeadLetters, MemoryQueue, MemoryRemote, MemoryStates};
use ps_reconcile::{Options, OrphanChoice, ReconcileConfig, Reconciler};
use ps_sync::{SyncConfig, SyncEngine};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use check::Findings;
use local::{Local, REFUSED, WORDS};
use mapping::{FaultySink, Mapping};

/// What one seed did and found.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub seed: u64,
    pub writes: u64,
    pub sync_runs: u64,
    pub findings: Findings,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
}

impl SeedReport {
    pub fn passed(&self) -> bool {
        self.findings.violations.is_empty()
    }
}

/// Runs one seed on a fresh single-threaded runtime with a paused clock.
pub fn run_seed(seed: u64) -> SeedReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(simulate(seed))
}

/// Runs `seeds` on `threads` threads; the reports in seed order.
pub fn run_seeds(seeds: std::ops::Range<u64>, threads: usize) -> Vec<SeedReport> {
    let next = AtomicU64::new(seeds.start);
    let mut reports: Vec<SeedReport> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= seeds.end {
                            return done;
                        }
                        done.push(run_seed(seed));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker"))
            .collect()
    });
    reports.sort_by_key(|r| r.seed);
    reports
}

const REMOTE_FAULTS: [Fault; 5] = [
    Fault::ProcessThenLose,
    Fault::ServerError,
    Fault::Unavailable,
    Fault::Throttled,
    Fault::Slow,
];

fn word(rng: &mut StdRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

/// A title or name: mostly from the vocabulary, now and then one the remote refuses.
fn text(rng: &mut StdRng) -> String {
    if rng.random_bool(0.04) {
        format!("{REFUSED} {}", word(rng))
    } else {
        word(rng).to_owned()
    }
}

fn pick(rng: &mut StdRng, ids: impl Iterator<Item = u64>) -> Option<u64> {
    let ids: Vec<u64> = ids.collect();
    (!ids.is_empty()).then(|| ids[rng.random_range(0..ids.len())])
}

/// One write through the API, as the workload draws it.
fn write(local: &mut Local, rng: &mut StdRng) {
    match rng.random_range(0..100) {
        0..=19 => {
            // New posts never carry a refused title: what the remote refuses is an edit.
            local.create_post(word(rng));
        }
        20..=39 => {
            if let Some(id) = pick(rng, local.posts.keys().copied()) {
                let title = text(rng);
                local.update_post(id, &title);
            }
        }
        40..=44 => {
            if let Some(id) = pick(rng, local.posts.keys().copied()) {
                local.delete_post(id);
            }
        }
        45..=69 => {
            if let Some(id) = pick(rng, local.posts.keys().copied()) {
                local.create_comment(id, word(rng));
            }
        }
        70..=89 => {
            if let Some(id) = pick(rng, local.comments.keys().copied()) {
                let name = text(rng);
                local.update_comment(id, &name);
            }
        }
        _ => {
            if let Some(id) = pick(rng, local.comments.keys().copied()) {
                local.delete_comment(id);
            }
        }
    }
}

fn count(faults: &mut BTreeMap<&'static str, u64>, kind: &'static str) {
    *faults.entry(kind).or_default() += 1;
}

/// Whether two records hold the same data, ids (and a comment's post) aside.
fn same_fields(a: &EntityData, b: &EntityData) -> bool {
    match (a, b) {
        (EntityData::Post(a), EntityData::Post(b)) => {
            (a.user_id, &a.title, &a.body) == (b.user_id, &b.title, &b.body)
        }
        (EntityData::Comment(a), EntityData::Comment(b)) => {
            (&a.name, &a.email, &a.body) == (&b.name, &b.email, &b.body)
        }
        _ => false,
    }
}

/// Someone else writes to the remote, behind the sync's back. The local entities whose copy
/// it deletes go in `deleted_behind` (an update of one is rightly refused).
fn meddle(
    remote: &MemoryRemote,
    states: &MemoryStates,
    rng: &mut StdRng,
    faults: &mut BTreeMap<&'static str, u64>,
    deleted_behind: &mut std::collections::BTreeSet<ps_core::change::EntityKey>,
) {
    let kind = if rng.random_bool(0.5) {
        EntityKind::Post
    } else {
        EntityKind::Comment
    };
    let rows = remote.rows(kind);
    let Some(remote_id) = pick(rng, rows.keys().copied()) else {
        return;
    };
    let record = rows[&remote_id].clone();
    match rng.random_range(0..4) {
        0 => {
            count(faults, "remote_edited_behind");
            let edited = match record {
                EntityData::Post(p) => EntityData::Post(Post {
                    title: format!("{} by hand", p.title),
                    ..p
                }),
                EntityData::Comment(c) => EntityData::Comment(Comment {
                    name: format!("{} by hand", c.name),
                    ..c
                }),
            };
            remote.write_behind_our_back(edited);
        }
        1 => {
            count(faults, "remote_deleted_behind");
            // Whose copies go: this record's, and on a remote that deletes a post's comments
            // with it, theirs. Each held by a state mapping its id, or by one whose create is
            // unrecorded (found by its data).
            let mut gone = vec![(kind, remote_id, record.clone())];
            if kind == EntityKind::Post && remote.deletes_comments_with_post() {
                gone.extend(
                    remote
                        .rows(EntityKind::Comment)
                        .into_iter()
                        .filter(
                            |(_, c)| matches!(c, EntityData::Comment(c) if c.post_id == remote_id),
                        )
                        .map(|(id, c)| (EntityKind::Comment, id, c)),
                );
            }
            remote.delete_behind_our_back(kind, remote_id);
            let snapshot = states.snapshot();
            for (kind, id, data) in gone {
                for (key, s) in &snapshot {
                    let maps = s.remote_id == Some(id);
                    let sent_it = s.creating
                        && s.create_sent
                            .as_ref()
                            .is_some_and(|d| same_fields(d, &data));
                    if key.kind == kind && (maps || sent_it) {
                        deleted_behind.insert(*key);
                    }
                }
            }
        }
        2 => {
            count(faults, "remote_copied_behind");
            remote.create_behind_our_back(&record);
        }
        _ => {
            count(faults, "remote_foreign_record");
            let foreign = match record {
                EntityData::Post(p) => EntityData::Post(Post {
                    user_id: 77,
                    title: "foreign".into(),
                    ..p
                }),
                EntityData::Comment(c) => EntityData::Comment(Comment {
                    name: "foreign".into(),
                    ..c
                }),
            };
            remote.create_behind_our_back(&foreign);
        }
    }
}

async fn simulate(seed: u64) -> SeedReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = SeedReport {
        seed,
        ..SeedReport::default()
    };
    let faults = &mut report.faults;

    // An imported start: on the remote under the same ids, recorded as synced.
    let remote = MemoryRemote::new();
    let states = MemoryStates::new();
    let mut posts = Vec::new();
    let mut comments = Vec::new();
    for id in 1..=rng.random_range(1..=3u64) {
        posts.push(Post {
            user_id: 1,
            id,
            title: word(&mut rng).into(),
            body: "body".into(),
        });
    }
    for post in &posts {
        for _ in 0..rng.random_range(0..=2) {
            comments.push(Comment {
                post_id: post.id,
                id: comments.len() as u64 + 1,
                name: word(&mut rng).into(),
                email: "a@example.com".into(),
                body: "body".into(),
            });
        }
    }
    let imported = posts
        .iter()
        .cloned()
        .map(EntityData::Post)
        .chain(comments.iter().cloned().map(EntityData::Comment));
    // A table imported since the import keeps its marks (claims above them read nothing
    // more), or one imported before (every claim reads the state of the id's namesake).
    // Drawn apart from the rest, like the cascade below.
    let marked = StdRng::seed_from_u64(seed ^ 0x1A90).random_range(0..4) > 0;
    count(
        faults,
        if marked {
            "import_marked"
        } else {
            "import_unmarked"
        },
    );
    for data in imported {
        remote.seed(data.clone());
        if marked {
            states.import(data);
        } else {
            states.put(data.key(), SyncState::imported(data));
        }
    }
    let mut local = Local::imported(posts, comments);

    let queue = MemoryQueue::new(Duration::from_secs(180));
    queue.set_chaos(seed ^ 0x5151, 0.05, 0.3);
    let dead = MemoryDeadLetters::default();
    let sink = FaultySink::new(&queue, seed ^ 0xCA97, 0.15);
    states.set_io_delay(Duration::from_millis(1));
    remote.set_latency(Duration::from_millis(rng.random_range(5..200)));
    // How the remote deletes a post's comments, drawn apart from the rest so that every
    // seed's other draws stay as they were: json-server's cascade, a remote that does not
    // cascade and says so, and one that does not but is configured as if it did.
    let (cascades, says_it_cascades) = match StdRng::seed_from_u64(seed ^ 0xCA5C).random_range(0..4)
    {
        0 | 1 => (true, true),
        2 => (false, false),
        _ => (false, true),
    };
    remote.set_cascade(cascades, says_it_cascades);
    *faults
        .entry(match (cascades, says_it_cascades) {
            (true, _) => "remote_cascading",
            (false, false) => "remote_not_cascading",
            (false, true) => "remote_not_cascading_said_to",
        })
        .or_default() += 1;
    remote.refuse_containing(REFUSED);
    let schedule: Vec<Option<Fault>> = (0..400)
        .map(|_| {
            rng.random_bool(0.12)
                .then(|| REMOTE_FAULTS[rng.random_range(0..REMOTE_FAULTS.len())])
        })
        .collect();
    remote.push_faults(&schedule);
    let config = SyncConfig {
        budget: Duration::from_secs(50),
        call_deadline: Duration::from_secs(20),
        lease: Duration::from_secs(120),
        concurrency: rng.random_range(1..=4),
        max_attempts: 3,
        max_parallel_receives: rng.random_range(1..=3),
        page_size: rng.random_range(1..=8),
        backoff: Duration::from_secs(60),
    };
    let engine = SyncEngine {
        source: &queue,
        states: &states,
        remote: &remote,
        parked: &dead,
        config: config.clone(),
    };
    let reconcile_config = ReconcileConfig {
        page_size: rng_apart(seed, 0x9A6E).random_range(1..=6),
        state_page: rng_apart(seed, 0x57A7).random_range(1..=6),
        ..ReconcileConfig::default()
    };
    // A reconcile over the master copy as it is when it starts.
    let reconcile = |local: &Local, options: Options| {
        let view = local.view();
        let (states, remote, config) = (&states, &remote, reconcile_config.clone());
        async move {
            Reconciler {
                states,
                scan: states,
                posts: &view,
                comments: &view,
                listing: remote,
                remote,
                config,
            }
            .run(options)
            .await
        }
    };
    let mut deleted_behind = std::collections::BTreeSet::new();
    // Drawn apart from the rest, so every seed's other draws stay as they were: in a quarter
    // of the seeds nobody else writes to the remote.
    let mut meddler = rng_apart(seed, 0xD21F7);
    let meddling = if meddler.random_bool(0.25) {
        0.0
    } else {
        meddler.random_range(0.02..0.12)
    };
    let mut mapping = Mapping::default();
    let mut down = false;

    for _ in 0..rng.random_range(40..140) {
        if meddling > 0.0 && meddler.random_bool(meddling) {
            meddle(&remote, &states, &mut meddler, faults, &mut deleted_behind);
        }
        if meddling > 0.0 && meddler.random_bool(meddling / 2.0) {
            count(faults, "reconcile_repaired");
            let options = Options {
                repair: true,
                delete_orphans: if meddler.random_bool(0.5) {
                    OrphanChoice::Duplicates
                } else {
                    OrphanChoice::All
                },
            };
            let crash = meddler
                .random_bool(0.25)
                .then(|| Duration::from_millis(meddler.random_range(0..2_000)));
            let overlap = meddler.random_bool(0.3);
            if crash.is_some() {
                count(faults, "reconcile_crashed");
            }
            let reconciling = reconcile(&local, options);
            let reconcile_run = async {
                match crash {
                    Some(after) => {
                        let _ = tokio::time::timeout(after, reconciling).await;
                    }
                    None => {
                        let _ = reconciling.await;
                    }
                }
            };
            let sync = async {
                if overlap {
                    let _ = engine.run().await;
                }
            };
            futures::join!(reconcile_run, sync);
        }
        match rng.random_range(0..100) {
            0..=39 => {
                write(&mut local, &mut rng);
                report.writes += 1;
            }
            40..=59 => {
                let max = rng.random_range(1..=20);
                if rng.random_bool(0.15) {
                    count(faults, "capture_crashed");
                    let after = Duration::from_micros(rng.random_range(0..3_000));
                    let _ =
                        tokio::time::timeout(after, mapping.step(&local.stream, &sink, max)).await;
                } else {
                    mapping.step(&local.stream, &sink, max).await;
                }
            }
            60..=79 => {
                report.sync_runs += 1;
                let crash = rng
                    .random_bool(0.25)
                    .then(|| Duration::from_millis(rng.random_range(0..3_000)));
                let overlap = rng
                    .random_bool(0.1)
                    .then(|| Duration::from_millis(rng.random_range(0..500)));
                let first = async {
                    match crash {
                        Some(after) => {
                            let _ = tokio::time::timeout(after, engine.run()).await;
                        }
                        None => {
                            let _ = engine.run().await;
                        }
                    }
                };
                let second = async {
                    if let Some(after) = overlap {
                        tokio::time::sleep(after).await;
                        let _ = engine.run().await;
                    }
                };
                futures::join!(first, second);
                if crash.is_some() {
                    count(faults, "sync_crashed");
                }
                if overlap.is_some() {
                    count(faults, "sync_overlapped");
                }
            }
            80..=89 => {
                tokio::time::advance(Duration::from_secs(rng.random_range(1..300))).await;
            }
            90..=93 => {
                count(faults, "index_lagging");
                states.lag_index(true);
            }
            94..=95 => states.lag_index(false),
            _ => {
                down = !down;
                if down {
                    count(faults, "remote_outage");
                }
                remote.set_down(down);
            }
        }
    }

    // The fault-free tail: everything settles; then a reconcile repairs what was written
    // behind the sync's back (every orphan deleted), and the sync settles again.
    remote.set_down(false);
    remote.clear_faults();
    sink.stop_failing();
    states.lag_index(false);
    let mut settled = settle(&engine, &queue, &mut mapping, &local, &sink).await;
    let mut tail_error = None;
    if meddling > 0.0 {
        let options = Options {
            repair: true,
            delete_orphans: OrphanChoice::All,
        };
        // A second round only for an orphan post kept because comments of ours sat under it
        // on the remote: once the sync has moved them, it goes.
        for _ in 0..2 {
            let kept = match reconcile(&local, options).await {
                Ok(report) => report.repaired.orphans_kept,
                Err(e) => {
                    tail_error = Some(format!("the tail's reconcile failed: {e}"));
                    0
                }
            };
            settled = settle(&engine, &queue, &mut mapping, &local, &sink).await;
            if kept == 0 {
                break;
            }
        }
    }

    for (kind, n) in remote.faults_met().into_iter().chain(sink.faults_met()) {
        *faults.entry(kind).or_default() += n;
    }
    let (duplicated, reordered) = queue.chaos_met();
    *faults.entry("queue_delivered_twice").or_default() += duplicated;
    *faults.entry("queue_out_of_order").or_default() += reordered;

    let snapshot = states.snapshot();
    let parked = dead.parked();
    report.findings = check::check(&check::World {
        local: &local,
        states: &snapshot,
        remote_posts: &remote.rows(EntityKind::Post),
        remote_comments: &remote.rows(EntityKind::Comment),
        parked: &parked,
        deleted_behind: &deleted_behind,
    });
    report.findings.violations.extend(tail_error);
    if !settled {
        report
            .findings
            .violations
            .push("never settled: the tail kept calling the remote".into());
    }
    report
}

fn rng_apart(seed: u64, salt: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ salt)
}

/// Runs the sync until two runs in a row find nothing to do, past any lease, visibility
/// timeout and backoff; false if it never settles.
async fn settle(
    engine: &SyncEngine<'_>,
    queue: &MemoryQueue,
    mapping: &mut Mapping,
    local: &Local,
    sink: &FaultySink<'_>,
) -> bool {
    let mut quiet_runs = 0;
    for _ in 0..60 {
        while !mapping.drained(&local.stream) {
            mapping.step(&local.stream, sink, 100).await;
        }
        tokio::time::advance(Duration::from_secs(3_700)).await;
        let quiet = match engine.run().await {
            Ok(r) => r.calls.total() == 0 && r.messages_received == 0,
            Err(_) => false,
        };
        quiet_runs = if quiet && queue.is_empty() {
            quiet_runs + 1
        } else {
            0
        };
        if quiet_runs == 2 {
            return true;
        }
    }
    false
}

/// An hour of remote outage, a run a minute, over `entities` pending creates; then the remote
/// comes back. What was parked, and whether everything then synced.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub parked: u64,
    pub creates_during_outage: u64,
    pub synced_after: u64,
    pub remote_after: u64,
}

pub fn outage_hour(entities: u64) -> Outage {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut local = Local::default();
        for _ in 0..entities {
            local.create_post("alpha");
        }
        let queue = MemoryQueue::new(Duration::from_secs(180));
        let (states, remote, dead) = (
            MemoryStates::new(),
            MemoryRemote::new(),
            MemoryDeadLetters::default(),
        );
        let mut mapping = Mapping::default();
        while !mapping.drained(&local.stream) {
            mapping.step(&local.stream, &queue, 100).await;
        }
        let engine = SyncEngine {
            source: &queue,
            states: &states,
            remote: &remote,
            parked: &dead,
            config: SyncConfig::default(),
        };
        remote.set_down(true);
        for _ in 0..60 {
            let _ = engine.run().await;
            tokio::time::advance(Duration::from_secs(60)).await;
        }
        let creates_during_outage = remote.calls().create;
        remote.set_down(false);
        let mut synced_after = 0;
        for _ in 0..10 {
            synced_after += engine.run().await.map_or(0, |r| r.entities_synced);
            tokio::time::advance(Duration::from_secs(60)).await;
        }
        Outage {
            parked: dead.parked().len() as u64,
            creates_during_outage,
            synced_after,
            remote_after: remote.rows(EntityKind::Post).len() as u64,
        }
    })
}

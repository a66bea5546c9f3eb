//! The pipeline under load: a random workload of API writes through capture and the sync to
//! json-server (remote calls against the merge rules' minimum, AWS requests against the
//! batched minimum, cost), and the sync against a recording remote at three rate limits.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::Event;
use local_stack::stream::StreamReader;
use placeholder_sync_tests::sync::{JsonServer, local_entities, remote_config, remote_differences};
use placeholder_sync_tests::{Api, TestResponse, sdk_config_at, start_moto};
use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey};
use ps_core::model::Post;
use ps_queue::{DeadLetterQueue, SqsQueue};
use ps_remote::HttpRemote;
use ps_store::DynamoStore;
use ps_sync::{CallCounts, SyncConfig, SyncEngine};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::counter::{RequestCounter, counted_sqs, counted_store, counted_streams};
use crate::{Bound, Figure, leak};

/// List prices, us-east-1, on-demand, without free tiers.
mod price {
    /// Lambda on arm64, per GB-second and per request.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// SQS FIFO, per request (each 64 KB of payload counts as one).
    pub const SQS_FIFO_REQUEST: f64 = 0.50 / 1e6;
    /// DynamoDB on-demand, per write request unit (1 KB) and read request unit (4 KB).
    pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
    pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
    // DynamoDB Streams reads by a Lambda trigger are free.
}

/// Memory of the functions the pipeline runs (template.yaml: the Globals' 128 MB).
const CAPTURE_GB: f64 = 0.125;
const SYNC_GB: f64 = 0.125;
/// The event source mapping's batch size (template.yaml).
const CAPTURE_BATCH: usize = 100;
/// Writes between two syncs. moto's FIFO queue recomputes every queue attribute, over every
/// message held, for each message sent, so a backlog of thousands takes it minutes per
/// batch; the workload therefore syncs as the schedule would, every few hundred writes.
const EPOCH_WRITES: usize = 100;
/// Writes per segment: each on fresh tables, because moto's transactions deep-copy the whole
/// table (with its stream), which grows with every write.
const SEGMENT_WRITES: usize = 1000;
/// Segments run at once, each on its own moto server.
const LANES: usize = 2;

/// What a benchmark's sync needs besides its queue and store: a client of the remote at a
/// rate limit, and the dead-letter queue to park in.
struct BenchSync {
    http: HttpRemote,
    dead_letters: DeadLetterQueue,
}

impl BenchSync {
    fn new(remote_url: &str, rate_per_second: u32, queue: &SqsQueue) -> Self {
        let mut config = remote_config(remote_url);
        config.rate_per_second = NonZeroU32::new(rate_per_second).expect("a rate above 0");
        BenchSync {
            http: HttpRemote::new(config).expect("remote"),
            dead_letters: queue.dead_letters(),
        }
    }

    /// One engine with time enough to drain whatever the benchmark queued.
    fn engine<'a>(&'a self, queue: &'a SqsQueue, store: &'a DynamoStore) -> SyncEngine<'a> {
        self.engine_with_budget(queue, store, Duration::from_secs(600))
    }

    fn engine_with_budget<'a>(
        &'a self,
        queue: &'a SqsQueue,
        store: &'a DynamoStore,
        budget: Duration,
    ) -> SyncEngine<'a> {
        let config = SyncConfig {
            budget,
            ..SyncConfig::default()
        };
        SyncEngine {
            source: queue,
            states: store,
            remote: &self.http,
            parked: &self.dead_letters,
            config: SyncConfig {
                // Outlasting the budget, as `SyncConfig::check` demands.
                lease: budget + config.call_deadline + Duration::from_secs(30),
                ..config
            },
        }
    }
}

fn prefix(what: &str) -> String {
    format!(
        "bench-{what}-{}-{}-",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// What the merge rules allow at least: one call per entity whose final local state differs
/// from what the remote held before the workload (a create, an update to different data, a
/// delete of something the remote had), none for the rest (created then deleted, or edited
/// back to what the remote holds).
fn minimum_calls(before: &BTreeMap<EntityKey, Value>, after: &BTreeMap<EntityKey, Value>) -> u64 {
    let changed = after
        .iter()
        .filter(|(key, now)| before.get(key) != Some(now))
        .count();
    let deleted = before.keys().filter(|k| !after.contains_key(k)).count();
    (changed + deleted) as u64
}

/// The same, where the remote deletes a post's comments with the post: a comment deleted
/// together with the post it was under on the remote costs nothing.
fn minimum_calls_cascading(
    before: &BTreeMap<EntityKey, Value>,
    after: &BTreeMap<EntityKey, Value>,
) -> u64 {
    let gone_with_post = before
        .iter()
        .filter(|(key, value)| {
            key.kind == ps_core::change::EntityKind::Comment
                && !after.contains_key(key)
                && value["postId"].as_u64().is_some_and(|post| {
                    let post = EntityKey::post(post);
                    before.contains_key(&post) && !after.contains_key(&post)
                })
        })
        .count() as u64;
    minimum_calls(before, after) - gone_with_post
}

/// Random API writes, mostly edits as a team's traffic is: updates of posts and comments
/// (some back to the original), creates, deletes (a post deletes its comments), new comments,
/// and posts created and deleted straight away.
struct Workload {
    rng: StdRng,
    fixture_posts: Vec<Post>,
    posts: Vec<u64>,
    comments: Vec<(u64, u64)>,
    done: usize,
    /// Time spent per kind of write (count, total): where the emulator's time goes.
    timings: BTreeMap<&'static str, (u32, Duration)>,
}

impl Workload {
    fn new(seed: u64) -> Self {
        let (fixture_posts, fixture_comments) = placeholder_sync_tests::fixture();
        Workload {
            rng: StdRng::seed_from_u64(seed),
            posts: fixture_posts.iter().map(|p| p.id).collect(),
            comments: fixture_comments.iter().map(|c| (c.id, c.post_id)).collect(),
            fixture_posts,
            done: 0,
            timings: BTreeMap::new(),
        }
    }

    /// Makes at least `writes` more writes.
    async fn step(&mut self, api: &Api, writes: usize) {
        let target = self.done + writes;
        while self.done < target {
            let done = self.done;
            let rng = &mut self.rng;
            let (posts, comments) = (&mut self.posts, &mut self.comments);
            let op_started = Instant::now();
            let op = match rng.random_range(0..100) {
                0..8 => "create post",
                8..38 => "update post",
                38..40 => "delete post",
                40..46 => "create comment",
                46..80 => "update comment",
                80..88 => "delete comment",
                88..96 => "create+delete post",
                _ => "revert post",
            };
            // A write the workload's state depends on: it must succeed.
            let write = |method: &'static str, path: String, body: Value| async move {
                let r = api.write(method, &path, body).await;
                assert!(
                    r.status < 300,
                    "{op}: {method} {path} answered {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                r
            };
            let id_of = |r: TestResponse| r.json()["id"].as_u64().expect("id");
            match op {
                "create post" => {
                    let body = json!({"title": format!("new {done}"), "body": "b"});
                    posts.push(id_of(write("POST", "/posts".into(), body).await));
                    self.done += 1;
                }
                "update post" if !posts.is_empty() => {
                    let id = posts[rng.random_range(0..posts.len())];
                    let title = format!("t{}", rng.random_range(0..4));
                    write("PATCH", format!("/posts/{id}"), json!({"title": title})).await;
                    self.done += 1;
                }
                "delete post" if posts.len() > 30 => {
                    let id = posts.swap_remove(rng.random_range(0..posts.len()));
                    write("DELETE", format!("/posts/{id}"), json!({})).await;
                    comments.retain(|(_, post)| *post != id);
                    self.done += 1;
                }
                "create comment" if !posts.is_empty() => {
                    let post = posts[rng.random_range(0..posts.len())];
                    let body = json!({"postId": post, "name": "n", "email": "bench@example.com", "body": format!("c{done}")});
                    let id = id_of(write("POST", "/comments".into(), body).await);
                    comments.push((id, post));
                    self.done += 1;
                }
                "update comment" if !comments.is_empty() => {
                    let (id, _) = comments[rng.random_range(0..comments.len())];
                    let body = format!("b{}", rng.random_range(0..4));
                    write("PATCH", format!("/comments/{id}"), json!({"body": body})).await;
                    self.done += 1;
                }
                "delete comment" if !comments.is_empty() => {
                    let (id, _) = comments.swap_remove(rng.random_range(0..comments.len()));
                    write("DELETE", format!("/comments/{id}"), json!({})).await;
                    self.done += 1;
                }
                "create+delete post" => {
                    let body = json!({"title": "short-lived", "body": "b"});
                    let id = id_of(write("POST", "/posts".into(), body).await);
                    write("DELETE", format!("/posts/{id}"), json!({})).await;
                    self.done += 2;
                }
                "revert post" => {
                    // Back to what the remote holds: merged away if nothing else changed it.
                    let original =
                        &self.fixture_posts[rng.random_range(0..self.fixture_posts.len())];
                    if posts.contains(&original.id) {
                        let body = json!({"title": original.title, "body": original.body});
                        write("PUT", format!("/posts/{}", original.id), body).await;
                        self.done += 1;
                    }
                }
                _ => {}
            }
            let entry = self.timings.entry(op).or_default();
            entry.0 += 1;
            entry.1 += op_started.elapsed();
        }
    }
}

/// What one segment of the workload did.
#[derive(Default)]
struct Segment {
    writes: usize,
    changes: usize,
    minimum: u64,
    minimum_cascading: u64,
    cascade_checks: u64,
    calls: CallCounts,
    capture_time: Duration,
    capture_invocations: u64,
    sync_time: Duration,
    write_time: Duration,
    pending_written: u64,
    entities_synced: u64,
    requests: BTreeMap<String, u64>,
    differences: Vec<String>,
    timings: BTreeMap<&'static str, (u32, Duration)>,
}

impl Segment {
    fn absorb(&mut self, other: Segment) {
        self.writes += other.writes;
        self.changes += other.changes;
        self.minimum += other.minimum;
        self.minimum_cascading += other.minimum_cascading;
        self.cascade_checks += other.cascade_checks;
        self.calls.absorb(other.calls);
        self.capture_time += other.capture_time;
        self.capture_invocations += other.capture_invocations;
        self.sync_time += other.sync_time;
        self.write_time += other.write_time;
        self.pending_written += other.pending_written;
        self.entities_synced += other.entities_synced;
        for (op, n) in other.requests {
            *self.requests.entry(op).or_default() += n;
        }
        self.differences.extend(other.differences);
        for (op, (n, t)) in other.timings {
            let entry = self.timings.entry(op).or_default();
            entry.0 += n;
            entry.1 += t;
        }
    }
}

/// One segment end to end, on its own tables, queues and remote: the real dataset imported,
/// then `writes` API writes; after every [`EPOCH_WRITES`] the stream is read in batches of
/// 100 as the event source mapping delivers them, captured, and a sync runs.
async fn segment(sdk: &aws_config::SdkConfig, writes: usize, seed: u64) -> Segment {
    let remote = JsonServer::start().await;
    let dynamo = RequestCounter::default();
    let others = RequestCounter::default();
    let store = counted_store(sdk, &dynamo).await;
    let api = Api::with_store(store.clone());
    import::import(&store, &remote.url, false)
        .await
        .expect("import");
    let queue = counted_sqs(sdk, &others, &prefix("workload")).await;
    let mut reader = StreamReader::open(counted_streams(sdk, &others), &store.tables().entities)
        .await
        .expect("stream");
    let sync = BenchSync::new(&remote.url, 500, &queue);
    let engine = sync.engine(&queue, &store);

    let mut workload = Workload::new(seed);
    let mut synced_as = local_entities(&api).await;
    let mut result = Segment::default();
    while workload.done < writes {
        let t = Instant::now();
        workload
            .step(&api, EPOCH_WRITES.min(writes - workload.done))
            .await;
        result.write_time += t.elapsed();
        // What this epoch's sync must bring the remote to, and the fewest calls for it.
        let now = local_entities(&api).await;
        result.minimum += minimum_calls(&synced_as, &now);
        result.minimum_cascading += minimum_calls_cascading(&synced_as, &now);
        synced_as = now;
        dynamo.reset();
        others.reset();

        loop {
            let event = reader.read_event("us-east-1").await.expect("stream read");
            let records = event["Records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                break;
            }
            for chunk in records.chunks(CAPTURE_BATCH) {
                let event: Event =
                    serde_json::from_value(json!({ "Records": chunk })).expect("stream event");
                let t = Instant::now();
                let response = capture::handle(event, &queue).await;
                result.capture_time += t.elapsed();
                result.capture_invocations += 1;
                assert!(response.batch_item_failures.is_empty(), "capture failed");
                result.changes += chunk.len();
            }
        }

        // A scheduled sync: it drains the queue and flushes everything pending.
        let t = Instant::now();
        let report = engine.run().await.expect("sync");
        result.sync_time += t.elapsed();
        assert_eq!(report.outcome, ps_sync::Outcome::Completed, "{report:?}");
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        result.calls.absorb(report.calls);
        result.cascade_checks += report.cascade_checks;
        result.pending_written += report.pending_written;
        result.entities_synced += report.entities_synced;
        for (op, n) in dynamo.snapshot().into_iter().chain(others.snapshot()) {
            *result.requests.entry(op).or_default() += n;
        }
    }
    result.writes = workload.done;
    result.timings = workload.timings;
    result.differences = remote_differences(&api, &remote.url, &[]).await;
    result
}

/// `writes` random API writes in segments of [`SEGMENT_WRITES`], run on [`LANES`] moto
/// servers at once (moto is single-threaded; each server gets a core).
pub async fn workload_figures(writes: usize) -> Vec<Figure> {
    let segments = writes.div_ceil(SEGMENT_WRITES);
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| async move {
            let mut total = Segment::default();
            for i in (lane..segments).step_by(LANES) {
                // A moto server per segment: moto keeps every table it was given, with its
                // stream, and grew past 8 GB a lane over five segments until the kernel
                // killed it (the API's writes then answered 503).
                let moto = start_moto().await;
                let sdk = sdk_config_at(&moto.endpoint).await;
                let size = SEGMENT_WRITES.min(writes - i * SEGMENT_WRITES);
                total.absorb(segment(&sdk, size, i as u64 + 1).await);
            }
            total
        })
        .collect();
    let mut total = Segment::default();
    for lane in futures::future::join_all(lanes).await {
        total.absorb(lane);
    }
    let Segment {
        writes,
        changes,
        minimum,
        minimum_cascading,
        cascade_checks,
        calls,
        capture_time,
        capture_invocations,
        sync_time,
        write_time,
        pending_written: _,
        entities_synced,
        requests,
        differences,
        timings,
    } = total;
    if !differences.is_empty() {
        eprintln!(
            "remote differs from local: {:?}",
            &differences[..differences.len().min(10)]
        );
    }
    let count = |op: &str| requests.get(op).copied().unwrap_or(0);
    let entities = entities_synced;
    let batched_minimum = changes.div_ceil(1000) as u64 // GetRecords
        + 3 * changes.div_ceil(10) as u64 // SendMessageBatch, ReceiveMessage, DeleteMessageBatch
        + entities.div_ceil(100) // BatchGetItem of the states
        + 2 * entities.div_ceil(25); // BatchWriteItem: journal, outcomes
    let total_requests: u64 = requests.values().sum();
    println!("workload AWS requests: {requests:?}");
    for (op, (n, total)) in &timings {
        println!("  {op}: {n} × {:?}", *total / (*n).max(1));
    }
    println!(
        "workload time (summed over lanes): writes {write_time:?}, capture {capture_time:?}, sync {sync_time:?}"
    );

    // Cost, per change: Lambda time and requests, SQS requests, DynamoDB request units
    // (items up to 1 KB written, state reads strongly consistent, the index query at 4 KB).
    let sqs_requests: u64 = requests
        .iter()
        .filter(|(k, _)| k.starts_with("SQS"))
        .map(|(_, v)| v)
        .sum();
    // Every sync write is a single-item request of one item under 1 KB (the intake's
    // journal included: it is a conditional PutItem per entity, already among the
    // PutItems); the lease's UpdateItems too.
    let wru =
        count("DynamoDB.PutItem") + count("DynamoDB.DeleteItem") + count("DynamoDB.UpdateItem");
    let rru = entities + entities.div_ceil(4);
    let cost = capture_time.as_secs_f64() * CAPTURE_GB * price::LAMBDA_GB_SECOND
        + capture_invocations as f64 * price::LAMBDA_REQUEST
        + sync_time.as_secs_f64() * SYNC_GB * price::LAMBDA_GB_SECOND
        + sqs_requests as f64 * price::SQS_FIFO_REQUEST
        + wru as f64 * price::DYNAMODB_WRU
        + rru as f64 * price::DYNAMODB_RRU;
    let per_million = cost / changes as f64 * 1e6;

    vec![
        Figure {
            key: "remote_calls_ratio",
            what: format!(
                "{writes} random API writes ({changes} changes captured; a sync every {EPOCH_WRITES} writes): remote calls ÷ the merge rules' minimum ({} ÷ {minimum})",
                calls.total()
            ),
            value: calls.total() as f64 / minimum as f64,
            unit: "×",
            bound: Bound::AtMost(1.0),
        },
        Figure {
            key: "remote_calls_ratio_cascading",
            what: format!(
                "the same: remote calls ÷ the minimum where a deleted post's comments cost nothing, as json-server deletes them with the post ({} ÷ {minimum_cascading}; besides, {cascade_checks} reads of what a deleted post left behind)",
                calls.total()
            ),
            value: calls.total() as f64 / minimum_cascading as f64,
            unit: "×",
            bound: Bound::AtMost(1.0),
        },
        Figure {
            key: "remote_equals_local",
            what: "after that workload the remote equals the local copy (1 = yes)".into(),
            value: f64::from(u8::from(differences.is_empty())),
            unit: "",
            bound: Bound::AtLeast(1.0),
        },
        Figure {
            key: "aws_requests_ratio",
            what: format!(
                "DynamoDB + Streams + SQS requests of capture and sync ÷ batched minimum ({total_requests} ÷ {batched_minimum}; {:.2} per change)",
                total_requests as f64 / changes as f64
            ),
            value: total_requests as f64 / batched_minimum as f64,
            unit: "×",
            bound: Bound::AtMost(3.0),
        },
        Figure {
            key: "sync_seconds_per_1000_changes",
            what: "sync run time per 1,000 captured changes (remote limit 500/s, against moto)"
                .into(),
            value: sync_time.as_secs_f64() / changes as f64 * 1000.0,
            unit: "s",
            bound: Bound::None,
        },
        Figure {
            key: "dynamodb_write_units_per_change",
            what: format!(
                "DynamoDB write request units per captured change ({wru} ÷ {changes}; each entity synced costs its journal write and its outcome write, a create or delete also its id claim)"
            ),
            value: wru as f64 / changes as f64,
            unit: "WRU",
            bound: Bound::None,
        },
        Figure {
            key: "cost_per_million_changes_usd",
            what: "AWS list-price cost per million changes captured and synced (Lambda arm64, SQS FIFO, DynamoDB on-demand)".into(),
            value: per_million,
            unit: "USD",
            bound: Bound::AtMost(1.0),
        },
    ]
}

/// The intake alone: `messages` queued changes (one per entity, as a backlog of edits to
/// many posts is) taken in by one run against moto, whose remote refuses connections so the
/// flush stops at its first call. Messages journaled per second, and the run's AWS requests
/// per message.
pub async fn intake_figures(messages: u64) -> Vec<Figure> {
    let moto = start_moto().await;
    let sdk = sdk_config_at(&moto.endpoint).await;
    let counter = RequestCounter::default();
    let store = counted_store(&sdk, &counter).await;
    let queue = counted_sqs(&sdk, &counter, &prefix("intake")).await;
    let events: Vec<ChangeEvent> = (1..=messages)
        .map(|id| ChangeEvent {
            key: EntityKey::post(id),
            change: ChangeKind::Modify,
            post_id: id,
            after: Some(EntityData::Post(Post {
                user_id: 1,
                id,
                title: format!("edited {id}"),
                body: "b".into(),
            })),
            version: 2,
            sequence: format!("{id:021}").parse().expect("21 digits"),
            event_id: format!("intake-{id}"),
        })
        .collect();
    use ps_core::ports::ChangeSink;
    let failed = queue.send(&events).await.expect("enqueue");
    assert!(failed.is_empty(), "not enqueued: {failed:?}");
    counter.reset();
    // Port 9 (discard) refuses: the remote is unavailable, so the flush stops at once.
    // moto's FIFO queue takes time in proportion to the messages it holds for every request,
    // so a run gets the time it needs here; its share of the time is reported.
    let report = BenchSync::new("http://127.0.0.1:9", 100, &queue)
        .engine_with_budget(&queue, &store, Duration::from_secs(3600))
        .run()
        .await
        .expect("sync");
    // A message moto makes visible again mid-run is received twice (and merged away).
    assert_eq!(report.pending_written, messages, "{report:?}");
    let requests: u64 = counter.snapshot().values().sum();
    println!("intake AWS requests: {:?}", counter.snapshot());
    let per_second = messages as f64 / (report.intake_ms.max(1) as f64 / 1000.0);
    let emulator_share = (counter.time_in_service().as_secs_f64()
        / (report.duration_ms.max(1) as f64 / 1000.0))
        .min(1.0);
    vec![
        Figure {
            key: "intake_messages_per_s",
            what: format!(
                "intake: a backlog of {messages} queued changes received, journaled and deleted by one run against moto ({} ms; at this pace the intake's share on AWS, 45 s, takes {:.0})",
                report.intake_ms,
                per_second * 45.0
            ),
            value: per_second,
            unit: "messages/s",
            bound: Bound::None,
        },
        Figure {
            key: "intake_emulator_share",
            what: "that run's time spent waiting on moto's answers (its requests' time in flight ÷ the run's, at most 1)".into(),
            value: emulator_share,
            unit: "",
            bound: Bound::None,
        },
        Figure {
            key: "intake_requests_per_message",
            what: format!(
                "that run's SQS and DynamoDB requests per message ({requests} ÷ {messages}; receives, deletes, state reads and journal writes, and the flush's first page read)"
            ),
            value: requests as f64 / messages as f64,
            unit: "",
            bound: Bound::None,
        },
    ]
}

/// A remote that answers at once and records when each request arrived.
async fn recording_remote() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let next_id = Arc::new(std::sync::atomic::AtomicU64::new(1000));
    let log = arrivals.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        let next_id = next_id.clone();
        async move {
            log.lock().expect("log").push(Instant::now());
            let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match *req.method() {
                axum::http::Method::POST => (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"id": id})),
                ),
                axum::http::Method::GET => (axum::http::StatusCode::OK, axum::Json(json!([]))),
                _ => (axum::http::StatusCode::OK, axum::Json(json!({}))),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, arrivals)
}

/// The most requests in any one-second window starting at a request.
fn busiest_second(arrivals: &[Instant]) -> usize {
    let mut most = 0;
    let mut end = 0;
    for (start, at) in arrivals.iter().enumerate() {
        while end < arrivals.len() && arrivals[end].duration_since(*at) < Duration::from_secs(1) {
            end += 1;
        }
        most = most.max(end - start);
    }
    most
}

/// Creates of `entities` new posts, each in a group of its own.
fn creates(tag: &str, entities: u64) -> Vec<ChangeEvent> {
    (1..=entities)
        .map(|id| ChangeEvent {
            key: EntityKey::post(id),
            change: ChangeKind::Insert,
            post_id: id,
            after: Some(EntityData::Post(Post {
                user_id: ps_core::NEW_POST_USER_ID,
                id,
                title: format!("rate {id}"),
                body: "b".into(),
            })),
            version: 1,
            sequence: format!("{id:021}").parse().expect("21 digits"),
            event_id: format!("{tag}-{id}"),
        })
        .collect()
}

/// Calls per second ÷ the limit, and the busiest 1-second window.
fn utilisation(arrivals: &Mutex<Vec<Instant>>, limit: u32) -> (f64, usize) {
    let arrivals = arrivals.lock().expect("log").clone();
    let span = arrivals
        .last()
        .zip(arrivals.first())
        .map(|(last, first)| last.duration_since(*first).as_secs_f64())
        .unwrap_or_default();
    // n calls spaced at the limit span (n - 1) intervals.
    let rate = (arrivals.len() as f64 - 1.0) / span;
    let busiest = busiest_second(&arrivals);
    if busiest > limit as usize {
        let mut sorted: Vec<u128> = arrivals
            .windows(2)
            .map(|w| w[1].duration_since(w[0]).as_micros())
            .collect();
        sorted.sort_unstable();
        eprintln!(
            "limit {limit}/s: {busiest} arrivals in one second; the shortest gaps between arrivals (µs) {:?}, the longest {:?}",
            &sorted[..10.min(sorted.len())],
            &sorted[sorted.len().saturating_sub(10)..]
        );
    }
    (rate / f64::from(limit), busiest)
}

/// With the limit at 20, 50 and 100 calls/s: creates of `seconds × limit` new posts, each in
/// a group of its own, synced to a remote that keeps up. Then the engine's own ceiling: the
/// same at 100/s with the state store in memory, answering after 10 ms each and many at once,
/// as DynamoDB does (moto answers one request at a time), and the queue in memory (only the
/// intake, before the first call, uses it).
pub async fn rate_limit_figures(seconds: u32) -> Vec<Figure> {
    let mut figures = Vec::new();
    let mut lowest = f64::MAX;
    let mut violations = 0u64;
    for limit in [20u32, 50, 100] {
        // A fresh emulator, so earlier parts' tables do not slow its bookkeeping.
        let moto = start_moto().await;
        let sdk = sdk_config_at(&moto.endpoint).await;
        let counter = RequestCounter::default();
        let store = counted_store(&sdk, &counter).await;
        // A deployment whose import ran (here of an empty remote): its marks recorded.
        store.record_import(0, 0).await.expect("import marks");
        let queue = counted_sqs(&sdk, &counter, &prefix(&format!("rate{limit}"))).await;
        let entities = u64::from(limit * seconds);
        use ps_core::ports::ChangeSink;
        let failed = queue
            .send(&creates(&format!("rate-{limit}"), entities))
            .await
            .expect("enqueue");
        assert!(failed.is_empty(), "not enqueued: {failed:?}");

        let (url, arrivals) = recording_remote().await;
        counter.reset();
        let report = BenchSync::new(&url, limit, &queue)
            .engine(&queue, &store)
            .run()
            .await
            .expect("sync");
        assert_eq!(report.entities_synced, entities, "{report:?}");
        // The flush's time with at least one request waiting on moto, which answers one at
        // a time (1: moto was never idle), and how many waited on average.
        let flush_secs = (report.duration_ms - report.intake_ms).max(1) as f64 / 1000.0;
        let busy = counter.time_busy().as_secs_f64();
        let moto_busy = (busy / flush_secs).min(1.0);
        let queued = counter.time_in_service().as_secs_f64() / busy.max(1e-9);
        let per_call = counter.snapshot().values().sum::<u64>() as f64 / entities as f64;
        let calls = arrivals.lock().expect("log").len();
        let (utilisation, busiest) = utilisation(&arrivals, limit);
        violations += u64::from(busiest > limit as usize);
        lowest = lowest.min(utilisation);
        figures.push(Figure {
            key: leak(format!("rate_limit_utilisation_{limit}")),
            what: format!(
                "limit {limit}/s: entities synced per second ÷ the limit ({calls} calls, busiest second {busiest}; {per_call:.2} AWS requests per create; moto busy {moto_busy:.2} of the flush, {queued:.1} requests waiting on it on average)"
            ),
            value: utilisation,
            unit: "",
            bound: Bound::AtLeast(0.95),
        });
    }
    figures.push(Figure {
        key: "rate_limit_utilisation_min",
        what: "lowest utilisation of the three limits against moto".into(),
        value: lowest,
        unit: "",
        bound: Bound::AtLeast(0.95),
    });

    let limit = 100;
    let entities = u64::from(limit * seconds);
    let states = ps_memory::MemoryStates::new();
    states.import_nothing();
    states.set_io_delay(Duration::from_millis(10));
    let queue = ps_memory::MemoryQueue::new(Duration::from_secs(180));
    use ps_core::ports::ChangeSink;
    queue
        .send(&creates("rate-engine", entities))
        .await
        .expect("enqueue");
    let (url, arrivals) = recording_remote().await;
    let mut remote = remote_config(&url);
    remote.rate_per_second = NonZeroU32::new(limit).expect("above 0");
    let remote = HttpRemote::new(remote).expect("remote");
    let dead = ps_memory::MemoryDeadLetters::default();
    let budget = Duration::from_secs(600);
    let config = SyncConfig::default();
    let report = SyncEngine {
        source: &queue,
        states: &states,
        remote: &remote,
        parked: &dead,
        config: SyncConfig {
            budget,
            lease: budget + config.call_deadline + Duration::from_secs(30),
            ..config
        },
    }
    .run()
    .await
    .expect("sync");
    assert_eq!(report.entities_synced, entities, "{report:?}");
    let (utilisation, busiest) = utilisation(&arrivals, limit);
    violations += u64::from(busiest > limit as usize);
    figures.push(Figure {
        key: "rate_limit_utilisation_100_engine",
        what: format!(
            "limit 100/s with the state store answering in 10 ms, many at once, as DynamoDB does (moto answers one at a time): the engine's own ceiling (busiest second {busiest})"
        ),
        value: utilisation,
        unit: "",
        bound: Bound::AtLeast(0.95),
    });
    figures.push(Figure {
        key: "rate_limit_violations",
        what: "runs whose busiest 1-second window held more calls than the limit".into(),
        value: violations as f64,
        unit: "",
        bound: Bound::AtMost(0.0),
    });
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_second_counts_a_sliding_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let arrivals = [at(0), at(400), at(999), at(1000), at(1500), at(1600)];
        // [400, 1400) holds 400, 999, 1000; [999, 1999) holds 999, 1000, 1500, 1600.
        assert_eq!(busiest_second(&arrivals), 4);
        assert_eq!(busiest_second(&[]), 0);
    }

    #[test]
    fn a_deleted_posts_comments_cost_nothing_on_a_cascading_remote() {
        let before = BTreeMap::from([
            (EntityKey::post(1), json!({"title": "a"})),
            (EntityKey::comment(1), json!({"postId": 1})),
            (EntityKey::comment(2), json!({"postId": 1})),
            (EntityKey::post(2), json!({"title": "b"})),
            (EntityKey::comment(3), json!({"postId": 2})),
        ]);
        // Post 1 deleted with its comments: one call; comment 3 deleted alone: one call.
        let after = BTreeMap::from([(EntityKey::post(2), json!({"title": "b"}))]);
        assert_eq!(minimum_calls(&before, &after), 4);
        assert_eq!(minimum_calls_cascading(&before, &after), 2);
    }

    #[test]
    fn the_minimum_counts_net_changes_only() {
        let v = |s: &str| json!({"title": s});
        let before = BTreeMap::from([
            (EntityKey::post(1), v("a")),
            (EntityKey::post(2), v("b")),
            (EntityKey::post(3), v("c")),
        ]);
        let after = BTreeMap::from([
            (EntityKey::post(1), v("a")),  // unchanged (or changed back): no call
            (EntityKey::post(2), v("b2")), // updated: one PUT
            (EntityKey::post(4), v("d")),  // created: one POST
        ]); // post 3 deleted: one DELETE
        assert_eq!(minimum_calls(&before, &after), 3);
    }
}

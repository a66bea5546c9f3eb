//! `make bench`: measures placeholder-sync on this machine against the local stand-ins (moto
//! server, json-server) and writes `BENCHMARKS.md` and `bench/results.json`. Each figure is
//! compared with its bound; a figure this report does not measure yet is listed as such,
//! never filled in.

mod counter;
mod drift;
mod init;
mod sim;
mod sync;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use counter::{RequestCounter, counted_store};
use placeholder_sync_tests::sync::JsonServer;
use placeholder_sync_tests::{Api, sdk_config_at, workspace_root};
use serde::Serialize;
use serde_json::{Value, json};

/// How a figure compares with its bound.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
enum Bound {
    AtLeast(f64),
    AtMost(f64),
    /// Shown for information.
    None,
}

#[derive(Debug, Clone, Serialize)]
struct Figure {
    key: &'static str,
    what: String,
    value: f64,
    unit: &'static str,
    bound: Bound,
}

impl Figure {
    fn ratio(&self) -> Option<f64> {
        match self.bound {
            Bound::AtLeast(b) | Bound::AtMost(b) if b != 0.0 => Some(self.value / b),
            _ => None,
        }
    }

    fn passed(&self) -> Option<bool> {
        match self.bound {
            Bound::AtLeast(b) => Some(self.value >= b),
            Bound::AtMost(b) => Some(self.value <= b),
            Bound::None => None,
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Merge throughput from criterion's estimates (`cargo bench -p ps-core --bench merge`).
fn merge_figures(target: &Path) -> Result<Vec<Figure>, String> {
    let per_event_ns = |n: u64| -> Result<f64, String> {
        let path = target.join(format!("criterion/merge/{n}/new/estimates.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (run the criterion bench first)", path.display()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(v["mean"]["point_estimate"].as_f64().ok_or("no mean")? / n as f64)
    };
    let large = per_event_ns(1_000_000)?;
    let small = per_event_ns(1_000)?;
    Ok(vec![
        Figure {
            key: "merge_events_per_s",
            what: "change events merged per second (10^6 events, 10^5 entities)".into(),
            value: 1e9 / large,
            unit: "events/s",
            bound: Bound::AtLeast(1e6),
        },
        Figure {
            key: "merge_cost_growth",
            what: "time per event at 10^6 events ÷ at 10^3 (1 = perfectly linear)".into(),
            value: large / small,
            unit: "×",
            bound: Bound::AtMost(4.0),
        },
    ])
}

// Each part that fills moto starts a server of its own, gone with the part: moto keeps every
// table it is given (the status part's 100,000 states held one shared server at 7 GB for the
// rest of a run, beside the workload's two).

/// Handlers in-process against the emulator: latency, and how much of it is the emulator.
async fn api_figures() -> Vec<Figure> {
    let counter = RequestCounter::default();
    let moto = placeholder_sync_tests::start_moto().await;
    let api = Api::with_store(counted_store(&sdk_config_at(&moto.endpoint).await, &counter).await);
    let (posts, comments) = placeholder_sync_tests::fixture();
    api.store.import(&posts, &comments).await.expect("seed");
    let mut figures = Vec::new();
    for (key, what, path) in [
        ("api_get_p99_ms", "GET /posts/{id}", "/posts/42"),
        (
            "api_list_all_p99_ms",
            "GET /posts (all 100 posts)",
            "/posts",
        ),
        ("api_post_p99_ms", "POST /posts", "/posts"),
    ] {
        let mut latencies = Vec::with_capacity(300);
        counter.reset();
        let started = Instant::now();
        for _ in 0..300 {
            let t = Instant::now();
            let status = if what.starts_with("POST") {
                api.write("POST", path, json!({"title": "bench", "body": "b"}))
                    .await
                    .status
            } else {
                api.get(path).await.status
            };
            assert!(status < 300, "{what} answered {status}");
            latencies.push(t.elapsed());
        }
        let total = started.elapsed();
        latencies.sort();
        let share = counter.time_in_service().as_secs_f64() / total.as_secs_f64();
        figures.push(Figure {
            key,
            what: format!("{what}: p99 latency, handler in-process"),
            value: percentile(&latencies, 0.99),
            unit: "ms",
            bound: Bound::None,
        });
        figures.push(Figure {
            key: leak(format!("{}_p50_ms", key.trim_end_matches("_p99_ms"))),
            what: format!("{what}: p50 latency"),
            value: percentile(&latencies, 0.5),
            unit: "ms",
            bound: Bound::None,
        });
        figures.push(Figure {
            key: leak(format!("{}_rps", key.trim_end_matches("_p99_ms"))),
            what: format!("{what}: requests/s, one client"),
            value: 300.0 / total.as_secs_f64(),
            unit: "req/s",
            bound: Bound::None,
        });
        figures.push(Figure {
            key: leak(format!(
                "{}_emulator_share",
                key.trim_end_matches("_p99_ms")
            )),
            what: format!("{what}: share of the time spent waiting on the emulator"),
            value: share,
            unit: "",
            bound: Bound::None,
        });
    }
    figures
}

/// `GET /posts?_page=1&_limit=10`: DynamoDB items read with 100 posts and with 10,000, and
/// its latency at 10,000.
async fn list_figures() -> Vec<Figure> {
    const PAGE: &str = "/posts?_page=1&_limit=10";
    let counter = RequestCounter::default();
    let moto = placeholder_sync_tests::start_moto().await;
    let sdk = sdk_config_at(&moto.endpoint).await;
    let mut read = Vec::new();
    let mut latencies = Vec::with_capacity(300);
    let mut emulator_share = 0.0;
    for n in [100u64, 10_000] {
        let api = Api::with_store(counted_store(&sdk, &counter).await);
        let posts: Vec<ps_core::Post> = (1..=n)
            .map(|id| ps_core::Post {
                user_id: 1 + id % 10,
                id,
                title: format!("post {id}"),
                body: "body".into(),
            })
            .collect();
        api.store.import(&posts, &[]).await.expect("seed");
        counter.reset();
        let r = api.get(PAGE).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-total-count"), Some(n.to_string()));
        read.push(counter.items_read() as f64);
        if n == 10_000 {
            counter.reset();
            let started = Instant::now();
            for _ in 0..300 {
                let t = Instant::now();
                assert_eq!(api.get(PAGE).await.status, 200);
                latencies.push(t.elapsed());
            }
            emulator_share =
                counter.time_in_service().as_secs_f64() / started.elapsed().as_secs_f64();
        }
    }
    latencies.sort();
    vec![
        Figure {
            key: "api_first_page_items_read_100",
            what: format!("{PAGE} with 100 posts: DynamoDB items read"),
            value: read[0],
            unit: "items",
            bound: Bound::None,
        },
        Figure {
            key: "api_first_page_items_read_ratio",
            what: format!("{PAGE}: items read with 10,000 posts ÷ with 100"),
            value: read[1] / read[0],
            unit: "×",
            bound: Bound::AtMost(1.5),
        },
        Figure {
            key: "api_list_p99_ms",
            what: format!("{PAGE} with 10,000 posts: p99 latency, handler in-process"),
            value: percentile(&latencies, 0.99),
            unit: "ms",
            bound: Bound::None,
        },
        Figure {
            key: "api_list_p50_ms",
            what: format!("{PAGE} with 10,000 posts: p50 latency"),
            value: percentile(&latencies, 0.5),
            unit: "ms",
            bound: Bound::None,
        },
        Figure {
            key: "api_list_emulator_share",
            what: format!(
                "{PAGE} with 10,000 posts: share of the time spent waiting on the emulator \
                 (moto answers an index query by scanning the table)"
            ),
            value: emulator_share,
            unit: "",
            bound: Bound::None,
        },
    ]
}

/// `GET /sync/status`'s DynamoDB side (the entities' figures and the last report): items
/// read with 600 entities and with 100,000 (both with 5 pending, 2 failed and 1 waiting),
/// and its latency at 100,000. It reads the list counters and two sparse indexes, never
/// the states in line, so the ratio stays near 1.
async fn status_figures() -> Vec<Figure> {
    use ps_core::change::EntityKey;
    use ps_core::merge::{SyncState, SyncStatus};
    let counter = RequestCounter::default();
    let moto = placeholder_sync_tests::start_moto().await;
    let sdk = sdk_config_at(&moto.endpoint).await;
    let mut read = Vec::new();
    let mut latencies = Vec::with_capacity(100);
    for n in [600u64, 100_000] {
        let store = counted_store(&sdk, &counter).await;
        let states: Vec<(EntityKey, SyncState)> = (1..=n)
            .map(|id| {
                let (status, error) = match id {
                    1..=2 => (
                        SyncStatus::Failed,
                        Some("remote rejected the call: 422".into()),
                    ),
                    3 => (SyncStatus::Waiting, Some("waiting for its post".into())),
                    _ => (SyncStatus::Synced, None),
                };
                let state = SyncState {
                    status,
                    last_error: error,
                    ..SyncState::default()
                };
                (EntityKey::post(id), state)
            })
            .collect();
        for chunk in states.chunks(2_500) {
            store.save_states(chunk).await.expect("seed states");
        }
        counter.reset();
        let summary = store.state_summary().await.expect("status");
        store.last_report().await.expect("report");
        assert_eq!((summary.failed, summary.waiting), (2, 1));
        read.push(counter.items_read().max(1) as f64);
        if n == 100_000 {
            for _ in 0..100 {
                let t = Instant::now();
                store.state_summary().await.expect("status");
                store.last_report().await.expect("report");
                latencies.push(t.elapsed());
            }
        }
    }
    latencies.sort();
    vec![
        Figure {
            key: "status_items_read_600",
            what: "GET /sync/status with 600 entities: DynamoDB items read".into(),
            value: read[0],
            unit: "items",
            bound: Bound::None,
        },
        Figure {
            key: "status_items_read_ratio",
            what: "GET /sync/status: items read with 100,000 entities ÷ with 600".into(),
            value: read[1] / read[0],
            unit: "×",
            bound: Bound::AtMost(1.5),
        },
        Figure {
            key: "status_p99_ms",
            what: "GET /sync/status with 100,000 entities: p99 of its DynamoDB reads, in-process against moto".into(),
            value: percentile(&latencies, 0.99),
            unit: "ms",
            bound: Bound::None,
        },
    ]
}

/// Machine clients and the token endpoint, in-process against moto: how fast a signed batch
/// of 100 creates is applied, and how many failed logins a name gets before the 429.
async fn ingest_figures() -> Vec<Figure> {
    use placeholder_sync_tests::api::INGEST_SECRET;
    let counter = RequestCounter::default();
    let moto = placeholder_sync_tests::start_moto().await;
    let mut api =
        Api::with_store(counted_store(&sdk_config_at(&moto.endpoint).await, &counter).await);
    api.ingest.per_minute = 1_000_000;
    let batches: usize = std::env::var("BENCH_INGEST_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut items = 0usize;
    let started = Instant::now();
    for b in 0..batches {
        let body = json!({"items": (0..100).map(|i| json!({
            "op": "upsert", "entity": "post",
            "data": {"title": format!("bench {b}-{i}"), "body": "pushed by a machine"}
        })).collect::<Vec<_>>()})
        .to_string()
        .into_bytes();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let header = ps_http::signature::header_value("acme", INGEST_SECRET, t, &body);
        let r = api
            .request(
                "POST",
                "/ingest",
                &[("x-ingest-signature", header.as_str())],
                Some(&body),
            )
            .await;
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        items += r.json()["accepted"].as_u64().expect("accepted") as usize;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_s = items as f64 / elapsed;
    let emulator_share = counter.time_in_service().as_secs_f64() / elapsed;

    let wrong = json!({"username": "demo", "password": "not the password"}).to_string();
    let mut failures = 0u64;
    loop {
        let r = api
            .request_from(
                "203.0.113.9",
                "POST",
                "/auth/token",
                &[("content-type", "application/json")],
                Some(wrong.as_bytes()),
            )
            .await;
        match r.status {
            401 => failures += 1,
            429 => break,
            other => panic!("a failed login answered {other}"),
        }
        assert!(failures <= 100, "no 429 after 100 failed logins");
    }
    vec![
        Figure {
            key: "ingest_items_per_s",
            what: format!(
                "POST /ingest: items applied per second, {batches} signed batches of 100 creates into a fresh table, in-process against moto"
            ),
            value: per_s,
            unit: "items/s",
            bound: Bound::None,
        },
        Figure {
            key: "ingest_emulator_share",
            what: "POST /ingest: share of that time spent waiting on the emulator (moto copies the whole table and its stream for each transaction, so it slows as the table grows)".into(),
            value: emulator_share,
            unit: "",
            bound: Bound::None,
        },
        Figure {
            key: "login_attempts_before_429",
            what: "failed logins for one user name before POST /auth/token answers 429".into(),
            value: failures as f64,
            unit: "attempts",
            bound: Bound::AtMost(10.0),
        },
    ]
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A remote holding `posts` posts with `per_post` comments each.
fn generated_db(dir: &Path, posts: u64, per_post: u64) -> PathBuf {
    let mut post_list = Vec::new();
    let mut comment_list = Vec::new();
    for p in 1..=posts {
        post_list.push(json!({"userId": p % 10 + 1, "id": p, "title": format!("post {p}"), "body": "generated body"}));
        for c in 0..per_post {
            let id = (p - 1) * per_post + c + 1;
            comment_list.push(json!({"postId": p, "id": id, "name": format!("c{id}"), "email": "g@example.com", "body": "generated"}));
        }
    }
    let path = dir.join("db.json");
    std::fs::write(
        &path,
        json!({"posts": post_list, "comments": comment_list}).to_string(),
    )
    .expect("db");
    path
}

/// The count items an import of `remote` writes: one per kind, one per user with posts and
/// one per post with comments.
async fn count_items(remote: &str) -> u64 {
    let parents = |path: &'static str, field: &'static str| async move {
        let records: Vec<Value> = reqwest::get(format!("{remote}/{path}"))
            .await
            .expect("remote")
            .json()
            .await
            .expect("records");
        let distinct: std::collections::HashSet<u64> =
            records.iter().filter_map(|r| r[field].as_u64()).collect();
        1 + distinct.len() as u64
    };
    parents("posts", "userId").await + parents("comments", "postId").await
}

/// Import time and DynamoDB requests against the batched minimum: one BatchWriteItem per 25
/// sync states and per 25 of the items and their count items (one per kind and one per
/// parent: a user's posts, a post's comments), the two id counters' and the marks' updates,
/// and the Query pages that read the table.
async fn import_figures(
    counter: &RequestCounter,
    remote: &str,
    label: &str,
    suffix: &str,
    items: u64,
) -> Vec<Figure> {
    // A moto server of its own, gone with this part: moto keeps every table it was given, and
    // the 60,000-entity import left the shared one at 7.7 GB for the rest of the run.
    let moto = placeholder_sync_tests::start_moto().await;
    let store = counted_store(
        &placeholder_sync_tests::sdk_config_at(&moto.endpoint).await,
        counter,
    )
    .await;
    counter.reset();
    let started = Instant::now();
    let report = import::import(&store, remote, false).await.expect("import");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        (report.posts_written + report.comments_written) as u64,
        items
    );
    let requests = counter.total("DynamoDB");
    let queries = counter
        .snapshot()
        .get("DynamoDB.Query")
        .copied()
        .unwrap_or(0);
    let counts = count_items(remote).await;
    let minimum = items.div_ceil(25) + (items + counts).div_ceil(25) + 2 + 1 + queries;
    vec![
        Figure {
            key: leak(format!("import_seconds{suffix}")),
            what: format!("import of {label}: wall time"),
            value: seconds,
            unit: "s",
            bound: Bound::None,
        },
        Figure {
            key: leak(format!("import_requests_ratio{suffix}")),
            what: format!(
                "import of {label}: DynamoDB requests ÷ batched minimum ({requests} ÷ {minimum}; {counts} count items)"
            ),
            value: requests as f64 / minimum as f64,
            unit: "×",
            bound: Bound::AtMost(1.1),
        },
    ]
}

fn binary_figures(target: &Path) -> Vec<Figure> {
    let dir = target.join("lambda");
    let mut sizes: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let size = std::fs::metadata(e.path().join("bootstrap")).ok()?.len();
            Some((e.file_name().to_string_lossy().into_owned(), size))
        })
        .collect();
    sizes.sort();
    let mut figures: Vec<Figure> = sizes
        .iter()
        .map(|(name, size)| Figure {
            key: leak(format!("binary_bytes_{}", name.replace('-', "_"))),
            what: format!("{name}: release arm64 bootstrap"),
            value: *size as f64,
            unit: "bytes",
            bound: Bound::AtMost(10e6),
        })
        .collect();
    if let Some(max) = sizes.iter().map(|(_, s)| *s).max() {
        figures.push(Figure {
            key: "max_binary_bytes",
            what: "largest function binary (release, arm64)".into(),
            value: max as f64,
            unit: "bytes",
            bound: Bound::AtMost(10e6),
        });
    }
    figures
}

/// Cold start of every function, built for this machine with the report's optimisation.
/// The functions that verify tokens read their key (and auth-api its users) from Secrets
/// Manager at start, as on AWS: from a moto server of the bench's own here.
async fn init_figures(target: &Path) -> Vec<Figure> {
    let moto = placeholder_sync_tests::start_moto().await;
    let secrets = ps_aws::secrets::client(
        &placeholder_sync_tests::sdk_config_at(&moto.endpoint).await,
        None,
    );
    let key_arn = ps_aws::secrets::put(&secrets, "bench-token-key", &"k".repeat(64))
        .await
        .expect("the token key secret");
    let users_arn = ps_aws::secrets::put(
        &secrets,
        "bench-auth-users",
        &json!({"demo": ps_http_hash()}).to_string(),
    )
    .await
    .expect("the users secret");
    let env: Vec<(&str, String)> = vec![
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("ENTITIES_TABLE", "entities".into()),
        ("META_TABLE", "meta".into()),
        ("CHANGE_QUEUE_URL", "http://127.0.0.1:9/q.fifo".into()),
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/dlq.fifo".into(),
        ),
        ("REMOTE_BASE_URL", "http://127.0.0.1:9".into()),
        ("JWT_SECRET_ARN", key_arn),
        ("AUTH_USERS_SECRET_ARN", users_arn),
    ];
    let mut figures = Vec::new();
    let mut worst: f64 = 0.0;
    for function in FUNCTIONS {
        let path = target.join("bench-report").join(function);
        // The best of five: start-up noise on a busy machine is not the binary's.
        let mut best = f64::MAX;
        for _ in 0..5 {
            match init::init_ms(&path, &env).await {
                Ok(ms) => best = best.min(ms),
                Err(e) => {
                    eprintln!("init: {e}");
                    break;
                }
            }
        }
        if best < f64::MAX {
            worst = worst.max(best);
            figures.push(Figure {
                key: leak(format!("init_ms_{}", function.replace('-', "_"))),
                what: format!("{function}: process start to ready for an event"),
                value: best,
                unit: "ms",
                bound: Bound::AtMost(50.0),
            });
        }
    }
    if !figures.is_empty() {
        figures.push(Figure {
            key: "max_init_ms",
            what: "slowest function start to ready (local runtime API)".into(),
            value: worst,
            unit: "ms",
            bound: Bound::AtMost(50.0),
        });
    }
    figures
}

const FUNCTIONS: &[&str] = &[
    "posts-api",
    "comments-api",
    "auth-api",
    "sync-api",
    "capture",
    "sync",
    "import",
];

fn ps_http_hash() -> String {
    ps_http::auth::hash_password("bench")
}

/// The keys every run must report (`bench/results.json` holds them, null if a part failed).
const REQUIRED: &[(&str, &str)] = &[
    (
        "ingest_items_per_s",
        "POST /ingest items applied per second",
    ),
    (
        "login_attempts_before_429",
        "failed logins for one name before a 429",
    ),
    ("merge_events_per_s", "change events merged per second"),
    ("sim_seeds", "simulated seeds (deterministic simulation)"),
    ("sim_lost", "entities lost across the simulated seeds"),
    (
        "sim_duplicated",
        "entities duplicated across the simulated seeds",
    ),
    (
        "sim_wrongly_parked",
        "changes wrongly parked across the simulated seeds",
    ),
    (
        "sim_faults_injected",
        "faults injected across the simulated seeds",
    ),
    ("outage_parked", "changes parked by a one-hour outage"),
    (
        "sync_memory_mb_100k_pending",
        "peak memory of a run facing 100,000 pending entities",
    ),
    (
        "chaos_runs",
        "make chaos: runs on the real local stack with processes killed",
    ),
    ("chaos_lost", "make chaos: changes lost"),
    ("chaos_duplicated", "make chaos: remote entities duplicated"),
    (
        "remote_calls_ratio",
        "remote calls per synced change ÷ the merge rules' minimum, 10,000 random writes",
    ),
    (
        "remote_calls_ratio_cascading",
        "the same, where a deleted post's comments cost nothing (json-server deletes them with it)",
    ),
    (
        "remote_equals_local",
        "the remote equals the local copy after that workload",
    ),
    (
        "rate_limit_utilisation_min",
        "entities synced per second ÷ the rate limit, lowest of 20/50/100 against moto",
    ),
    (
        "rate_limit_utilisation_100_engine",
        "the same at 100/s with a state store that answers in parallel, as DynamoDB does",
    ),
    (
        "rate_limit_violations",
        "runs whose busiest 1-second window held more calls than the limit",
    ),
    (
        "aws_requests_ratio",
        "DynamoDB, Streams and SQS requests per synced change ÷ batched minimum",
    ),
    (
        "dynamodb_write_units_per_change",
        "DynamoDB write request units per captured change",
    ),
    (
        "intake_messages_per_s",
        "queued changes journaled per second by one run, against moto",
    ),
    ("import_requests_ratio", "import requests ÷ batched minimum"),
    ("import_seconds", "import wall time"),
    ("api_get_p99_ms", "GET /posts/{id} p99 latency"),
    (
        "api_first_page_items_read_ratio",
        "first page's items read with 10,000 posts ÷ with 100",
    ),
    ("api_list_p99_ms", "first page p99 latency at 10,000 posts"),
    ("fuzz_requests", "schemathesis requests against the stack"),
    ("fuzz_5xx", "fuzzed answers that were a 5xx"),
    (
        "fuzz_nonconforming",
        "fuzzed answers off the OpenAPI document",
    ),
    ("max_binary_bytes", "largest function binary"),
    ("max_init_ms", "slowest cold start"),
    (
        "cost_per_million_changes_usd",
        "AWS list-price cost per million synced changes",
    ),
];

/// A figure's line in BENCHMARKS.md's table.
fn row(f: &Figure) -> String {
    let value = if f.value.abs() >= 1000.0 {
        format!("{:.0} {}", f.value, f.unit)
    } else {
        format!("{:.3} {}", f.value, f.unit)
    };
    let (bound, ratio) = match f.bound {
        Bound::AtLeast(b) => (format!("≥ {b}"), f.ratio()),
        Bound::AtMost(b) => (format!("≤ {b}"), f.ratio()),
        Bound::None => (String::new(), None),
    };
    let mark = match f.passed() {
        Some(true) => "ok",
        Some(false) => "**over bound**",
        None => "",
    };
    format!(
        "| {} (`{}`) | {} | {} | {} | {} |\n",
        f.what,
        f.key,
        value.trim(),
        bound,
        ratio.map(|r| format!("{r:.3}")).unwrap_or_default(),
        mark
    )
}

/// `BENCH_ONLY=… BENCH_MERGE=1`: puts a partial run's figures into the reports of the last
/// full run (their rows replaced or added, said so under the table), leaving the rest.
fn merge_reports(root: &Path, figures: &[Figure]) {
    let path = root.join("bench/results.json");
    let mut results: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("results.json"))
            .expect("results.json is a map");
    for f in figures {
        results.insert(f.key.to_owned(), json!(f.value));
    }
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&results).expect("json") + "\n",
    )
    .expect("results.json");
    let md_path = root.join("BENCHMARKS.md");
    let md = std::fs::read_to_string(&md_path).expect("BENCHMARKS.md");
    let mut lines: Vec<String> = md.lines().map(str::to_owned).collect();
    for f in figures {
        let tag = format!("(`{}`)", f.key);
        let new = row(f).trim_end().to_owned();
        lines.retain(|l| !(l.starts_with("- `") && l.contains(&format!("`{}`:", f.key))));
        match lines
            .iter()
            .position(|l| l.starts_with("| ") && l.contains(&tag))
        {
            Some(i) => lines[i] = new,
            None => {
                let last = lines
                    .iter()
                    .rposition(|l| l.starts_with("| "))
                    .expect("a table");
                lines.insert(last + 1, new);
            }
        }
    }
    let keys: Vec<String> = figures.iter().map(|f| format!("`{}`", f.key)).collect();
    let last = lines
        .iter()
        .rposition(|l| l.starts_with("| "))
        .expect("a table");
    lines.insert(
        last + 1,
        format!(
            "\nFrom a later partial run (`BENCH_ONLY`, same machine): {}.",
            keys.join(", ")
        ),
    );
    std::fs::write(&md_path, lines.join("\n") + "\n").expect("BENCHMARKS.md");
}

fn write_reports(root: &Path, figures: &[Figure]) {
    let mut results: BTreeMap<&str, Value> = BTreeMap::new();
    for f in figures {
        results.insert(f.key, json!(f.value));
    }
    for (key, _) in REQUIRED {
        results.entry(key).or_insert(Value::Null);
    }
    std::fs::create_dir_all(root.join("bench")).expect("bench dir");
    std::fs::write(
        root.join("bench/results.json"),
        serde_json::to_string_pretty(&results).expect("json") + "\n",
    )
    .expect("results.json");

    let mut md = String::from(
        "# Benchmarks\n\nWritten by `make bench` on this project's 2-core machine against the local stand-ins (moto server,\njson-server). `bench/results.json` has the same figures by key.\n\n| figure | value | bound | ratio | |\n| --- | --- | --- | --- | --- |\n",
    );
    for f in figures {
        md.push_str(&row(f));
    }
    let missing: Vec<_> = REQUIRED
        .iter()
        .filter(|(key, _)| !figures.iter().any(|f| f.key == *key))
        .collect();
    if !missing.is_empty() {
        md.push_str("\nNot measured in this run (null in `bench/results.json`; see its log):\n\n");
        for (key, what) in missing {
            md.push_str(&format!("- `{key}`: {what}\n"));
        }
    }
    md.push_str(NOTES);
    std::fs::write(root.join("BENCHMARKS.md"), md).expect("BENCHMARKS.md");
}

#[tokio::main]
async fn main() {
    let root = workspace_root();
    let target = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| root.join("target").display().to_string()),
    );
    if std::env::var_os("RUST_LOG").is_some() {
        ps_http::telemetry::init();
    }
    // BENCH_ONLY=workload,rate (say) runs those parts and only prints them.
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let part = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|p| p == name));
    let writes: usize = std::env::var("BENCH_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut figures = Vec::new();
    if part("merge") {
        match merge_figures(&target) {
            Ok(f) => figures.extend(f),
            Err(e) => eprintln!("merge: {e}"),
        }
    }
    if part("api") {
        figures.extend(api_figures().await);
    }
    if part("list") {
        figures.extend(list_figures().await);
    }
    if part("status") {
        figures.extend(status_figures().await);
    }
    if part("ingest") {
        figures.extend(ingest_figures().await);
    }
    let dir = tempfile_dir();
    if part("import") {
        let counter = RequestCounter::default();
        let remote = JsonServer::start().await;
        figures.extend(
            import_figures(&counter, &remote.url, "100 posts + 500 comments", "", 600).await,
        );
        let db = generated_db(&dir, 10_000, 5);
        let large = JsonServer::start_with(&db).await;
        figures.extend(
            import_figures(
                &counter,
                &large.url,
                "10,000 posts + 50,000 comments (100×)",
                "_100x",
                60_000,
            )
            .await,
        );
    }
    if part("workload") {
        figures.extend(sync::workload_figures(writes).await);
    }
    if part("intake") {
        figures.extend(sync::intake_figures(1000).await);
    }
    if part("rate") {
        figures.extend(sync::rate_limit_figures(8).await);
    }
    if part("drift") {
        figures.extend(drift::figures(&target, &dir).await);
    }
    if part("sim") {
        // Its seeds run on runtimes of their own, off this one.
        let target = target.clone();
        figures.extend(
            tokio::task::spawn_blocking(move || sim::figures(&target))
                .await
                .expect("the simulation"),
        );
    }
    if part("chaos") {
        figures.extend(chaos_figures(&root));
    }
    if part("fuzz") {
        figures.extend(fuzz_figures(&root));
    }
    if part("binaries") {
        figures.extend(binary_figures(&target));
    }
    if part("init") {
        figures.extend(init_figures(&target).await);
    }
    let _ = std::fs::remove_dir_all(dir);

    for f in &figures {
        println!("{:<40} {:>16.3} {}", f.key, f.value, f.unit);
        if only.is_some() {
            println!("    {}", f.what);
        }
    }
    if only.is_none() {
        write_reports(&root, &figures);
        println!("wrote BENCHMARKS.md and bench/results.json");
    } else if std::env::var_os("BENCH_MERGE").is_some() {
        merge_reports(&root, &figures);
        println!("merged these figures into BENCHMARKS.md and bench/results.json");
    }
}

/// How the figures were taken, below the table.
const NOTES: &str = "
How they are taken:

- **Merge**: criterion, the pure merge over 10^3..10^6 events spread over 10% as many entities.
- **Workload**: 10,000 random API writes (in-process handlers, seeded), mostly edits as a
  team's traffic is: updates of posts and comments (some back to the original data),
  creates, deletes (a post's delete removes its comments), new comments, posts created and
  deleted straight away. In ten segments of 1,000 writes, each over the real dataset imported
  into fresh tables and a fresh json-server, two segments at a time on two moto servers.
  After every 100 writes the stream is read in batches of 100 as the event source mapping
  delivers them, capture sends them to the FIFO queue, and a sync runs, as the schedule
  would. The minimum counts, per sync, one call per entity whose state differs from what the
  previous sync left on the remote (create, changed data, delete), none for the rest. Why
  segments and syncs every 100 writes: moto's FIFO queue recomputes every queue attribute
  over every message it holds for each message sent or received, and its transactions
  deep-copy the whole table with its stream, so one long run with a backlog of thousands
  costs it minutes per request (and gigabytes). That is the emulator's cost, not the
  system's; that changes of an entity spread over many receives still merge into one call is
  proven by the test `changes_beyond_one_receive_still_merge_into_one_call_per_entity`.
- **AWS requests** are counted by an SDK interceptor on the clients of the stream reader,
  capture and the sync. The batched minimum: one GetRecords per 1,000 records, one
  SendMessageBatch, ReceiveMessage and DeleteMessageBatch per 10 changes, one BatchGetItem
  per 100 entities, two BatchWriteItem per 25 entities (journal, outcome). The sync writes
  every state with its own conditional PutItem (BatchWriteItem takes no condition; the write
  unit costs the same), records each outcome right after its call, marks a create or update
  before it, and claims or releases a remote id around a create or delete: the price of
  exactly once against a remote without idempotency keys.
- **Cost** uses list prices (us-east-1, on-demand, no free tier): Lambda arm64
  $0.0000133334/GB-s and $0.20/M requests at 128 MB, SQS FIFO $0.50/M requests, DynamoDB
  $0.625/M write units and $0.125/M read units, Streams reads by a Lambda trigger free; the
  handler durations measured here (against moto, slower than DynamoDB) and items under 1 KB.
- **Ingest**: 10 batches of 100 post creates, each signed as a client signs it, through the
  in-process handler against one moto server: every create is its own transaction (post,
  counters, idempotency item), as an API create is. `login_attempts_before_429`: wrong
  passwords for one name from one address until the token endpoint answers 429.
- **Rate limit**: creates of 8 s × the limit new posts synced (on a fresh moto server) to a
  local remote that answers at once and records each arrival; utilisation is the calls per
  second between the first and last arrival ÷ the limit; a violation is a limit whose busiest
  1-s window (starting at any arrival) held more. The client spaces calls at 1/limit and
  lets a call go only a second after the answer to the call a limit back, so a call delayed
  in transit cannot squeeze an extra one into a window (it costs one round trip a second).
- **Simulation**: `placeholder-sync-sim`, seeds 0..10,000 on two threads (see the README's
  guarantees); each seed's faults are counted as they are met, not as scheduled. The outage
  figure is its own scenario on the same ports; the memory figure is the `backlog-memory`
  binary's heap high-water mark (a counting allocator) above its filled store.
- **Drift**: the `drift-60k` binary writes a json-server db of 10,000 posts and 50,000
  comments (5 per post) with planted drifts (20 records edited, a post deleted with its 5
  comments and 2 comments deleted, 5 posts copied, 3 foreign posts and 2 foreign comments,
  5 posts pending locally and edited there too), then reconciles the copy they came from (its
  sync states in memory, standing for the meta table's scan) against it over HTTP, pages of
  1,000 under a 100 calls/s limit. The pages needed: one per 1,000 records of each kind. Its
  heap is measured above the states (a counting allocator), as for the backlog.
- **Chaos**: `make chaos` writes `bench/chaos.json`; this report copies its figures.
- **Status**: the sync states of 600 and of 100,000 entities (2 failed, 1 waiting, the
  rest in line) written to a fresh meta table; DynamoDB items read by the status's reads
  (the list counters, the pending count through `byPending`, the problems through
  `byProblem`, the last report), counted from the SDK's answers. Its latency at 100,000 is
  moto's: moto answers an index query by scanning the table; DynamoDB reads only the index.
- **Binaries**: `cargo lambda build --release --arm64`; **init**: each function built for this
  machine, started against a minimal local Runtime API and a moto server holding the
  secrets the functions read at start, best of five.
";

/// Figures another command measured and left in `bench/<file>` (its runs take minutes of
/// their own, so `make bench` copies them rather than runs them).
fn copied_figures(
    root: &Path,
    file: &str,
    command: &str,
    specs: &[(&'static str, &'static str, &'static str, Bound)],
) -> Vec<Figure> {
    let Ok(text) = std::fs::read_to_string(root.join("bench").join(file)) else {
        eprintln!("no bench/{file} (run {command})");
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    specs
        .iter()
        .filter_map(|&(key, what, unit, bound)| {
            Some(Figure {
                key,
                what: what.into(),
                value: v[key].as_f64()?,
                unit,
                bound,
            })
        })
        .collect()
}

/// `make fuzz`'s figures: schemathesis against a stack of its own.
fn fuzz_figures(root: &Path) -> Vec<Figure> {
    copied_figures(
        root,
        "fuzz.json",
        "make fuzz",
        &[
            (
                "fuzz_requests",
                "make fuzz: requests schemathesis sent from openapi.json (writes included)",
                "requests",
                Bound::AtLeast(2000.0),
            ),
            (
                "fuzz_5xx",
                "make fuzz: answers that were a 5xx",
                "answers",
                Bound::AtMost(0.0),
            ),
            (
                "fuzz_nonconforming",
                "make fuzz: answers off the document (status, content type, headers, schema)",
                "answers",
                Bound::AtMost(0.0),
            ),
        ],
    )
}

/// `make chaos`'s figures: the real local stack under SIGKILL.
fn chaos_figures(root: &Path) -> Vec<Figure> {
    copied_figures(
        root,
        "chaos.json",
        "make chaos",
        &[
            (
                "chaos_runs",
                "make chaos: runs of a random workload with processes killed (SIGKILL)",
                "runs",
                Bound::AtLeast(50.0),
            ),
            (
                "chaos_lost",
                "make chaos: local entities missing on the remote after convergence",
                "entities",
                Bound::AtMost(0.0),
            ),
            (
                "chaos_duplicated",
                "make chaos: remote entities beyond the local copy",
                "entities",
                Bound::AtMost(0.0),
            ),
            (
                "chaos_kills",
                "make chaos: processes killed (functions mid-sync, the stream pump, the remote)",
                "kills",
                Bound::None,
            ),
            (
                "chaos_seconds",
                "make chaos: wall time",
                "s",
                Bound::AtMost(1200.0),
            ),
        ],
    )
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("placeholder-sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

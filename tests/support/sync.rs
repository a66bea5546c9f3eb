//! The import → stream → capture → queue → sync → remote path, over moto and a real remote.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use local_stack::stream::StreamReader;
use ps_core::change::{EntityKey, EntityKind};
use ps_core::merge::SyncState;
use ps_core::ports::SyncStateStore;
use ps_queue::{QueueCounts, SqsQueue};
use ps_remote::{HttpRemote, RemoteConfig};
use ps_sync::{SyncConfig, SyncEngine, SyncError, SyncReport};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::emulator::{ServerProcess, free_port};
use crate::{Api, fresh_store, sdk_config, workspace_root};

/// Test queues give a message back this fast when it was received and not deleted...
pub const VISIBILITY_SECONDS: u32 = 2;
/// ...and move it to the dead-letter queue after this many receives.
pub const MAX_RECEIVES: u32 = 3;
/// The sync parks a change in the dead-letter queue after this many failed attempts.
pub const MAX_ATTEMPTS: u32 = 3;

pub fn sync_config() -> SyncConfig {
    SyncConfig {
        budget: Duration::from_secs(60),
        max_attempts: MAX_ATTEMPTS,
        // The tests run in real time: a change the remote failed may be tried again at once.
        backoff: Duration::ZERO,
        ..SyncConfig::default()
    }
}

static QUEUE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A json-server serving a copy of the real dataset on a free port; stopped when dropped.
pub struct JsonServer {
    pub url: String,
    // Before the directory, so the server stops before its data file goes.
    _server: ServerProcess,
    _dir: tempfile::TempDir,
}

impl JsonServer {
    /// Serving a copy of the real dataset.
    pub async fn start() -> JsonServer {
        JsonServer::start_with(&workspace_root().join("fixtures/jsonplaceholder.json")).await
    }

    /// Serving a copy of `data` (a json-server db file).
    pub async fn start_with(data: &std::path::Path) -> JsonServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db.json");
        std::fs::copy(data, &db).expect("db copy");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let server = ServerProcess::start(
            ".tools/node/node_modules/.bin/json-server",
            &[
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--quiet",
                db.to_str().expect("a UTF-8 path"),
            ],
            &format!("{url}/posts/1"),
            Duration::from_secs(30),
        )
        .await;
        JsonServer {
            url,
            _server: server,
            _dir: dir,
        }
    }
}

pub fn remote_config(url: &str) -> RemoteConfig {
    let mut config = RemoteConfig::new(url);
    config.rate_per_second = std::num::NonZeroU32::new(1000).unwrap();
    config.timeout = Duration::from_secs(2);
    config.min_delay = Duration::from_millis(50);
    config.max_delay = Duration::from_secs(2);
    config
}

pub struct Pipeline {
    pub api: Api,
    pub queue: SqsQueue,
    pub remote_url: String,
    /// What the sync is told of the remote's cascading deletes (json-server's: on).
    pub deletes_cascade: bool,
    reader: Mutex<StreamReader>,
}

impl Pipeline {
    pub async fn new(remote_url: &str) -> Pipeline {
        let store = fresh_store().await;
        let config = sdk_config().await;
        let sqs = crate::sqs_client().await;
        let prefix = format!(
            "q{}-{}-{}-",
            std::process::id(),
            QUEUE_SEQ.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let urls = ps_queue::create_queues(&sqs, &prefix, VISIBILITY_SECONDS, MAX_RECEIVES)
            .await
            .expect("queues");
        let streams = aws_sdk_dynamodbstreams::Client::new(&config);
        let reader = StreamReader::open(streams, &store.tables().entities)
            .await
            .expect("stream");
        // Receives return at once when the queue is empty: only latency, not behaviour.
        let queue = SqsQueue::new(sqs, urls).with_receive_wait(0);
        let mut api = Api::with_store(store.clone());
        api.sync = Some(sync_api::SyncApi {
            deps: sync::SyncDeps {
                store,
                dead_letters: queue.dead_letters(),
                queue: queue.clone(),
                remote: HttpRemote::new(remote_config(remote_url)).expect("remote client"),
                config: sync_config(),
            },
            keys: crate::api::test_keys(),
            reconcile: ps_reconcile::ReconcileConfig {
                page_size: 40,
                ..ps_reconcile::ReconcileConfig::default()
            },
        });
        Pipeline {
            api,
            queue,
            remote_url: remote_url.to_owned(),
            deletes_cascade: true,
            reader: Mutex::new(reader),
        }
    }

    pub async fn import(&self) -> Result<import::ImportReport, import::ImportError> {
        import::import(&self.api.store, &self.remote_url, false).await
    }

    /// Everything new on the table's stream, as the event source mapping would deliver it.
    pub async fn stream_event(&self) -> Event {
        let event: Value = self
            .reader
            .lock()
            .await
            .read_event("us-east-1")
            .await
            .expect("stream read");
        serde_json::from_value(event).expect("a DynamoDB stream event")
    }

    /// Runs capture on whatever is new on the stream.
    pub async fn capture(&self) -> DynamoDbEventResponse {
        let event = self.stream_event().await;
        capture::handle(event, &self.queue).await
    }

    pub fn remote(&self) -> HttpRemote {
        let mut config = remote_config(&self.remote_url);
        config.deletes_cascade = self.deletes_cascade;
        HttpRemote::new(config).expect("remote client")
    }

    pub async fn sync_with(&self, states: &dyn SyncStateStore) -> Result<SyncReport, SyncError> {
        self.sync_over(states, sync_config()).await
    }

    /// A sync run with settings of the caller's.
    pub async fn sync_configured(&self, config: SyncConfig) -> Result<SyncReport, SyncError> {
        self.sync_over(&self.api.store, config).await
    }

    async fn sync_over(
        &self,
        states: &dyn SyncStateStore,
        config: SyncConfig,
    ) -> Result<SyncReport, SyncError> {
        let remote = self.remote();
        let dead_letters = self.queue.dead_letters();
        let engine = SyncEngine {
            source: &self.queue,
            states,
            remote: &remote,
            parked: &dead_letters,
            config,
        };
        engine.run().await
    }

    pub async fn sync(&self) -> SyncReport {
        self.sync_with(&self.api.store).await.expect("sync runs")
    }

    pub async fn counts(&self) -> QueueCounts {
        self.queue.counts().await.expect("queue counts")
    }

    pub async fn state(&self, key: EntityKey) -> SyncState {
        self.api
            .store
            .load(&[key])
            .await
            .expect("state")
            .remove(&key)
            .unwrap_or_default()
    }
}

/// GETs a JSON list from the remote.
pub async fn remote_list(url: &str, path: &str) -> Vec<Value> {
    reqwest::get(format!("{url}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The remote holds exactly the local posts and comments (ids mapped through the sync state),
/// apart from `foreign_posts`, put there by someone else.
pub async fn assert_remote_equals_local(p: &Pipeline, foreign_posts: &[u64]) {
    let differences = remote_differences(&p.api, &p.remote_url, foreign_posts).await;
    assert!(differences.is_empty(), "{differences:#?}");
}

/// The local copy, through the API, as `(kind, id) → fields`.
pub async fn local_entities(api: &Api) -> BTreeMap<EntityKey, Value> {
    let mut all = BTreeMap::new();
    for (path, key) in [
        ("/posts", EntityKey::post as fn(u64) -> EntityKey),
        ("/comments", EntityKey::comment),
    ] {
        for v in api
            .get(path)
            .await
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            all.insert(key(v["id"].as_u64().expect("id")), v);
        }
    }
    all
}

/// Where the remote differs from the local copy (ids mapped through the sync state), apart
/// from `foreign_posts`, put there by someone else. Empty when they are equal.
pub async fn remote_differences(api: &Api, remote_url: &str, foreign_posts: &[u64]) -> Vec<String> {
    let locals = local_entities(api).await;
    let remote_posts = remote_list(remote_url, "/posts").await;
    let remote_comments = remote_list(remote_url, "/comments").await;
    let index = |list: &[Value]| -> HashMap<u64, Value> {
        list.iter()
            .filter_map(|v| Some((v["id"].as_u64()?, v.clone())))
            .collect()
    };
    let (remote_posts_by_id, remote_comments_by_id) =
        (index(&remote_posts), index(&remote_comments));
    let keys: Vec<EntityKey> = locals.keys().copied().collect();
    let states = api.store.load(&keys).await.expect("states");
    let remote_id = |key: EntityKey| states.get(&key).and_then(|s| s.remote_id);
    let mut differences = Vec::new();
    for (&key, local) in &locals {
        let (remotes_by_id, fields) = match key.kind {
            EntityKind::Post => (&remote_posts_by_id, ["userId", "title", "body"]),
            EntityKind::Comment => (&remote_comments_by_id, ["name", "email", "body"]),
        };
        let Some(rid) = remote_id(key) else {
            differences.push(format!("{key} has no remote id"));
            continue;
        };
        let Some(remote) = remotes_by_id.get(&rid) else {
            differences.push(format!("{key} (remote {rid}) is not on the remote"));
            continue;
        };
        for field in fields {
            if remote[field] != local[field] {
                differences.push(format!(
                    "{key} {field}: remote {} local {}",
                    remote[field], local[field]
                ));
            }
        }
        if key.kind == EntityKind::Comment {
            // On the remote a comment names its post by the post's remote id.
            let post_rid = local["postId"]
                .as_u64()
                .and_then(|p| remote_id(EntityKey::post(p)));
            if post_rid.is_none() || remote["postId"].as_u64() != post_rid {
                differences.push(format!(
                    "{key} postId: remote {} local post's remote id {post_rid:?}",
                    remote["postId"]
                ));
            }
        }
    }
    let local_count = |kind| locals.keys().filter(|k| k.kind == kind).count();
    let (local_posts, local_comments) = (
        local_count(EntityKind::Post),
        local_count(EntityKind::Comment),
    );
    if remote_posts.len() != local_posts + foreign_posts.len() {
        differences.push(format!(
            "post count: remote {} local {} (+{} foreign)",
            remote_posts.len(),
            local_posts,
            foreign_posts.len()
        ));
    }
    if remote_comments.len() != local_comments {
        differences.push(format!(
            "comment count: remote {} local {}",
            remote_comments.len(),
            local_comments
        ));
    }
    differences
}

/// An edit of post `id` as capture would have queued it, at sequence `id`: for tests that put
/// changes where the sync keeps them (a sync state's pending change, the dead-letter queue)
/// without going through the API.
pub fn post_edit(id: u64, event_id: &str) -> ps_core::change::ChangeEvent {
    use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey};
    ChangeEvent {
        key: EntityKey::post(id),
        change: ChangeKind::Modify,
        post_id: id,
        after: Some(EntityData::Post(ps_core::model::Post {
            user_id: 1,
            id,
            title: "edited".into(),
            body: "b".into(),
        })),
        version: 2,
        sequence: format!("{id:021}").parse().expect("a sequence number"),
        event_id: event_id.to_owned(),
    }
}

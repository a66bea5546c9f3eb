//! `backlog-memory [N]`: the peak heap of one sync run facing N (100,000) pending entities,
//! over the in-memory ports, as JSON on stdout. The state store and the remote stand for
//! DynamoDB and the remote: what they hold is not the run's; the run's own allocations are
//! measured from a baseline taken once the store is filled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use peak_alloc::PeakAlloc;
use ps_core::Post;
use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey, EntityKind};
use ps_core::merge::SyncState;
use ps_core::ports::{RemoteApi, RemoteError};
use ps_memory::{MemoryDeadLetters, MemoryQueue, MemoryStates};
use ps_sync::{SyncConfig, SyncEngine};

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

/// A remote that keeps nothing: it answers every create with a new id.
#[derive(Default)]
struct Forgetful {
    next: AtomicU64,
}

#[async_trait]
impl RemoteApi for Forgetful {
    async fn create(&self, _: &EntityData) -> Result<u64, RemoteError> {
        Ok(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    async fn replace(&self, _: u64, _: &EntityData) -> Result<(), RemoteError> {
        Ok(())
    }
    async fn delete(&self, _: EntityKind, _: u64) -> Result<(), RemoteError> {
        Ok(())
    }
    async fn find(&self, _: &EntityData) -> Result<Vec<u64>, RemoteError> {
        Ok(Vec::new())
    }
    async fn probe(&self) -> Result<(), RemoteError> {
        Ok(())
    }
    async fn comments_of(&self, _: u64) -> Result<Vec<u64>, RemoteError> {
        Ok(Vec::new())
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let states = MemoryStates::new();
    for id in 1..=n {
        let post = Post {
            user_id: ps_core::NEW_POST_USER_ID,
            id,
            title: format!("post {id} of the backlog"),
            body: "a body of some length, as posts have ".repeat(4),
        };
        let pending = ChangeEvent {
            key: EntityKey::post(id),
            change: ChangeKind::Insert,
            post_id: id,
            after: Some(EntityData::Post(post)),
            version: 1,
            sequence: format!("{id:021}").parse().expect("digits"),
            event_id: format!("e{id}"),
        };
        states.put(
            EntityKey::post(id),
            SyncState {
                pending: Some(pending),
                ..SyncState::default()
            },
        );
    }
    let queue = MemoryQueue::new(Duration::from_secs(180));
    let dead = MemoryDeadLetters::default();
    let remote = Forgetful::default();
    let engine = SyncEngine {
        source: &queue,
        states: &states,
        remote: &remote,
        parked: &dead,
        config: SyncConfig {
            budget: Duration::from_secs(3600),
            lease: Duration::from_secs(7200),
            ..SyncConfig::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let baseline = PEAK.current_usage();
    PEAK.reset_peak_usage();
    let report = runtime.block_on(engine.run()).expect("the run completes");
    let peak = PEAK.peak_usage().saturating_sub(baseline);
    println!(
        "{}",
        serde_json::json!({
            "pending": n,
            "synced": report.entities_synced,
            "peak_mb": peak as f64 / (1024.0 * 1024.0),
        })
    );
}

//! The sync, as the scheduled function and `POST /sync/run` both run it: the engine over the
//! real queue, state store and remote, with its report logged (one line) and kept.

use ps_queue::{DeadLetterQueue, SqsQueue};
use ps_remote::HttpRemote;
use ps_store::DynamoStore;
use ps_sync::{SyncConfig, SyncEngine, SyncError, SyncReport};

/// What a sync needs, built once per function instance.
pub struct SyncDeps {
    pub store: DynamoStore,
    pub queue: SqsQueue,
    pub dead_letters: DeadLetterQueue,
    pub remote: HttpRemote,
    pub config: SyncConfig,
}

impl SyncDeps {
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let queue = SqsQueue::from_env().await?;
        Ok(SyncDeps {
            store: ps_store::connect_from_env().await?,
            dead_letters: queue.dead_letters(),
            queue,
            remote: HttpRemote::new(ps_remote::RemoteConfig::from_env()?)?,
            config: SyncConfig::from_env()?,
        })
    }
}

pub async fn run_and_record(deps: &SyncDeps) -> Result<SyncReport, SyncError> {
    let engine = SyncEngine {
        source: &deps.queue,
        states: &deps.store,
        remote: &deps.remote,
        parked: &deps.dead_letters,
        config: deps.config.clone(),
    };
    let result = engine.run().await;
    match &result {
        Ok(report) => {
            let json = serde_json::to_value(report).unwrap_or_default();
            tracing::info!(report = %json, "sync run");
            if let Err(e) = deps.store.save_report(&json).await {
                tracing::warn!(error = %e, "sync report not kept");
            }
        }
        Err(SyncError::LeaseHeld) => tracing::info!("sync skipped: another run holds the lease"),
        Err(e) => tracing::error!(error = %e, "sync aborted"),
    }
    result
}

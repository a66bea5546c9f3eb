//! The sync, as the scheduled function and `POST /sync/run` both run it: the engine over the
//! real queue, state store and remote, with its report logged (one line) and kept.

use ps_core::merge::SyncStatus;
use ps_http::telemetry::Unit;
use ps_queue::{DeadLetterQueue, SqsQueue};
use ps_remote::HttpRemote;
use ps_store::DynamoStore;
use ps_sync::{Outcome, SyncConfig, SyncEngine, SyncError, SyncReport};

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
            ps_http::telemetry::put_metrics(&metrics(report));
            if let Err(e) = deps.store.save_report(&json).await {
                tracing::warn!(error = %e, "sync report not kept");
            }
        }
        Err(SyncError::LeaseHeld) => tracing::info!("sync skipped: another run holds the lease"),
        Err(e) => tracing::error!(error = %e, "sync aborted"),
    }
    result
}

/// A run's report as CloudWatch metrics (the template's alarms watch `Parked`, `BackingOff`
/// and `RemoteUnavailable`).
pub fn metrics(report: &SyncReport) -> Vec<(&'static str, f64, Unit)> {
    let waiting = report
        .failures
        .iter()
        .filter(|f| f.status == SyncStatus::Waiting)
        .count();
    let count = |n: u64| n as f64;
    vec![
        (
            "MessagesReceived",
            count(report.messages_received),
            Unit::Count,
        ),
        ("Synced", count(report.entities_synced), Unit::Count),
        (
            "Failed",
            count(report.failures.len() as u64 + report.failures_omitted),
            Unit::Count,
        ),
        ("Waiting", waiting as f64, Unit::Count),
        ("Parked", count(report.parked), Unit::Count),
        (
            "BackingOff",
            count(report.entities_backing_off),
            Unit::Count,
        ),
        (
            "Backlog",
            count(report.entities_deferred + report.entities_backing_off),
            Unit::Count,
        ),
        ("CallsPOST", count(report.calls.post), Unit::Count),
        ("CallsPUT", count(report.calls.put), Unit::Count),
        ("CallsPATCH", count(report.calls.patch), Unit::Count),
        ("CallsDELETE", count(report.calls.delete), Unit::Count),
        (
            "RemoteUnavailable",
            f64::from(u8::from(report.outcome == Outcome::RemoteUnavailable)),
            Unit::Count,
        ),
        ("DurationMs", count(report.duration_ms), Unit::Milliseconds),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_metrics_say_what_its_report_says() {
        let report = SyncReport {
            outcome: Outcome::RemoteUnavailable,
            parked: 2,
            entities_backing_off: 3,
            entities_deferred: 4,
            duration_ms: 1234,
            ..SyncReport::default()
        };
        let m: std::collections::HashMap<_, _> = metrics(&report)
            .into_iter()
            .map(|(n, v, _)| (n, v))
            .collect();
        assert_eq!(m["Parked"], 2.0);
        assert_eq!(m["BackingOff"], 3.0);
        assert_eq!(m["Backlog"], 7.0);
        assert_eq!(m["RemoteUnavailable"], 1.0);
        assert_eq!(m["DurationMs"], 1234.0);
        let fine = metrics(&SyncReport::default());
        assert!(
            fine.iter()
                .any(|(n, v, _)| *n == "RemoteUnavailable" && *v == 0.0)
        );
    }
}

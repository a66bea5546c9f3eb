//! The reconcile, as the scheduled function and `POST /sync/reconcile` both run it: over the
//! real state store and remote, its report logged (one line), kept for `GET /sync/status`,
//! and put as metrics (the template alarms on `Drifted`).

use ps_http::telemetry::Unit;
use ps_reconcile::{
    DriftReport, Options, OrphanChoice, ReconcileConfig, ReconcileError, Reconciler,
};
use ps_remote::HttpRemote;
use ps_store::DynamoStore;
use serde_json::json;

/// Runs a reconcile and records what it found, or why it could not run.
pub async fn run_and_record(
    store: &DynamoStore,
    remote: &HttpRemote,
    config: &ReconcileConfig,
    options: Options,
) -> Result<DriftReport, ReconcileError> {
    let result = Reconciler {
        states: store,
        scan: store,
        posts: store,
        comments: store,
        listing: remote,
        remote,
        config: config.clone(),
    }
    .run(options)
    .await;
    let kept = match &result {
        Ok(report) => {
            let json = serde_json::to_value(report).unwrap_or_default();
            tracing::info!(report = %json, "reconcile run");
            ps_http::telemetry::put_metrics(&metrics(report));
            Some(json)
        }
        Err(ReconcileError::LeaseHeld) => {
            tracing::info!("reconcile skipped: a sync or another reconcile holds the lease");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "reconcile failed; nothing was changed");
            ps_http::telemetry::put_metrics(&[("ReconcileFailed", 1.0, Unit::Count)]);
            Some(json!({
                "startedAt": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default(),
                "outcome": "failed",
                "error": e.to_string(),
            }))
        }
    };
    if let Some(json) = kept {
        if let Err(e) = store.save_drift_report(&json).await {
            tracing::warn!(error = %e, "drift report not kept");
        }
    }
    result
}

/// A run's findings as CloudWatch metrics.
pub fn metrics(report: &DriftReport) -> Vec<(&'static str, f64, Unit)> {
    let c = &report.counts;
    let r = &report.repaired;
    let count = |n: u64| n as f64;
    vec![
        ("Drifted", count(c.drifted()), Unit::Count),
        ("DriftDiffers", count(c.differs), Unit::Count),
        ("DriftMissing", count(c.missing), Unit::Count),
        ("DriftDuplicates", count(c.duplicates), Unit::Count),
        ("DriftForeign", count(c.foreign), Unit::Count),
        ("DriftPending", count(c.pending), Unit::Count),
        (
            "DriftRepaired",
            count(r.replaced + r.recreated),
            Unit::Count,
        ),
        ("OrphansDeleted", count(r.orphans_deleted), Unit::Count),
        ("ReconcileFailed", 0.0, Unit::Count),
        (
            "ReconcileDurationMs",
            count(report.duration_ms),
            Unit::Milliseconds,
        ),
    ]
}

/// What the scheduled run does: `RECONCILE_REPAIR` (`true`/`false`, default false: report
/// only) and `RECONCILE_DELETE_ORPHANS` (`none`, `duplicates` or `all`; default none).
pub fn scheduled_options() -> Result<Options, String> {
    let repair = match std::env::var("RECONCILE_REPAIR").as_deref() {
        Err(_) | Ok("false") => false,
        Ok("true") => true,
        Ok(other) => {
            return Err(format!(
                "RECONCILE_REPAIR must be true or false, got {other:?}"
            ));
        }
    };
    let delete_orphans = match std::env::var("RECONCILE_DELETE_ORPHANS").as_deref() {
        Err(_) | Ok("none") => OrphanChoice::Keep,
        Ok(other) => orphan_choice(other)?,
    };
    Ok(Options {
        repair,
        delete_orphans,
    })
}

/// `duplicates` or `all` (as `?deleteOrphans=` and `--delete-orphans=` take them).
pub fn orphan_choice(value: &str) -> Result<OrphanChoice, String> {
    match value {
        "duplicates" => Ok(OrphanChoice::Duplicates),
        "all" => Ok(OrphanChoice::All),
        "none" => Ok(OrphanChoice::Keep),
        other => Err(format!(
            "orphans to delete must be none, duplicates or all, got {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ps_reconcile::DriftCounts;

    #[test]
    fn a_runs_metrics_count_every_drifted_record() {
        let report = DriftReport {
            counts: DriftCounts {
                differs: 1,
                missing: 2,
                duplicates: 3,
                foreign: 4,
                pending: 5,
                in_line: 6,
            },
            ..DriftReport::default()
        };
        let m: std::collections::HashMap<_, _> = metrics(&report)
            .into_iter()
            .map(|(n, v, _)| (n, v))
            .collect();
        assert_eq!(m["Drifted"], 10.0);
        assert_eq!(m["DriftPending"], 5.0);
    }
}

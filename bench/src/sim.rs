//! The deterministic simulation's figures: 10,000 seeds on two threads, an hour-long outage,
//! and the memory of one run facing 100,000 pending entities (its own binary, so that its
//! counting allocator taxes no other figure).

use std::path::Path;
use std::time::Instant;

use crate::{Bound, Figure};

const SEEDS: u64 = 10_000;

pub fn figures(target: &Path) -> Vec<Figure> {
    let started = Instant::now();
    let reports = placeholder_sync_sim::run_seeds(0..SEEDS, 2);
    let seconds = started.elapsed().as_secs_f64();
    let sum = |f: fn(&placeholder_sync_sim::SeedReport) -> u64| -> f64 {
        reports.iter().map(f).sum::<u64>() as f64
    };
    let failed: Vec<u64> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.seed)
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "sim: seeds failed: {failed:?} (replay with SIM_SEED=<n> cargo test -p placeholder-sync-sim)"
        );
    }
    let mut faults = std::collections::BTreeMap::new();
    for r in &reports {
        for (kind, n) in &r.faults {
            *faults.entry(*kind).or_insert(0u64) += n;
        }
    }
    let mut figures = vec![
        Figure {
            key: "sim_seeds",
            what: "simulated seeds, each a random workload and fault schedule".into(),
            value: reports.len() as f64,
            unit: "seeds",
            bound: Bound::AtLeast(SEEDS as f64),
        },
        Figure {
            key: "sim_seconds",
            what: format!("wall time of the {SEEDS} seeds on two threads"),
            value: seconds,
            unit: "s",
            bound: Bound::AtMost(180.0),
        },
        Figure {
            key: "sim_failed_seeds",
            what: "seeds breaking any invariant".into(),
            value: failed.len() as f64,
            unit: "seeds",
            bound: Bound::AtMost(0.0),
        },
        Figure {
            key: "sim_lost",
            what: "local entities not on the remote as they are, after the seeds".into(),
            value: sum(|r| r.findings.lost),
            unit: "entities",
            bound: Bound::AtMost(0.0),
        },
        Figure {
            key: "sim_duplicated",
            what: "remote entities no local entity holds, or held twice".into(),
            value: sum(|r| r.findings.duplicated),
            unit: "entities",
            bound: Bound::AtMost(0.0),
        },
        Figure {
            key: "sim_wrongly_parked",
            what: "changes parked that the remote never refused".into(),
            value: sum(|r| r.findings.wrongly_parked),
            unit: "changes",
            bound: Bound::AtMost(0.0),
        },
        Figure {
            key: "sim_faults_injected",
            what: "faults injected in all (by kind below)".into(),
            value: faults.values().sum::<u64>() as f64,
            unit: "faults",
            bound: Bound::None,
        },
        Figure {
            key: "sim_writes",
            what: "API writes simulated".into(),
            value: sum(|r| r.writes),
            unit: "writes",
            bound: Bound::None,
        },
    ];
    for (kind, n) in faults {
        figures.push(Figure {
            key: Box::leak(format!("sim_faults_{kind}").into_boxed_str()),
            what: format!("faults injected: {}", kind.replace('_', " ")),
            value: n as f64,
            unit: "faults",
            bound: Bound::None,
        });
    }

    let outage = placeholder_sync_sim::outage_hour(200);
    figures.push(Figure {
        key: "outage_parked",
        what: "changes parked by a one-hour remote outage (200 pending creates, a run a minute, simulated time)".into(),
        value: outage.parked as f64,
        unit: "changes",
        bound: Bound::AtMost(0.0),
    });
    figures.push(Figure {
        key: "outage_creates_tried",
        what: "create calls tried during that hour (the runs stop calling an unavailable remote)"
            .into(),
        value: outage.creates_during_outage as f64,
        unit: "calls",
        bound: Bound::None,
    });
    figures.push(Figure {
        key: "outage_synced_after",
        what: "of the 200, on the remote within 10 minutes of its return".into(),
        value: outage.remote_after as f64,
        unit: "entities",
        bound: Bound::AtLeast(200.0),
    });

    let binary = target.join("bench-report/backlog-memory");
    match std::process::Command::new(&binary).arg("100000").output() {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            if let Some(mb) = v["peak_mb"].as_f64() {
                figures.push(Figure {
                    key: "sync_memory_mb_100k_pending",
                    what: "peak heap of one sync run facing 100,000 pending entities".into(),
                    value: mb,
                    unit: "MB",
                    bound: Bound::AtMost(100.0),
                });
            }
        }
        other => eprintln!("backlog-memory ({}): {other:?}", binary.display()),
    }
    figures
}

//! The reconcile at scale: 10,000 posts and 50,000 comments, a planted set of drifts on a
//! json-server, reconciled by the `drift-60k` binary (its own process, for its heap).

use std::path::Path;

use placeholder_sync_tests::sync::JsonServer;

use crate::{Bound, Figure};

pub async fn figures(target: &Path, dir: &Path) -> Vec<Figure> {
    let binary = target.join("bench-report/drift-60k");
    let db = dir.join("drift-60k.json");
    let written = std::process::Command::new(&binary)
        .arg("db")
        .arg(&db)
        .status();
    if !written.as_ref().is_ok_and(|s| s.success()) {
        eprintln!(
            "drift-60k ({}) could not write its db: {written:?}",
            binary.display()
        );
        return Vec::new();
    }
    let remote = JsonServer::start_with(&db).await;
    let out = tokio::process::Command::new(&binary)
        .arg("run")
        .arg(&remote.url)
        .output()
        .await;
    let v: serde_json::Value = match out {
        Ok(out) if out.status.success() => {
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
        }
        other => {
            eprintln!("drift-60k run: {other:?}");
            return Vec::new();
        }
    };
    let number = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    vec![
        Figure {
            key: "drift_calls_ratio",
            what: format!(
                "a reconcile of 10,000 posts and 50,000 comments (json-server, pages of 1,000): remote calls ÷ the pages needed ({} ÷ {})",
                v["calls"], v["pages_needed"]
            ),
            value: number("calls") / number("pages_needed"),
            unit: "×",
            bound: Bound::AtMost(1.05),
        },
        Figure {
            key: "drift_seconds_60k",
            what: format!(
                "that reconcile, start to report: {} states read (in memory) and {} remote records compared, under a 100 calls/s limit",
                v["states"], v["records"]
            ),
            value: number("seconds"),
            unit: "s",
            bound: Bound::None,
        },
        Figure {
            key: "drift_memory_mb_60k",
            what: "its peak heap above the states it reads (a page of the remote at a time, a fingerprint per entity)".into(),
            value: number("peak_mb"),
            unit: "MB",
            bound: Bound::AtMost(100.0),
        },
        Figure {
            key: "drift_found_exact",
            what: "1 if it found exactly the planted drifts (20 differing, 8 missing, 5 duplicates, 5 foreign, 5 pending not judged), no more".into(),
            value: if v["found_exact"] == true { 1.0 } else { 0.0 },
            unit: "",
            bound: Bound::AtLeast(1.0),
        },
    ]
}

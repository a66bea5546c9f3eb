//! The simulation in `make test`: `SIM_SEEDS` seeds (2,000 by default) from `SIM_SEED_START`
//! (0), on two threads. `SIM_SEED=<n>` replays one seed and prints what it found. `make
//! bench` runs 10,000.

use placeholder_sync_sim::{SeedReport, run_seed, run_seeds};

/// Seeds that once failed, each kept once its cause was fixed, with what it found.
const REGRESSIONS: &[(u64, &str)] = &[
    (
        119,
        "with a remote that keeps a deleted post's comments, a lost comment create was taken as gone with its post (it is now looked for under the post's old remote id)",
    ),
    (
        132,
        "a lost create looked for after json-server handed its id out again, while the id's old holder's delete was unrecorded, was taken as that holder's copy and left behind (such an id is now undecided until that delete is recorded)",
    ),
    (
        1,
        "a delete answered too late, retried after json-server handed its id to a new entity, deleted that entity's copy (a delete now claims the id first)",
    ),
    (
        12,
        "a lost create of an entity edited since was looked up by its new data and created twice (the state now keeps what the create sent)",
    ),
    (
        11,
        "a lost create of an entity deleted since was left on the remote (it is now withdrawn)",
    ),
    (
        293,
        "an update answered too late, then an edit back: the state still said the remote held the old data (a failed update now forgets it)",
    ),
    (
        1153,
        "the same after a crash during the update (the PUT was marked before it was sent; now the journal of the next run forgets the old data when it merges into a change an earlier run may have sent)",
    ),
    (
        460,
        "a retried delete racing a create json-server gave the same id (a create no longer takes an id whose previous holder's delete is unrecorded)",
    ),
    (
        374,
        "two look-ups adopted one copy: a claim was taken over while its holder was recording it (a holder mid-create keeps its claim)",
    ),
    (
        1994,
        "an adoption followed by an update crashed before the adoption was recorded (it is now saved first)",
    ),
    (
        227,
        "a delete after a crash mid-update judged by content (unsound, never shipped)",
    ),
    (
        70718,
        "a withdraw deleted its copy and crashed before recording it; its stale claim kept another entity from deleting its own copy (a withdraw now records the adoption first)",
    ),
    (82419, "as 70718"),
    (127052, "as 70718"),
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

fn describe(failed: &[&SeedReport]) -> String {
    failed
        .iter()
        .take(5)
        .map(|r| {
            format!(
                "seed {}: {}\n  replay: SIM_SEED={} cargo test -p placeholder-sync-sim",
                r.seed,
                r.findings.violations.join("\n  "),
                r.seed
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_seed_holds_every_invariant() {
    if let Some(seed) = env_u64("SIM_SEED") {
        // RUST_LOG=debug shows every remote write and the engine's decisions.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let report = run_seed(seed);
        println!("{report:#?}");
        assert!(report.passed(), "{}", describe(&[&report]));
        return;
    }
    let start = env_u64("SIM_SEED_START").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(2_000);
    let reports = run_seeds(start..start + count, 2);
    let failed: Vec<&SeedReport> = reports.iter().filter(|r| !r.passed()).collect();
    let mut faults = std::collections::BTreeMap::new();
    for r in &reports {
        for (kind, n) in &r.faults {
            *faults.entry(*kind).or_insert(0u64) += n;
        }
    }
    println!(
        "{} seeds, {} failed; faults injected: {faults:?}",
        reports.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} seeds failed:\n{}",
        failed.len(),
        reports.len(),
        describe(&failed)
    );
    // The schedule must actually exercise each kind of fault.
    for kind in [
        "remote_process_then_lose",
        "remote_server_error",
        "remote_unavailable",
        "remote_throttled",
        "remote_slow",
        "remote_outage",
        "queue_send_failed",
        "queue_send_partial",
        "queue_answer_lost",
        "queue_delivered_twice",
        "queue_out_of_order",
        "capture_crashed",
        "sync_crashed",
        "sync_overlapped",
        "index_lagging",
        "remote_cascading",
        "remote_not_cascading",
        "remote_not_cascading_said_to",
    ] {
        assert!(
            faults.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} injected"
        );
    }
}

#[test]
fn seeds_that_once_failed_pass() {
    for &(seed, found) in REGRESSIONS {
        let report = run_seed(seed);
        assert!(
            report.passed(),
            "once found: {found}\n{}",
            describe(&[&report])
        );
    }
}

#[test]
fn a_seed_replays_exactly() {
    let (a, b) = (run_seed(7), run_seed(7));
    assert_eq!(
        (a.writes, a.sync_runs, &a.faults, &a.findings.violations),
        (b.writes, b.sync_runs, &b.faults, &b.findings.violations)
    );
}

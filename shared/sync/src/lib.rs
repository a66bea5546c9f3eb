//! The sync engine. A run takes the single lease and works in two steps.
//!
//! **Intake** ([`intake`]) drains the queue: each batch of messages is merged per entity into
//! the entity's sync state as its *pending* change, and only then are the messages deleted.
//! From there on the sync state is the durable to-do list, so changes that arrive across
//! many batches, or many runs, still merge into one pending change per entity.
//!
//! **Flush** ([`flush`]) brings the remote in line with every pending change, page by page:
//! one call per entity at most ([`call`]), ordered within each post's group, groups run
//! concurrently under the remote's rate limit. Each outcome is recorded right after its call.
//!
//! Every state write is conditional on the revision it was read at and fenced by the run's
//! lease epoch, so a run that lost its lease (or read a stale index) stops instead of
//! overwriting newer state. Only the remote refusing a change counts as a failed attempt; a
//! change the remote fails (5xx, no answer) backs off, and an unavailable remote stops the
//! run's calls and leaves everything pending.

mod call;
mod config;
mod flush;
mod intake;
mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ps_core::ports::{ChangeSink, ChangeSource, Lease, PortError, RemoteApi, SyncStateStore};
use tokio::time::Instant;

pub use config::SyncConfig;
pub use report::{
    CallCounts, EntityFailure, MAX_ERROR_CHARS, MAX_FAILURES_LISTED, Outcome, SyncReport,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    #[error("another sync is running (it holds the lease)")]
    LeaseHeld,
    /// The settings would let a run outlive its lease: refused before taking it.
    #[error("sync settings refused: {0}")]
    Config(String),
    /// Bookkeeping failed, or a state changed under the run (it lost its lease): the run
    /// stopped. Nothing unrecorded left the queue, and what was journaled stays pending.
    #[error("sync aborted: {0}")]
    Port(#[from] PortError),
}

pub struct SyncEngine<'a> {
    pub source: &'a dyn ChangeSource,
    pub states: &'a dyn SyncStateStore,
    pub remote: &'a dyn RemoteApi,
    /// Where a change goes after its last failed attempt (the dead-letter queue).
    pub parked: &'a dyn ChangeSink,
    pub config: SyncConfig,
}

/// One run, while it holds the lease.
pub(crate) struct Run {
    pub lease: Lease,
    pub started: Instant,
    /// Open once the remote is found unavailable: no more calls this run.
    remote_down: AtomicBool,
    /// Set once a post's delete left comments behind on a remote said to delete them with it.
    cascade_refuted: AtomicBool,
}

impl Run {
    pub fn remote_down(&self) -> bool {
        self.remote_down.load(Ordering::Relaxed)
    }

    pub fn stop_calling(&self) {
        self.remote_down.store(true, Ordering::Relaxed);
    }

    /// Records that the remote kept a deleted post's comments; true the first time.
    pub fn refute_cascade(&self) -> bool {
        !self.cascade_refuted.swap(true, Ordering::Relaxed)
    }
}

fn unix_now() -> u64 {
    unix_now_ms() / 1000
}

/// Wall-clock time in Unix milliseconds, as tokio's clock advances from one anchor taken
/// once per process: real time in production, virtual time under a paused test clock.
pub(crate) fn unix_now_ms() -> u64 {
    static ANCHOR: std::sync::OnceLock<(SystemTime, std::time::Instant)> =
        std::sync::OnceLock::new();
    let (wall, instant) = *ANCHOR.get_or_init(|| (SystemTime::now(), std::time::Instant::now()));
    let elapsed = Instant::now().into_std().saturating_duration_since(instant);
    (wall + elapsed)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl SyncEngine<'_> {
    pub async fn run(&self) -> Result<SyncReport, SyncError> {
        // Checked here too, not only where the environment is read: whatever built the
        // settings, the fences (lease epoch for outcomes, time for the journal) rest on it.
        self.config.check().map_err(SyncError::Config)?;
        let owner = format!(
            "sync-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        // The lease outlives the function's timeout, so an expired lease means a dead run.
        let Some(lease) = self.states.try_lease(&owner, self.config.lease).await? else {
            return Err(SyncError::LeaseHeld);
        };
        let run = Run {
            lease,
            started: Instant::now(),
            remote_down: AtomicBool::new(false),
            cascade_refuted: AtomicBool::new(false),
        };
        let mut report = SyncReport {
            started_at: unix_now(),
            ..SyncReport::default()
        };
        let result = self.run_leased(&run, &mut report).await;
        report.duration_ms = run.started.elapsed().as_millis() as u64;
        if let Err(e) = self.states.release_lease(&owner).await {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        result.map(|()| report)
    }

    async fn run_leased(&self, run: &Run, report: &mut SyncReport) -> Result<(), SyncError> {
        let (drained, journaled) = self.intake(run, report).await?;
        report.intake_ms = run.started.elapsed().as_millis() as u64;
        let flushed = self.flush(run, journaled, report).await?;
        report.failures.sort_by_key(|f| (f.entity, f.id));
        report.cascade_refuted = run.cascade_refuted.load(Ordering::Relaxed);
        report.outcome = if run.remote_down() {
            Outcome::RemoteUnavailable
        } else if drained && flushed {
            Outcome::Completed
        } else {
            Outcome::BudgetSpent
        };
        Ok(())
    }

    /// Whether the run must start no more work.
    pub(crate) fn stopped(&self, run: &Run) -> bool {
        run.remote_down() || run.started.elapsed() >= self.config.budget
    }
}

//! What a run did: logged as one line and kept as the last report, so it is bounded whatever
//! fails (a DynamoDB item holds 400 KB, a log event 256 KB).

use ps_core::change::EntityKind;
use ps_core::merge::SyncStatus;
use serde::Serialize;

/// Failures listed in a report; the rest are only counted.
pub const MAX_FAILURES_LISTED: usize = 50;
/// The longest error text kept for one failure.
pub const MAX_ERROR_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct CallCounts {
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
}

impl CallCounts {
    pub(crate) fn add(&mut self, method: &str) {
        match method {
            "POST" => self.post += 1,
            "PUT" => self.put += 1,
            "PATCH" => self.patch += 1,
            _ => self.delete += 1,
        }
    }

    pub fn absorb(&mut self, other: CallCounts) {
        self.post += other.post;
        self.put += other.put;
        self.patch += other.patch;
        self.delete += other.delete;
    }

    pub fn total(&self) -> u64 {
        self.post + self.put + self.patch + self.delete
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityFailure {
    pub entity: EntityKind,
    pub id: u64,
    pub status: SyncStatus,
    pub error: String,
    /// Failed attempts so far at this change.
    pub attempts: u32,
    /// Whether this failure counted as an attempt (the remote refused the change), rather
    /// than being the remote's fault or the change waiting for its post.
    pub counted: bool,
    /// Whether this failure was the last attempt and the change is now in the DLQ.
    pub parked: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The queue was drained and every pending change was attempted.
    #[default]
    Completed,
    /// The time budget ran out with work left; the next run goes on.
    BudgetSpent,
    /// The remote did not answer (or asked to wait): the run stopped calling it and left
    /// the rest pending, counting no attempt against any change.
    RemoteUnavailable,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub started_at: u64,
    pub duration_ms: u64,
    pub outcome: Outcome,
    /// Intake rounds (one or more receives each).
    pub rounds: u64,
    /// How long the intake took (receiving, journaling, deleting the messages).
    pub intake_ms: u64,
    pub messages_received: u64,
    pub messages_deleted: u64,
    /// Messages whose change was already taken in (redelivered, or older than one that was).
    pub stale_messages: u64,
    /// Pending changes written by the intake (an entity counts once per round it changed
    /// in: a round is one write of merged changes).
    pub pending_written: u64,
    /// Entities with a pending change that the flush took up.
    pub entities_pending: u64,
    /// Entities whose pending change reached the remote (or needed no call).
    pub entities_synced: u64,
    /// Pending changes the budget or an unavailable remote left for the next run.
    pub entities_deferred: u64,
    /// Pending changes not tried because the remote failed them recently (they back off).
    pub entities_backing_off: u64,
    pub calls: CallCounts,
    /// Comments recorded as deleted with their post, by a remote whose deletes cascade:
    /// no call of their own.
    pub gone_with_post: u64,
    /// Reads of what a post's delete left behind (one per deleted post whose comments went
    /// with it): the price of not taking the cascade on trust.
    pub cascade_checks: u64,
    /// Whether this run found that the remote, said to cascade a post's delete to its
    /// comments, does not (it then deletes them one by one, as without the capability).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cascade_refuted: bool,
    /// Entities found on the remote after a create whose answer was lost, instead of
    /// being created twice.
    pub creates_recovered: u64,
    /// Creates whose outcome is not known yet (no answer): resolved by a look-up before
    /// anything is sent again.
    pub creates_unresolved: u64,
    /// Changes moved to the dead-letter queue after their last attempt.
    pub parked: u64,
    /// The first failures (at most [`MAX_FAILURES_LISTED`]).
    pub failures: Vec<EntityFailure>,
    /// Failures beyond those listed.
    pub failures_omitted: u64,
}

impl SyncReport {
    pub(crate) fn failed(&mut self, mut failure: EntityFailure) {
        if self.failures.len() >= MAX_FAILURES_LISTED {
            self.failures_omitted += 1;
            return;
        }
        failure.error = bounded(failure.error);
        self.failures.push(failure);
    }
}

/// An error text cut to [`MAX_ERROR_CHARS`].
pub(crate) fn bounded(error: String) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &error[..end]),
        None => error,
    }
}

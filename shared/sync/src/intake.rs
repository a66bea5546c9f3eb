//! Intake: the queue into the sync states. A batch's messages are deleted only after the
//! merged changes are written, so a change leaves the queue only once it is recorded.

use std::collections::{HashMap, HashSet};

use ps_core::change::{ChangeEvent, EntityKey};
use ps_core::merge::{SyncState, journal};
use ps_core::ports::QueuedChange;

use crate::{Run, SyncEngine, SyncError, SyncReport};

/// SQS's limit on the messages of one receive.
const RECEIVE_MAX: usize = 10;
/// States kept between rounds so that an entity changed in many rounds is read once; past
/// this many the cache starts over, so a huge backlog cannot exhaust a run's memory.
const KNOWN_MAX: usize = 10_000;

/// What the intake journaled, for the flush.
pub(crate) struct Journaled {
    /// In key order: a post before its comments.
    pub keys: Vec<EntityKey>,
    /// States as the intake last wrote or read them (at most [`KNOWN_MAX`] and a batch).
    pub known: HashMap<EntityKey, SyncState>,
}

impl SyncEngine<'_> {
    /// Moves the queue into the sync states. Returns whether the queue was drained, and the
    /// entities journaled (the flush takes them up first: the index may not show them yet)
    /// with the states the intake knows as they now stand: it wrote or read them under the
    /// lease, while no other run can write, so the flush need not read them again.
    pub(crate) async fn intake(
        &self,
        run: &Run,
        report: &mut SyncReport,
    ) -> Result<(bool, Journaled), SyncError> {
        let mut known: HashMap<EntityKey, SyncState> = HashMap::new();
        let mut journaled: HashSet<EntityKey> = HashSet::new();
        // Receives widen while they come back full and narrow when they do not, so a
        // backlog drains fast and a trickle costs one receive per round.
        let mut width = 1;
        let drained = loop {
            if run.started.elapsed() >= self.config.budget / 2 {
                break false;
            }
            let receives = (0..width).map(|_| self.source.receive(RECEIVE_MAX));
            let mut batch = Vec::new();
            let mut full = 0;
            for received in futures::future::join_all(receives).await {
                let received = received?;
                full += usize::from(received.len() == RECEIVE_MAX);
                batch.extend(received);
            }
            if batch.is_empty() {
                break true;
            }
            width = if full == width {
                (width * 2).min(self.config.max_parallel_receives.max(1))
            } else {
                full.max(1)
            };
            report.rounds += 1;
            report.messages_received += batch.len() as u64;
            if known.len() > KNOWN_MAX {
                known.clear();
            }
            self.take_in(run, &batch, &mut known, &mut journaled, report)
                .await?;
            let receipts: Vec<String> = batch.into_iter().map(|q| q.receipt).collect();
            self.source.delete(&receipts).await?;
            report.messages_deleted += receipts.len() as u64;
        };
        let mut keys: Vec<EntityKey> = journaled.into_iter().collect();
        keys.sort_unstable();
        Ok((drained, Journaled { keys, known }))
    }

    /// Merges a batch into the pending changes and journals them, each write conditional on
    /// the state it merged into.
    async fn take_in(
        &self,
        run: &Run,
        batch: &[QueuedChange],
        known: &mut HashMap<EntityKey, SyncState>,
        journaled: &mut HashSet<EntityKey>,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let mut unknown: Vec<EntityKey> = batch
            .iter()
            .map(|q| q.event.key)
            .filter(|k| !known.contains_key(k))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            let mut loaded = self.states.load(&unknown).await?;
            for key in unknown {
                known.insert(key, loaded.remove(&key).unwrap_or_default());
            }
        }
        let taken = |k: &EntityKey| known.get(k).and_then(SyncState::newest_taken);
        report.stale_messages += batch
            .iter()
            .filter(|q| taken(&q.event.key).is_some_and(|t| q.event.sequence <= *t))
            .count() as u64;
        let events: Vec<&ChangeEvent> = batch.iter().map(|q| &q.event).collect();
        let mut states: Vec<(EntityKey, SyncState)> = journal(known, &events, run.lease.epoch)
            .into_iter()
            .map(|key| (key, known[&key].clone()))
            .collect();
        report.pending_written += states.len() as u64;
        if !states.is_empty() {
            // The journal's writes are unconditional (a conditional one costs a request per
            // state); what fences them is the lease, so only a run with at least half of it
            // left makes them, and it gives up on them (the run stops) when that half is
            // over: a write that stalls is abandoned before another run can hold the lease.
            // The intake stops at half the budget, far inside that.
            let left = (self.config.lease / 2).saturating_sub(run.started.elapsed());
            let past_half = |what: &str| {
                SyncError::Port(ps_core::ports::PortError(format!(
                    "the intake {what} half the lease: stopped, the batch stays queued"
                )))
            };
            if left.is_zero() {
                return Err(past_half("ran past"));
            }
            tokio::time::timeout(left, self.states.journal(run.lease, &mut states))
                .await
                .map_err(|_| past_half("journal did not end within"))??;
        }
        for (key, state) in states {
            journaled.insert(key);
            known.insert(key, state);
        }
        Ok(())
    }
}

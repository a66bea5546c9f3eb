//! The sync engine. A run takes the single lease and works in two steps.
//!
//! **Intake** drains the queue: each batch of messages is merged per entity into the
//! entity's sync state as its *pending* change (written in batches), and only then are the
//! messages deleted. From there on the sync state is the durable to-do list, so changes that
//! arrive across many batches, or many runs, still merge into one pending change per entity.
//!
//! **Flush** brings the remote in line with every pending change: one call per entity at
//! most, ordered within each post's group (post created or updated, then its comments, then
//! the post deleted), groups run concurrently under the remote's rate limit. Each outcome is
//! recorded right after its call. A change that fails stays pending for the next run; after
//! `max_attempts` it is parked in the dead-letter queue, never dropped.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use ps_core::change::{ChangeEvent, EntityData, EntityKey, EntityKind};
use ps_core::merge::{RemoteCall, SyncState, SyncStatus, journal, phase, plan};
use ps_core::ports::{
    ChangeSink, ChangeSource, PortError, QueuedChange, RemoteApi, RemoteError, SyncStateStore,
};
use serde::Serialize;

/// SQS's limit on the messages of one receive.
const RECEIVE_MAX: usize = 10;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Stop starting work after this long (keep it well inside the function's timeout).
    /// Intake gets at most half of it, so a busy queue cannot starve the remote.
    pub budget: Duration,
    /// Post groups synced at once; within a group calls stay in order.
    pub concurrency: usize,
    /// Failed attempts after which a pending change is parked in the dead-letter queue.
    pub max_attempts: u32,
    /// Receives in flight at once while the queue keeps filling whole batches.
    pub max_parallel_receives: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            budget: Duration::from_secs(50),
            // Enough calls in flight to keep a 100/s limit busy at 150 ms per call; the rate
            // limiter, not this, bounds the pace.
            concurrency: 16,
            max_attempts: 5,
            max_parallel_receives: 10,
        }
    }
}

impl SyncConfig {
    /// `SYNC_BUDGET_SECONDS` (default 50), `SYNC_CONCURRENCY` (16), `SYNC_MAX_ATTEMPTS` (5).
    pub fn from_env() -> Result<Self, String> {
        let mut config = SyncConfig::default();
        if let Ok(v) = std::env::var("SYNC_BUDGET_SECONDS") {
            config.budget = Duration::from_secs(
                v.parse()
                    .map_err(|_| "SYNC_BUDGET_SECONDS must be a whole number")?,
            );
        }
        if let Ok(v) = std::env::var("SYNC_CONCURRENCY") {
            config.concurrency = v
                .parse::<usize>()
                .ok()
                .filter(|c| *c >= 1)
                .ok_or("SYNC_CONCURRENCY must be at least 1")?;
        }
        if let Ok(v) = std::env::var("SYNC_MAX_ATTEMPTS") {
            config.max_attempts = v
                .parse::<u32>()
                .ok()
                .filter(|c| *c >= 1)
                .ok_or("SYNC_MAX_ATTEMPTS must be at least 1")?;
        }
        Ok(config)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct CallCounts {
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
}

impl CallCounts {
    fn add(&mut self, method: &str) {
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
    pub messages_received: u64,
    pub messages_deleted: u64,
    /// Messages whose change was already taken in (redelivered, or older than one that was).
    pub stale_messages: u64,
    /// Pending changes written by the intake (an entity counts once per round it changed
    /// in: a round is one batch write of merged changes).
    pub pending_written: u64,
    /// Entities with a pending change when the flush began.
    pub entities_pending: u64,
    /// Entities whose pending change reached the remote (or needed no call).
    pub entities_synced: u64,
    /// Pending changes the budget left for the next run.
    pub entities_deferred: u64,
    pub calls: CallCounts,
    /// Entities found on the remote after a create whose answer was lost, instead of
    /// being created twice.
    pub creates_recovered: u64,
    /// Changes moved to the dead-letter queue after their last attempt.
    pub parked: u64,
    pub failures: Vec<EntityFailure>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    #[error("another sync is running (it holds the lease)")]
    LeaseHeld,
    /// Bookkeeping failed; the run stopped. Nothing unrecorded left the queue, and what
    /// was journaled stays pending.
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

/// What a flush did to one post's group.
#[derive(Default)]
struct GroupResult {
    states: Vec<(EntityKey, SyncState)>,
    calls: CallCounts,
    recovered: u64,
    synced: u64,
    deferred: u64,
    parked: u64,
    failures: Vec<EntityFailure>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl SyncEngine<'_> {
    pub async fn run(&self) -> Result<SyncReport, SyncError> {
        let owner = format!(
            "sync-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        // The lease outlives the budget by a margin, so an expired lease means a dead run.
        if !self
            .states
            .try_lease(&owner, self.config.budget + Duration::from_secs(60))
            .await?
        {
            return Err(SyncError::LeaseHeld);
        }
        let started = Instant::now();
        let mut report = SyncReport {
            started_at: unix_now(),
            ..SyncReport::default()
        };
        let result = self.run_leased(&mut report, started).await;
        report.duration_ms = started.elapsed().as_millis() as u64;
        if let Err(e) = self.states.release_lease(&owner).await {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        result.map(|()| report)
    }

    async fn run_leased(&self, report: &mut SyncReport, started: Instant) -> Result<(), SyncError> {
        // Every state this run has read or written. While the lease is held nobody else
        // writes sync states, so these are current.
        let mut known: HashMap<EntityKey, SyncState> = HashMap::new();
        let drained = self.intake(&mut known, report, started).await?;
        let flushed = self.flush(&mut known, report, started).await?;
        report.outcome = if drained && flushed {
            Outcome::Completed
        } else {
            Outcome::BudgetSpent
        };
        Ok(())
    }

    /// Moves the queue into the sync states; true when the queue was drained.
    async fn intake(
        &self,
        known: &mut HashMap<EntityKey, SyncState>,
        report: &mut SyncReport,
        started: Instant,
    ) -> Result<bool, SyncError> {
        // Receives widen while they come back full and narrow when they do not, so a
        // backlog drains fast and a trickle costs one receive per round.
        let mut width = 1;
        loop {
            if started.elapsed() >= self.config.budget / 2 {
                return Ok(false);
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
                return Ok(true);
            }
            width = if full == width {
                (width * 2).min(self.config.max_parallel_receives.max(1))
            } else {
                full.max(1)
            };
            report.rounds += 1;
            report.messages_received += batch.len() as u64;
            self.take_in(&batch, known, report).await?;
            let receipts: Vec<String> = batch.into_iter().map(|q| q.receipt).collect();
            self.source.delete(&receipts).await?;
            report.messages_deleted += receipts.len() as u64;
        }
    }

    /// Merges a batch into the pending changes and journals them.
    async fn take_in(
        &self,
        batch: &[QueuedChange],
        known: &mut HashMap<EntityKey, SyncState>,
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
        let states: Vec<(EntityKey, SyncState)> = journal(known, &events)
            .into_iter()
            .map(|key| (key, known[&key].clone()))
            .collect();
        report.pending_written += states.len() as u64;
        if !states.is_empty() {
            self.states.save_many(&states).await?;
        }
        Ok(())
    }

    /// Tries every pending change once; true when none was left for lack of time.
    async fn flush(
        &self,
        known: &mut HashMap<EntityKey, SyncState>,
        report: &mut SyncReport,
        started: Instant,
    ) -> Result<bool, SyncError> {
        // The index may lag this run's own journal writes; `known` is newer where both are.
        for (key, state) in self.states.pending().await? {
            known.entry(key).or_insert(state);
        }
        let todo: Vec<(EntityKey, u64)> = known
            .iter()
            .filter_map(|(k, s)| s.pending.as_ref().map(|p| (*k, p.post_id)))
            .collect();
        report.entities_pending = todo.len() as u64;
        if todo.is_empty() {
            return Ok(true);
        }
        // A comment needs its post's remote id.
        let mut posts: Vec<EntityKey> = todo
            .iter()
            .map(|(_, post_id)| EntityKey::post(*post_id))
            .filter(|k| !known.contains_key(k))
            .collect();
        posts.sort_unstable();
        posts.dedup();
        if !posts.is_empty() {
            let mut loaded = self.states.load(&posts).await?;
            for key in posts {
                known.insert(key, loaded.remove(&key).unwrap_or_default());
            }
        }

        // One group per post: its own change and its comments'. Groups share no state.
        let mut groups: BTreeMap<u64, (Vec<EntityKey>, HashMap<EntityKey, SyncState>)> =
            BTreeMap::new();
        for (key, post_id) in todo {
            let group = groups.entry(post_id).or_default();
            for k in [key, EntityKey::post(post_id)] {
                if let Some(state) = known.get(&k) {
                    group.1.entry(k).or_insert_with(|| state.clone());
                }
            }
            group.0.push(key);
        }
        let results: Vec<Result<GroupResult, PortError>> =
            futures::stream::iter(groups.into_values())
                .map(|(keys, states)| self.sync_group(keys, states, started))
                .buffer_unordered(self.config.concurrency)
                .collect()
                .await;
        let mut complete = true;
        for result in results {
            let result = result?;
            report.calls.absorb(result.calls);
            report.creates_recovered += result.recovered;
            report.entities_synced += result.synced;
            report.entities_deferred += result.deferred;
            report.parked += result.parked;
            report.failures.extend(result.failures);
            complete &= result.deferred == 0;
            known.extend(result.states);
        }
        report.failures.sort_by_key(|f| (f.entity, f.id));
        Ok(complete)
    }

    async fn sync_group(
        &self,
        mut keys: Vec<EntityKey>,
        mut states: HashMap<EntityKey, SyncState>,
        started: Instant,
    ) -> Result<GroupResult, PortError> {
        let mut result = GroupResult::default();
        let unknown = SyncState::default();
        keys.sort_by_cached_key(|key| {
            let state = states.get(key).unwrap_or(&unknown);
            let desired = state.pending.as_ref().and_then(|p| p.after.as_ref());
            (phase(key, plan(key, desired, state).as_ref()), *key)
        });
        for key in keys {
            if started.elapsed() >= self.config.budget {
                result.deferred += 1;
                continue;
            }
            let mut state = states.get(&key).cloned().unwrap_or_default();
            let Some(pending) = state.pending.clone() else {
                continue;
            };
            let outcome = match plan(&key, pending.after.as_ref(), &state) {
                None => Ok(()),
                Some(call) => {
                    self.apply(&key, call, &mut state, &states, &mut result)
                        .await?
                }
            };
            match outcome {
                Ok(()) => {
                    state.last_sequence = Some(pending.sequence);
                    state.pending = None;
                    state.attempts = 0;
                    state.status = SyncStatus::Synced;
                    state.last_error = None;
                    result.synced += 1;
                }
                Err((status, error)) => {
                    tracing::warn!(entity = %key, %error, "entity not synced");
                    state.attempts += 1;
                    state.status = status;
                    let parked = state.attempts >= self.config.max_attempts
                        && self.park(&key, &pending).await;
                    state.last_error = Some(if parked {
                        format!(
                            "parked in the dead-letter queue after {} attempts: {error}",
                            state.attempts
                        )
                    } else {
                        error.clone()
                    });
                    if parked {
                        state.pending = None;
                        state.status = SyncStatus::Failed;
                        result.parked += 1;
                    }
                    result.failures.push(EntityFailure {
                        entity: key.kind,
                        id: key.id,
                        status: state.status,
                        error,
                        attempts: state.attempts,
                        parked,
                    });
                }
            }
            self.states.save(key, &state).await?;
            states.insert(key, state.clone());
            result.states.push((key, state));
        }
        Ok(result)
    }

    /// Sends the change to the dead-letter queue; false (and the change stays pending) if
    /// that failed.
    async fn park(&self, key: &EntityKey, pending: &ChangeEvent) -> bool {
        match self.parked.send(std::slice::from_ref(pending)).await {
            Ok(failed) if failed.is_empty() => {
                tracing::error!(entity = %key, "change parked in the dead-letter queue");
                true
            }
            Ok(_) => {
                tracing::error!(entity = %key, "the dead-letter queue refused the change; it stays pending");
                false
            }
            Err(e) => {
                tracing::error!(entity = %key, error = %e, "the dead-letter queue failed; the change stays pending");
                false
            }
        }
    }

    /// Makes one call and updates `state` with its effect. The outer error aborts the run
    /// (bookkeeping failed); the inner one fails only this entity.
    async fn apply(
        &self,
        key: &EntityKey,
        call: RemoteCall,
        state: &mut SyncState,
        group: &HashMap<EntityKey, SyncState>,
        result: &mut GroupResult,
    ) -> Result<Result<(), (SyncStatus, String)>, PortError> {
        let failed = |e: RemoteError| Err((SyncStatus::Failed, e.to_string()));
        match call {
            RemoteCall::Create(data) => {
                let Some(remote_data) = to_remote(&data, group) else {
                    return Ok(Err((SyncStatus::Waiting, waiting_message(&data))));
                };
                if state.creating && state.remote_id.is_none() {
                    match self.remote.find(&remote_data).await {
                        Ok(Some(remote_id)) => {
                            tracing::info!(entity = %key, remote_id, "found the create whose answer was lost");
                            record_created(state, remote_id, data);
                            result.recovered += 1;
                            return Ok(Ok(()));
                        }
                        Ok(None) => {}
                        Err(e) => return Ok(failed(e)),
                    }
                }
                // Recorded before the call: if the answer is lost, the next attempt looks
                // for the entity before creating it again.
                state.creating = true;
                self.states.save(*key, state).await?;
                result.calls.add("POST");
                match self.remote.create(&remote_data).await {
                    Ok(remote_id) => {
                        record_created(state, remote_id, data);
                        Ok(Ok(()))
                    }
                    Err(e) => Ok(failed(e)),
                }
            }
            RemoteCall::Update { remote_id, data } => {
                let Some(remote_data) = to_remote(&data, group) else {
                    return Ok(Err((SyncStatus::Waiting, waiting_message(&data))));
                };
                result.calls.add("PUT");
                match self.remote.replace(remote_id, &remote_data).await {
                    Ok(()) => {
                        state.synced = Some(data);
                        Ok(Ok(()))
                    }
                    Err(e) => Ok(failed(e)),
                }
            }
            RemoteCall::Delete { kind, remote_id } => {
                result.calls.add("DELETE");
                match self.remote.delete(kind, remote_id).await {
                    Ok(()) => {
                        state.remote_exists = false;
                        state.synced = None;
                        Ok(Ok(()))
                    }
                    Err(e) => Ok(failed(e)),
                }
            }
        }
    }
}

fn record_created(state: &mut SyncState, remote_id: u64, data: EntityData) {
    state.remote_id = Some(remote_id);
    state.remote_exists = true;
    state.synced = Some(data);
    state.creating = false;
}

fn waiting_message(data: &EntityData) -> String {
    match data {
        EntityData::Comment(c) => format!("waiting for post {} to reach the remote", c.post_id),
        EntityData::Post(_) => "waiting".into(),
    }
}

/// The entity in the remote's ids: a comment's `postId` becomes its post's remote id.
/// `None` while that post is not on the remote.
fn to_remote(data: &EntityData, group: &HashMap<EntityKey, SyncState>) -> Option<EntityData> {
    match data {
        EntityData::Post(_) => Some(data.clone()),
        EntityData::Comment(c) => {
            let post = group.get(&EntityKey::post(c.post_id))?;
            let remote_post = post.remote_id.filter(|_| post.remote_exists)?;
            let mut c = c.clone();
            c.post_id = remote_post;
            Some(EntityData::Comment(c))
        }
    }
}

//! The sync engine. A run takes the single lease, then drains the queue in rounds of up to
//! ten messages until it is empty or the time budget is spent. Each round merges the
//! changes per entity (against what the sync state says the remote holds), orders the
//! calls within each post's group (post created or updated, then its comments, then the
//! post deleted), runs the groups concurrently, records each entity's outcome, and only
//! then deletes the messages whose effect is recorded. A failed entity keeps its messages:
//! they come back after the visibility timeout and, if they keep failing, the queue's
//! redrive policy moves them to the dead-letter queue.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use ps_core::change::{EntityData, EntityKey, EntityKind};
use ps_core::merge::{Merged, RemoteCall, SyncState, SyncStatus, merge, phase, plan};
use ps_core::ports::{
    ChangeSource, PortError, QueuedChange, RemoteApi, RemoteError, SyncStateStore,
};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Stop starting rounds after this long (keep it well inside the function's timeout).
    pub budget: Duration,
    /// Post groups synced at once; within a group calls stay in order.
    pub concurrency: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            budget: Duration::from_secs(50),
            concurrency: 4,
        }
    }
}

impl SyncConfig {
    /// `SYNC_BUDGET_SECONDS` (default 50) and `SYNC_CONCURRENCY` (default 4).
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The queue was drained.
    #[default]
    Completed,
    /// The time budget ran out with messages left; the next run goes on.
    BudgetSpent,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub started_at: u64,
    pub duration_ms: u64,
    pub outcome: Outcome,
    pub rounds: u64,
    pub messages_received: u64,
    pub messages_deleted: u64,
    /// Messages whose change was already applied (redelivered, or older than what was).
    pub stale_messages: u64,
    pub entities_merged: u64,
    pub calls: CallCounts,
    /// Entities found on the remote after a create whose answer was lost, instead of
    /// being created twice.
    pub creates_recovered: u64,
    pub failures: Vec<EntityFailure>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    #[error("another sync is running (it holds the lease)")]
    LeaseHeld,
    /// Bookkeeping failed; the run stopped and every unrecorded change stays queued.
    #[error("sync aborted: {0}")]
    Port(#[from] PortError),
}

pub struct SyncEngine<'a> {
    pub source: &'a dyn ChangeSource,
    pub states: &'a dyn SyncStateStore,
    pub remote: &'a dyn RemoteApi,
    pub config: SyncConfig,
}

/// How one entity's changes ended in a round.
enum Settled {
    /// Recorded: its messages may leave the queue.
    Done,
    /// Not applied (failed, or waiting for its post): its messages stay.
    Kept(EntityFailure),
}

struct GroupResult {
    settled: Vec<(EntityKey, Settled)>,
    calls: CallCounts,
    recovered: u64,
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
        let result = self.drain(&mut report, started).await;
        report.duration_ms = started.elapsed().as_millis() as u64;
        if let Err(e) = self.states.release_lease(&owner).await {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        result.map(|()| report)
    }

    async fn drain(&self, report: &mut SyncReport, started: Instant) -> Result<(), SyncError> {
        loop {
            if started.elapsed() >= self.config.budget {
                report.outcome = Outcome::BudgetSpent;
                return Ok(());
            }
            let batch = self.source.receive(10).await?;
            if batch.is_empty() {
                report.outcome = Outcome::Completed;
                return Ok(());
            }
            report.rounds += 1;
            report.messages_received += batch.len() as u64;
            let done = self.round(&batch, report).await?;
            self.source.delete(&done).await?;
            report.messages_deleted += done.len() as u64;
        }
    }

    /// Merges and applies one batch; returns the receipts whose effect is recorded.
    async fn round(
        &self,
        batch: &[QueuedChange],
        report: &mut SyncReport,
    ) -> Result<Vec<String>, SyncError> {
        let mut keys: Vec<EntityKey> = batch.iter().map(|q| q.event.key).collect();
        keys.extend(
            batch
                .iter()
                .filter(|q| q.event.key.kind == EntityKind::Comment)
                .map(|q| EntityKey::post(q.event.post_id)),
        );
        let states = self.states.load(&keys).await?;
        let applied = |k: &EntityKey| states.get(k).and_then(|s| s.last_sequence.as_ref());
        report.stale_messages += batch
            .iter()
            .filter(|q| applied(&q.event.key).is_some_and(|a| q.event.sequence <= *a))
            .count() as u64;
        let merged = merge(batch.iter().map(|q| &q.event), applied);
        report.entities_merged += merged.len() as u64;

        // One group per post: its own changes and its comments'. Groups share no state.
        let mut groups: BTreeMap<u64, (Vec<Merged>, HashMap<EntityKey, SyncState>)> =
            BTreeMap::new();
        for m in merged {
            let group = groups.entry(m.post_id).or_default();
            for key in [m.key, EntityKey::post(m.post_id)] {
                if let Some(state) = states.get(&key) {
                    group.1.entry(key).or_insert_with(|| state.clone());
                }
            }
            group.0.push(m);
        }
        let results: Vec<Result<GroupResult, PortError>> =
            futures::stream::iter(groups.into_values())
                .map(|(items, states)| self.sync_group(items, states))
                .buffer_unordered(self.config.concurrency)
                .collect()
                .await;

        let mut done_keys = Vec::new();
        for result in results {
            let result = result?;
            report.calls.post += result.calls.post;
            report.calls.put += result.calls.put;
            report.calls.patch += result.calls.patch;
            report.calls.delete += result.calls.delete;
            report.creates_recovered += result.recovered;
            for (key, settled) in result.settled {
                match settled {
                    Settled::Done => done_keys.push(key),
                    Settled::Kept(failure) => report.failures.push(failure),
                }
            }
        }
        Ok(batch
            .iter()
            .filter(|q| done_keys.contains(&q.event.key))
            .map(|q| q.receipt.clone())
            .collect())
    }

    async fn sync_group(
        &self,
        mut items: Vec<Merged>,
        mut states: HashMap<EntityKey, SyncState>,
    ) -> Result<GroupResult, PortError> {
        let mut result = GroupResult {
            settled: Vec::new(),
            calls: CallCounts::default(),
            recovered: 0,
        };
        let unknown = SyncState::default();
        items.sort_by_cached_key(|m| {
            let state = states.get(&m.key).unwrap_or(&unknown);
            (
                phase(&m.key, plan(&m.key, m.desired.as_ref(), state).as_ref()),
                m.key,
            )
        });
        for m in items {
            let mut state = states.get(&m.key).cloned().unwrap_or_default();
            let Some(latest) = m.latest.clone() else {
                result.settled.push((m.key, Settled::Done));
                continue;
            };
            let call = plan(&m.key, m.desired.as_ref(), &state);
            let outcome = match call {
                None => Ok(()),
                Some(call) => {
                    self.apply(&m.key, call, &mut state, &states, &mut result)
                        .await?
                }
            };
            match outcome {
                Ok(()) => {
                    state.last_sequence = Some(latest);
                    state.status = SyncStatus::Synced;
                    state.last_error = None;
                    self.states.save(m.key, &state).await?;
                    result.settled.push((m.key, Settled::Done));
                }
                Err((status, error)) => {
                    tracing::warn!(entity = %m.key, %error, "entity not synced");
                    state.status = status;
                    state.last_error = Some(error.clone());
                    self.states.save(m.key, &state).await?;
                    result.settled.push((
                        m.key,
                        Settled::Kept(EntityFailure {
                            entity: m.key.kind,
                            id: m.key.id,
                            status,
                            error,
                        }),
                    ));
                }
            }
            states.insert(m.key, state);
        }
        Ok(result)
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

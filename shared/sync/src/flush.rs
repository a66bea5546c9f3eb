//! Flush: every pending change to the remote, page by page: first what this run's intake
//! journaled, with the states the intake wrote (current: only the lease holder writes them),
//! then the rest of the backlog. The pending index only says where to look; those pages'
//! states are read strongly consistently and only what they say is acted on, so a lagging
//! index can neither replay a synced change nor hide a newer one.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use ps_core::change::{ChangeEvent, EntityData, EntityKey, EntityKind};
use ps_core::merge::{RemoteCall, SyncState, SyncStatus, phase, plan};
use ps_core::ports::PortError;

use crate::call::{Failure, deleted};
use crate::intake::Journaled;
use crate::report::{CallCounts, EntityFailure};
use crate::{Run, SyncEngine, SyncError, SyncReport, unix_now_ms};

/// How long an entity waits after its `failures`-th failure that was the remote's: the
/// configured backoff, doubling, at most an hour.
fn backoff_ms(first: std::time::Duration, failures: u32) -> u64 {
    let first = first.as_millis().min(3_600_000) as u64;
    (first << failures.saturating_sub(1).min(16)).min(3_600_000)
}

/// The pending change is on the remote (or needs no call): the state says so.
fn settle(state: &mut SyncState, pending: &ChangeEvent) {
    state.last_sequence = Some(pending.sequence);
    state.pending = None;
    state.pending_epoch = 0;
    state.attempts = 0;
    state.failures = 0;
    state.retry_at = None;
    state.status = SyncStatus::Synced;
    state.last_error = None;
}

/// One post's group in a page: its pending entities and the states they need.
#[derive(Default)]
struct Group {
    post_id: u64,
    keys: Vec<EntityKey>,
    states: HashMap<EntityKey, SyncState>,
}

/// What syncing one group did.
#[derive(Default)]
pub(crate) struct GroupResult {
    pub calls: CallCounts,
    pub recovered: u64,
    pub unresolved: u64,
    pub synced: u64,
    pub deferred: u64,
    pub backing_off: u64,
    pub parked: u64,
    pub gone_with_post: u64,
    pub cascade_checks: u64,
    pub failures: Vec<EntityFailure>,
}

/// Splits a group into its deletes (first wave) and the rest. A comment's delete needs
/// nothing of its post's or siblings' calls, so it can go first; a post's delete must follow
/// its comments' calls, so a group whose post is deleted goes whole into the first wave (its
/// other calls are rare: comments of a post being deleted are mostly deleted too).
fn split_deletes(mut group: Group) -> (Group, Group) {
    let unknown = SyncState::default();
    let deletes = |key: &EntityKey| {
        let state = group.states.get(key).unwrap_or(&unknown);
        let desired = state.pending.as_ref().and_then(|p| p.after.as_ref());
        matches!(
            plan(key, desired, state),
            Some(RemoteCall::Delete { .. } | RemoteCall::Withdraw(_))
        )
    };
    // An empty group is no work (the waves skip it).
    let post = EntityKey::post(group.post_id);
    if group.keys.contains(&post) && deletes(&post) {
        return (group, Group::default());
    }
    let (first, rest): (Vec<EntityKey>, Vec<EntityKey>) =
        group.keys.iter().copied().partition(|key| deletes(key));
    if first.is_empty() {
        return (Group::default(), group);
    }
    // Each wave gets its own entities' states, and the post's (read only by a comment's call).
    let take = |keys: &[EntityKey], states: &mut HashMap<EntityKey, SyncState>| {
        let mut own: HashMap<EntityKey, SyncState> = keys
            .iter()
            .filter_map(|k| states.remove(k).map(|s| (*k, s)))
            .collect();
        if let Some(state) = states.get(&post) {
            own.entry(post).or_insert_with(|| state.clone());
        }
        own
    };
    let first_states = take(&first, &mut group.states);
    let rest_states = take(&rest, &mut group.states);
    (
        Group {
            post_id: group.post_id,
            keys: first,
            states: first_states,
        },
        Group {
            post_id: group.post_id,
            keys: rest,
            states: rest_states,
        },
    )
}

impl SyncEngine<'_> {
    /// Tries every pending change once; true when none was left (for lack of time, or
    /// because the remote was unavailable).
    pub(crate) async fn flush(
        &self,
        run: &Run,
        journaled: Journaled,
        report: &mut SyncReport,
    ) -> Result<bool, SyncError> {
        let mut attempted: HashSet<EntityKey> = HashSet::new();
        // States this flush wrote: what the intake knew of them is stale from then on.
        let mut written: HashSet<EntityKey> = HashSet::new();
        for page in journaled.keys.chunks(self.config.page_size.max(1)) {
            let states = self.page_states(page, &journaled.known, &written).await?;
            let (complete, wrote) = self
                .flush_page(run, page, states, &mut attempted, report)
                .await?;
            written.extend(wrote);
            if !complete {
                return Ok(false);
            }
        }
        drop(journaled);
        let none = HashMap::new();
        let mut after = None;
        loop {
            if self.stopped(run) {
                return Ok(false);
            }
            let page = self
                .states
                .pending_page(after, self.config.page_size.max(1))
                .await?;
            let Some(&last) = page.last() else {
                return Ok(true);
            };
            after = Some(last);
            let fresh: Vec<EntityKey> = page
                .into_iter()
                .filter(|k| !attempted.contains(k))
                .collect();
            let states = self.page_states(&fresh, &none, &written).await?;
            if !self
                .flush_page(run, &fresh, states, &mut attempted, report)
                .await?
                .0
            {
                return Ok(false);
            }
        }
    }

    /// The states a page needs: its entities', and the posts of its comments' changes (a
    /// comment needs its post's remote id, and its post's pending change first). Taken from
    /// `known` (what the intake wrote or read under this lease, so current) unless this
    /// flush has written them since; the rest read strongly consistently.
    async fn page_states(
        &self,
        keys: &[EntityKey],
        known: &HashMap<EntityKey, SyncState>,
        written: &HashSet<EntityKey>,
    ) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        let mut states = HashMap::with_capacity(keys.len());
        self.current_or_read(keys, known, written, &mut states)
            .await?;
        let mut posts: Vec<EntityKey> = states
            .iter()
            .filter(|(k, _)| k.kind == EntityKind::Comment)
            .filter_map(|(_, s)| s.pending.as_ref().map(|p| EntityKey::post(p.post_id)))
            .filter(|p| !states.contains_key(p))
            .collect();
        posts.sort_unstable();
        posts.dedup();
        self.current_or_read(&posts, known, written, &mut states)
            .await?;
        Ok(states)
    }

    /// Adds the states of `keys` to `states`: from `known` unless this flush has written
    /// them since, the rest read strongly consistently.
    async fn current_or_read(
        &self,
        keys: &[EntityKey],
        known: &HashMap<EntityKey, SyncState>,
        written: &HashSet<EntityKey>,
        states: &mut HashMap<EntityKey, SyncState>,
    ) -> Result<(), PortError> {
        let mut read = Vec::new();
        for key in keys {
            match known.get(key).filter(|_| !written.contains(key)) {
                Some(state) => {
                    states.insert(*key, state.clone());
                }
                None => read.push(*key),
            }
        }
        if !read.is_empty() {
            states.extend(self.states.load(&read).await?);
        }
        Ok(())
    }

    /// Syncs the pending changes of `keys` (and of the posts their comments need first),
    /// from `states` as [`Self::page_states`] gave them. Returns whether it got through them
    /// all, and the entities whose states it may have written.
    async fn flush_page(
        &self,
        run: &Run,
        keys: &[EntityKey],
        mut states: HashMap<EntityKey, SyncState>,
        attempted: &mut HashSet<EntityKey>,
        report: &mut SyncReport,
    ) -> Result<(bool, HashSet<EntityKey>), SyncError> {
        let mut written = HashSet::new();
        if keys.is_empty() {
            return Ok((true, written));
        }
        if self.stopped(run) {
            report.entities_deferred += keys.len() as u64;
            return Ok((false, written));
        }
        let mut groups: BTreeMap<u64, Group> = BTreeMap::new();
        for key in keys {
            // Gone from the state since the index listed it: synced already.
            let Some(pending) = states.get(key).and_then(|s| s.pending.as_ref()) else {
                continue;
            };
            let group = groups.entry(pending.post_id).or_default();
            group.post_id = pending.post_id;
            group.keys.push(*key);
        }
        let mut taken = 0;
        for (post_id, group) in &mut groups {
            let post = EntityKey::post(*post_id);
            if !group.keys.contains(&post)
                && !attempted.contains(&post)
                && states.get(&post).is_some_and(|s| s.pending.is_some())
            {
                group.keys.push(post);
            }
            for key in group.keys.iter().chain([&post]) {
                if let Some(state) = states.remove(key) {
                    group.states.insert(*key, state);
                }
            }
            attempted.extend(group.keys.iter().copied());
            written.extend(group.states.keys().copied());
            taken += group.keys.len();
        }
        report.entities_pending += taken as u64;
        // Two waves: the page's deletes first, then its creates and updates. A remote that
        // hands out a deleted record's id again (json-server does, for the highest id) would
        // otherwise answer a create with an id whose delete is in flight in another group, not
        // yet recorded: the claim must then defer the create (see `Claim`), which costs it a
        // backoff. After the first wave every such delete is recorded.
        let (deletes, rest): (Vec<Group>, Vec<Group>) =
            groups.into_values().map(split_deletes).unzip();
        let mut results = Vec::new();
        for wave in [deletes, rest] {
            results.extend(
                futures::stream::iter(wave.into_iter().filter(|g| !g.keys.is_empty()))
                    .map(|group| self.sync_group(run, group))
                    .buffer_unordered(self.config.concurrency.max(1))
                    .collect::<Vec<Result<GroupResult, PortError>>>()
                    .await,
            );
        }
        let mut complete = true;
        for result in results {
            let result = result?;
            report.calls.absorb(result.calls);
            report.creates_recovered += result.recovered;
            report.creates_unresolved += result.unresolved;
            report.entities_synced += result.synced;
            report.entities_deferred += result.deferred;
            report.entities_backing_off += result.backing_off;
            report.parked += result.parked;
            report.gone_with_post += result.gone_with_post;
            report.cascade_checks += result.cascade_checks;
            for failure in result.failures {
                report.failed(failure);
            }
            complete &= result.deferred == 0;
        }
        Ok((complete && !self.stopped(run), written))
    }

    async fn sync_group(&self, run: &Run, group: Group) -> Result<GroupResult, PortError> {
        let Group {
            post_id,
            mut keys,
            mut states,
        } = group;
        let mut result = GroupResult::default();
        let unknown = SyncState::default();
        let call_of = |key: &EntityKey| {
            let state = states.get(key).unwrap_or(&unknown);
            let desired = state.pending.as_ref().and_then(|p| p.after.as_ref());
            plan(key, desired, state)
        };
        keys.sort_by_cached_key(|key| (phase(key, call_of(key).as_ref()), *key));
        // A remote that deletes a post's comments with the post: the comments it holds under
        // this post, deleted here with it, wait for the post's delete instead of calling.
        let post = EntityKey::post(post_id);
        let post_deleted =
            keys.contains(&post) && matches!(call_of(&post), Some(RemoteCall::Delete { .. }));
        let carried: Vec<EntityKey> = if post_deleted && self.remote.deletes_cascade() {
            keys.iter()
                .copied()
                .filter(|key| {
                    let under_post = matches!(
                        states.get(key).and_then(|s| s.synced.as_ref()),
                        Some(EntityData::Comment(c)) if c.post_id == post_id
                    );
                    under_post && matches!(call_of(key), Some(RemoteCall::Delete { .. }))
                })
                .collect()
        } else {
            Vec::new()
        };
        keys.retain(|key| !carried.contains(key));
        let gone_now = self.sync_keys(run, keys, &mut states, &mut result).await?;
        if carried.is_empty() || !gone_now.contains(&post) {
            // Not deleted this time: they stay pending, and go with it when it goes. (A run
            // that dies after the post's delete leaves them pending deletes: while they are,
            // an id of theirs the remote hands out again is no one's, see `Claim`.)
            return Ok(result);
        }
        let left = self
            .left_behind(run, post, &carried, &states, &mut result)
            .await;
        let mut gone = Vec::with_capacity(carried.len());
        let mut still_there = Vec::new();
        for key in carried {
            if left.as_ref().is_none_or(|left| {
                states
                    .get(&key)
                    .and_then(|s| s.remote_id)
                    .is_some_and(|id| left.contains(&id))
            }) {
                still_there.push(key);
                continue;
            }
            let mut state = states.remove(&key).unwrap_or_default();
            let Some(pending) = state.pending.clone() else {
                continue;
            };
            deleted(&mut state);
            settle(&mut state, &pending);
            tracing::debug!(entity = %key, "gone with its post");
            result.synced += 1;
            result.gone_with_post += 1;
            gone.push((key, state));
        }
        if !gone.is_empty() {
            self.states.save(run.lease, &mut gone).await?;
        }
        // What the post's delete left behind is deleted one by one, as without the
        // capability: so is all of it when what was left behind could not be read.
        self.sync_keys(run, still_there, &mut states, &mut result)
            .await?;
        Ok(result)
    }

    /// After the delete of `post`, on a remote said to delete a post's comments with it:
    /// the remote ids of the comments it still holds under the post (one read). `None` if
    /// the read failed.
    async fn left_behind(
        &self,
        run: &Run,
        post: EntityKey,
        carried: &[EntityKey],
        states: &HashMap<EntityKey, SyncState>,
        result: &mut GroupResult,
    ) -> Option<Vec<u64>> {
        let post_remote_id = states.get(&post)?.remote_id?;
        result.cascade_checks += 1;
        let read = tokio::time::timeout(
            self.config.call_deadline,
            self.remote.comments_of(post_remote_id),
        )
        .await;
        let ours: Vec<u64> = carried
            .iter()
            .filter_map(|k| states.get(k)?.remote_id)
            .collect();
        match read {
            Ok(Ok(left)) => {
                if left.iter().any(|id| ours.contains(id)) && run.refute_cascade() {
                    tracing::warn!(
                        entity = %post,
                        "the remote is said to delete a post's comments with it, but kept some: they are deleted one by one (set REMOTE_DELETES_CASCADE=false to spare the check)"
                    );
                }
                Some(left)
            }
            Ok(Err(e)) => {
                tracing::warn!(entity = %post, error = %e, "could not list what the post's delete left behind; its comments are deleted one by one");
                None
            }
            Err(_) => None,
        }
    }

    /// Syncs `keys` in order, recording each outcome. Returns the entities deleted on the
    /// remote.
    async fn sync_keys(
        &self,
        run: &Run,
        keys: Vec<EntityKey>,
        states: &mut HashMap<EntityKey, SyncState>,
        result: &mut GroupResult,
    ) -> Result<Vec<EntityKey>, PortError> {
        let mut deleted = Vec::new();
        for key in keys {
            if self.stopped(run) {
                result.deferred += 1;
                continue;
            }
            let mut state = states.get(&key).cloned().unwrap_or_default();
            let Some(pending) = state.pending.clone() else {
                continue;
            };
            if state.retry_at.is_some_and(|at| at > unix_now_ms()) {
                result.backing_off += 1;
                continue;
            }
            let outcome = match plan(&key, pending.after.as_ref(), &state) {
                None => Ok(()),
                Some(call) => {
                    tracing::debug!(entity = %key, ?call, "calling");
                    let deletes = matches!(call, RemoteCall::Delete { .. });
                    let outcome = self
                        .apply(run, &key, call, &mut state, states, result)
                        .await?;
                    if deletes && outcome.is_ok() {
                        deleted.push(key);
                    }
                    outcome
                }
            };
            match outcome {
                Ok(()) => {
                    settle(&mut state, &pending);
                    result.synced += 1;
                }
                Err(failure) => {
                    let (status, error, counted) = match failure {
                        Failure::Waiting(e) => (SyncStatus::Waiting, e, false),
                        Failure::Unavailable(e) => (SyncStatus::Pending, e, false),
                        Failure::Failing(e) => {
                            state.failures += 1;
                            state.retry_at = Some(
                                unix_now_ms() + backoff_ms(self.config.backoff, state.failures),
                            );
                            (SyncStatus::Failed, e, false)
                        }
                        Failure::Refused(e) => (SyncStatus::Failed, e, true),
                    };
                    tracing::warn!(entity = %key, %error, counted, "entity not synced");
                    state.attempts += u32::from(counted);
                    state.status = status;
                    let parked = counted
                        && state.attempts >= self.config.max_attempts
                        && self.park(&key, &pending).await;
                    state.last_error = Some(crate::report::bounded(if parked {
                        format!(
                            "parked in the dead-letter queue after {} attempts: {error}",
                            state.attempts
                        )
                    } else {
                        error.clone()
                    }));
                    if parked {
                        state.pending = None;
                        state.pending_epoch = 0;
                        state.status = SyncStatus::Failed;
                        result.parked += 1;
                    }
                    result.failures.push(EntityFailure {
                        entity: key.kind,
                        id: key.id,
                        status: state.status,
                        error,
                        attempts: state.attempts,
                        counted,
                        parked,
                    });
                }
            }
            self.save_one(run, key, &mut state).await?;
            states.insert(key, state);
        }
        Ok(deleted)
    }

    /// Writes one state, conditional on the revision it was read at.
    pub(crate) async fn save_one(
        &self,
        run: &Run,
        key: EntityKey,
        state: &mut SyncState,
    ) -> Result<(), PortError> {
        let mut one = [(key, std::mem::take(state))];
        let saved = self.states.save(run.lease, &mut one).await;
        *state = std::mem::take(&mut one[0].1);
        saved
    }
}

//! One entity's remote call and its effect on the entity's sync state.
//!
//! A create is the one call that is not safe to repeat. Before it the state is marked
//! "creating"; if its answer is lost, the next attempt first looks for it on the remote and
//! adopts only a copy that no other local entity holds (a claim on its remote id), and
//! creates again only if there is none.

use std::collections::HashMap;
use std::future::Future;

use ps_core::change::{EntityData, EntityKey};
use ps_core::merge::{RemoteCall, SyncState};
use ps_core::ports::{Claim, PortError, RemoteError};

use crate::flush::GroupResult;
use crate::{Run, SyncEngine};

/// Why an entity was not synced this time.
pub(crate) enum Failure {
    /// A comment whose post is not on the remote yet: no attempt.
    Waiting(String),
    /// The remote was unavailable (or asked to wait): no attempt, the run stops calling.
    Unavailable(String),
    /// A server error or no answer for this change while the remote answers otherwise: the
    /// remote's fault, not the change's. No attempt; the entity waits longer each time.
    Failing(String),
    /// The remote refused the change (a 4xx): an attempt, parked after the last.
    Refused(String),
}

type Applied = Result<Result<(), Failure>, PortError>;

impl SyncEngine<'_> {
    /// Makes one call and updates `state` with its effect. The outer error aborts the run
    /// (bookkeeping failed); the inner one is this entity's.
    pub(crate) async fn apply(
        &self,
        run: &Run,
        key: &EntityKey,
        call: RemoteCall,
        state: &mut SyncState,
        group: &HashMap<EntityKey, SyncState>,
        result: &mut GroupResult,
    ) -> Applied {
        match call {
            RemoteCall::Create(data) => self.create(run, key, data, state, group, result).await,
            RemoteCall::Update { remote_id, data } => {
                let Some(remote_data) = to_remote(&data, group) else {
                    return Ok(Err(Failure::Waiting(waiting_message(&data))));
                };
                self.replace(run, remote_id, data, &remote_data, state, result)
                    .await
            }
            RemoteCall::Withdraw(sent) => {
                // Looked for under the post it was sent under, even if that post is gone
                // since: a remote that does not delete a post's comments with it keeps it.
                // A post the remote never had had nothing sent under it.
                let Some(remote_sent) = to_remote_as_sent(&sent, group) else {
                    withdrawn(state);
                    return Ok(Ok(()));
                };
                match self.claim_lost_copy(run, key, &remote_sent).await? {
                    Err(failure) => return Ok(Err(failure)),
                    Ok(None) => {}
                    Ok(Some(remote_id)) => {
                        // Adopted and recorded before the delete, so that from here it is an
                        // ordinary delete of an id this entity holds: retried until recorded,
                        // and its claim released only then.
                        record_created(state, remote_id, sent.clone());
                        self.save_one(run, *key, state).await?;
                        result.recovered += 1;
                        result.calls.add("DELETE");
                        if let Err(e) = self
                            .within_deadline(self.remote.delete(key.kind, remote_id), false)
                            .await
                        {
                            return Ok(Err(self.classify(run, e).await));
                        }
                        self.states.release_remote(remote_id, *key).await?;
                    }
                }
                withdrawn(state);
                Ok(Ok(()))
            }
            RemoteCall::Delete { kind, remote_id } => {
                // A remote that hands ids out again (json-server does) may have given this
                // one to an entity created since, after an earlier delete of ours whose answer
                // was lost: if another entity holds it, ours is gone already.
                if !self
                    .states
                    .claim_remote(run.lease, remote_id, *key)
                    .await?
                    .taken()
                {
                    deleted(state);
                    return Ok(Ok(()));
                }
                result.calls.add("DELETE");
                match self
                    .within_deadline(self.remote.delete(kind, remote_id), false)
                    .await
                {
                    Ok(()) => {
                        self.states.release_remote(remote_id, *key).await?;
                        deleted(state);
                        Ok(Ok(()))
                    }
                    Err(e) => Ok(Err(self.classify(run, e).await)),
                }
            }
        }
    }

    async fn create(
        &self,
        run: &Run,
        key: &EntityKey,
        data: EntityData,
        state: &mut SyncState,
        group: &HashMap<EntityKey, SyncState>,
        result: &mut GroupResult,
    ) -> Applied {
        let Some(remote_data) = to_remote(&data, group) else {
            if state.create_epoch == run.lease.epoch {
                // Marked by this run's journal and not sent: nothing to look for later.
                state.forget_create();
            }
            return Ok(Err(Failure::Waiting(waiting_message(&data))));
        };
        if state.creating && state.remote_id.is_none() && state.create_epoch < run.lease.epoch {
            // Marked by an earlier run, which may have sent it and died: find what it sent
            // before sending another (the entity may have changed since).
            let sent = state.create_sent.clone().unwrap_or_else(|| data.clone());
            let Some(remote_sent) = to_remote(&sent, group) else {
                return Ok(Err(Failure::Waiting(waiting_message(&sent))));
            };
            match self.claim_lost_copy(run, key, &remote_sent).await? {
                Err(failure) => return Ok(Err(failure)),
                Ok(None) => {}
                Ok(Some(remote_id)) => {
                    tracing::info!(entity = %key, remote_id, "found the create whose answer was lost");
                    record_created(state, remote_id, sent.clone());
                    result.recovered += 1;
                    if sent == data {
                        return Ok(Ok(()));
                    }
                    // Found as it was sent; the entity has changed since. The adoption is
                    // recorded before the PUT, with what the remote holds unknown, or a crash
                    // during the PUT would leave a copy no look-up matches any more.
                    state.synced = None;
                    self.save_one(run, *key, state).await?;
                    return self
                        .replace(run, remote_id, data, &remote_data, state, result)
                        .await;
                }
            }
        }
        // Recorded before the call: if the answer is lost, the next attempt looks for what
        // was sent before creating it again. The journal wrote this already for a create
        // taken in by this run; a create retried after a certain failure writes it here.
        if !state.creating || state.create_sent.as_ref() != Some(&data) {
            state.creating = true;
            state.create_sent = Some(data.clone());
            state.create_epoch = run.lease.epoch;
            self.save_one(run, *key, state).await?;
        }
        result.calls.add("POST");
        match self
            .within_deadline(self.remote.create(&remote_data), true)
            .await
        {
            Ok(remote_id) => {
                if !self
                    .states
                    .claim_remote(run.lease, remote_id, *key)
                    .await?
                    .taken()
                {
                    // The remote handed out an id whose previous holder's delete is not
                    // recorded yet: that delete may still take it. Resolved like a lost
                    // answer: looked up (and, if gone, created again) by the next attempt.
                    result.unresolved += 1;
                    return Ok(Err(Failure::Failing(format!(
                        "the remote gave id {remote_id}, still held by another entity"
                    ))));
                }
                record_created(state, remote_id, data);
                Ok(Ok(()))
            }
            Err(e) => {
                match e {
                    RemoteError::Unknown(_) => result.unresolved += 1,
                    // Certainly not done (refused before or as it was sent): nothing to look
                    // for next time.
                    RemoteError::Transient { .. } | RemoteError::Rejected(_) => {
                        state.forget_create();
                    }
                }
                Ok(Err(self.classify(run, e).await))
            }
        }
    }

    /// After a create whose outcome is unknown: the remote copy of what it sent
    /// (`remote_sent`) that this entity now holds, if the remote has one no other entity holds.
    async fn claim_lost_copy(
        &self,
        run: &Run,
        key: &EntityKey,
        remote_sent: &EntityData,
    ) -> Result<Result<Option<u64>, Failure>, PortError> {
        let candidates = match self
            .within_deadline(self.remote.find(remote_sent), false)
            .await
        {
            Ok(candidates) => candidates,
            Err(e) => return Ok(Err(self.classify(run, e).await)),
        };
        let mut undecided = None;
        for remote_id in candidates {
            match self.states.claim_remote(run.lease, remote_id, *key).await? {
                Claim::Taken => return Ok(Ok(Some(remote_id))),
                Claim::Held => {}
                // Perhaps ours, under an id the remote handed out again after that
                // entity's delete: decided once its delete is recorded.
                Claim::HeldByLeaving => undecided = Some(remote_id),
            }
        }
        match undecided {
            Some(remote_id) => Ok(Err(Failure::Failing(format!(
                "a copy of what the create sent is at remote id {remote_id}, which an entity being deleted still holds"
            )))),
            None => Ok(Ok(None)),
        }
    }

    /// Replaces the remote copy with `data` (`remote_data` in the remote's ids). No write
    /// before it: if the run dies before recording the outcome, the state still holds the
    /// old data as synced, but also this change as pending under this run's epoch, and the
    /// journal of any later run forgets the old data before merging into it (see
    /// [`ps_core::merge::journal`]), so an edit back to it still gets its call. A failure
    /// that may have landed leaves what the remote holds unknown.
    async fn replace(
        &self,
        run: &Run,
        remote_id: u64,
        data: EntityData,
        remote_data: &EntityData,
        state: &mut SyncState,
        result: &mut GroupResult,
    ) -> Applied {
        result.calls.add("PUT");
        match self
            .within_deadline(self.remote.replace(remote_id, remote_data), false)
            .await
        {
            Ok(()) => {
                state.synced = Some(data);
                Ok(Ok(()))
            }
            Err(e) => {
                state.synced = None;
                Ok(Err(self.classify(run, e).await))
            }
        }
    }

    /// A remote call bounded by the call deadline. Past it, a create's outcome is unknown;
    /// any other call is simply not done.
    async fn within_deadline<T>(
        &self,
        call: impl Future<Output = Result<T, RemoteError>>,
        is_create: bool,
    ) -> Result<T, RemoteError> {
        match tokio::time::timeout(self.config.call_deadline, call).await {
            Ok(result) => result,
            Err(_) => {
                let message = format!("no answer within {:?}", self.config.call_deadline);
                Err(if is_create {
                    RemoteError::Unknown(message)
                } else {
                    RemoteError::transient(message)
                })
            }
        }
    }

    /// What a failure means. A refusal counts against the change. A server error or no
    /// answer is the remote's fault: if it answers a probe right after, it fails this change
    /// while serving others, and the entity backs off; if not, the remote is unavailable and
    /// the run stops calling it. Neither counts, so no outage or flaky remote parks anything.
    async fn classify(&self, run: &Run, error: RemoteError) -> Failure {
        let message = error.to_string();
        match error {
            RemoteError::Rejected(_) => Failure::Refused(message),
            RemoteError::Transient {
                retry_after: Some(_),
                ..
            } => {
                // The remote said when to come back, later than a run waits.
                run.stop_calling();
                Failure::Unavailable(message)
            }
            RemoteError::Transient { .. } | RemoteError::Unknown(_) => {
                if run.remote_down() {
                    return Failure::Unavailable(message);
                }
                match self.within_deadline(self.remote.probe(), false).await {
                    Ok(()) => Failure::Failing(message),
                    Err(_) => {
                        run.stop_calling();
                        Failure::Unavailable(message)
                    }
                }
            }
        }
    }

    /// Sends the change to the dead-letter queue; false (and the change stays pending) if
    /// that failed.
    pub(crate) async fn park(
        &self,
        key: &EntityKey,
        pending: &ps_core::change::ChangeEvent,
    ) -> bool {
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
}

fn record_created(state: &mut SyncState, remote_id: u64, data: EntityData) {
    state.remote_id = Some(remote_id);
    state.remote_exists = true;
    state.synced = Some(data);
    state.forget_create();
}

/// Gone from the remote.
pub(crate) fn deleted(state: &mut SyncState) {
    state.remote_exists = false;
    state.synced = None;
}

/// A create whose outcome was unknown, of an entity since deleted: no longer on the remote.
fn withdrawn(state: &mut SyncState) {
    deleted(state);
    state.forget_create();
}

fn waiting_message(data: &EntityData) -> String {
    match data {
        EntityData::Comment(c) => format!("waiting for post {} to reach the remote", c.post_id),
        EntityData::Post(_) => "waiting".into(),
    }
}

/// What a create sent, in the remote's ids: a comment's post's remote id, whether or not the
/// remote still has that post. `None` if the post never had one (nothing was sent).
fn to_remote_as_sent(
    data: &EntityData,
    group: &HashMap<EntityKey, SyncState>,
) -> Option<EntityData> {
    match data {
        EntityData::Post(_) => Some(data.clone()),
        EntityData::Comment(c) => {
            let mut c = c.clone();
            c.post_id = group.get(&EntityKey::post(c.post_id))?.remote_id?;
            Some(EntityData::Comment(c))
        }
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

//! The merge: many captured changes of an entity become at most one remote call, chosen from
//! what the remote is known to hold. Pure, so its rules are proven by property tests.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::change::{ChangeEvent, EntityData, EntityKey, EntityKind, SequenceNumber};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    /// Changes are known but not yet on the remote.
    #[default]
    Pending,
    Synced,
    /// The last attempt failed; `last_error` says why. The change stays pending until it
    /// succeeds or, after the last attempt, is parked in the dead-letter queue.
    Failed,
    /// A comment whose post is not on the remote yet.
    Waiting,
}

fn is_zero<N: Default + PartialEq>(n: &N) -> bool {
    *n == N::default()
}

/// What the sync knows about one entity on the remote. Kept per entity, outside the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// The id the remote gave it (the remote assigns its own ids on create).
    pub remote_id: Option<u64>,
    /// Whether the remote holds it now.
    pub remote_exists: bool,
    /// The data the remote last accepted, in local terms: an update to the same data is
    /// no call.
    pub synced: Option<EntityData>,
    /// The newest change applied: an older or repeated change is never applied over it.
    pub last_sequence: Option<SequenceNumber>,
    pub status: SyncStatus,
    pub last_error: Option<String>,
    /// A create may have been sent and its answer is not recorded: the one window where a
    /// remote create could be repeated. Marked when the create is journaled, in the same
    /// write, so a create costs no write of its own before its call.
    pub creating: bool,
    /// The lease epoch of the run that marked `creating`. A run that finds its own epoch
    /// here knows it has not sent the create yet (it makes one attempt per entity); an
    /// older epoch means a run that may have sent it and died: the create is looked for on
    /// the remote before it is sent again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub create_epoch: u64,
    /// What that create sent (local ids): the look-up searches for this, not for the
    /// entity as it is now, which may have changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_sent: Option<EntityData>,
    /// The newest change taken off the queue and not yet on the remote. Journaled here
    /// before its message is deleted, so later changes merge into it across runs and the
    /// remote gets one call for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<ChangeEvent>,
    /// The lease epoch of the run that journaled `pending`. A run of a newer epoch may be
    /// looking at a change an earlier run sent without recording it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending_epoch: u64,
    /// Failed attempts at the pending change; at the limit it is parked in the DLQ. Only
    /// failures of this change count, never an unavailable remote.
    #[serde(default)]
    pub attempts: u32,
    /// Failures of the pending change that were the remote's (a server error or no answer
    /// while it answered otherwise): they never park it, but it waits longer after each.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// Not to be tried again before this (Unix milliseconds), after such a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<u64>,
    /// The revision the store held when this was read (0: never written by the sync). Kept
    /// by the store beside the state, not in it: every write is conditional on it.
    #[serde(skip)]
    pub revision: u64,
}

impl SyncState {
    /// An entity imported from the remote: already there, under the same id.
    pub fn imported(data: EntityData) -> Self {
        SyncState {
            remote_id: Some(data.key().id),
            remote_exists: true,
            synced: Some(data),
            last_sequence: None,
            status: SyncStatus::Synced,
            last_error: None,
            creating: false,
            create_epoch: 0,
            create_sent: None,
            pending: None,
            pending_epoch: 0,
            attempts: 0,
            failures: 0,
            retry_at: None,
            revision: 0,
        }
    }

    /// Forgets the create's mark: it was recorded, withdrawn, certainly not done, or never
    /// sent.
    pub fn forget_create(&mut self) {
        self.creating = false;
        self.create_sent = None;
        self.create_epoch = 0;
    }

    /// A new pending change: pending again, with fresh attempts (new data may be what the
    /// remote rejected) and no error or wait left from the change it replaces.
    pub fn fresh_attempts(&mut self) {
        self.attempts = 0;
        self.failures = 0;
        self.retry_at = None;
        self.status = SyncStatus::Pending;
        self.last_error = None;
    }

    /// The newest change the sync has taken in, applied or pending: any change at or below
    /// it is a repeat.
    pub fn newest_taken(&self) -> Option<&SequenceNumber> {
        self.pending
            .as_ref()
            .map(|p| &p.sequence)
            .or(self.last_sequence.as_ref())
    }
}

/// The merged changes of one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged<'a> {
    pub key: EntityKey,
    pub post_id: u64,
    /// The newest change not yet applied; `None` when every change was already applied
    /// (a redelivery, or an older change arriving late).
    pub newest: Option<&'a ChangeEvent>,
}

impl<'a> Merged<'a> {
    pub fn latest(&self) -> Option<SequenceNumber> {
        self.newest.map(|e| e.sequence)
    }

    /// The entity as its newest change left it; `None` if removed.
    pub fn desired(&self) -> Option<&'a EntityData> {
        self.newest.and_then(|e| e.after.as_ref())
    }
}

/// Merges change events per entity, ignoring any at or below the entity's last applied
/// sequence. The result does not depend on the order the events arrive in, and lists the
/// entities in key order.
pub fn merge<'a, 's>(
    events: impl IntoIterator<Item = &'a ChangeEvent>,
    last_applied: impl Fn(&EntityKey) -> Option<&'s SequenceNumber>,
) -> Vec<Merged<'a>> {
    let events = events.into_iter();
    let count = events.size_hint().0;
    // A merge larger than the cache first splits its events by entity, so that each part's
    // map stays in cache: one map for all would miss the cache on nearly every event, and
    // the cost per event would grow with the number of events.
    let bits = if count < SPLIT_FROM {
        0
    } else {
        (count / EVENTS_PER_PART)
            .next_power_of_two()
            .trailing_zeros()
    };
    merge_in_parts(events, last_applied, bits)
}

/// The merge, over `1 << bits` parts of the events split by entity (whole for 0).
fn merge_in_parts<'a, 's>(
    events: impl Iterator<Item = &'a ChangeEvent>,
    last_applied: impl Fn(&EntityKey) -> Option<&'s SequenceNumber>,
    bits: u32,
) -> Vec<Merged<'a>> {
    let mut merged = Vec::new();
    if bits == 0 {
        newest_per_entity(events.map(Candidate::of), &last_applied, &mut merged);
    } else {
        // Room for a part a quarter over its share, so few grow.
        let room = (events.size_hint().0 >> bits) * 5 / 4;
        let mut split: Vec<Vec<Candidate>> = (0..1usize << bits)
            .map(|_| Vec::with_capacity(room))
            .collect();
        for event in events {
            split[part_of(&event.key, bits)].push(Candidate::of(event));
        }
        for part in split {
            newest_per_entity(part.into_iter(), &last_applied, &mut merged);
        }
    }
    merged.sort_unstable_by_key(|m| m.key);
    merged
}

/// From this many events (some 25 MB of them, more than a server's last-level cache) the
/// merge splits them into parts. Below it splitting costs more than it saves: measured at
/// 10^5 events, 66 ns per event whole and 120 split; at 10^6, 204 whole and 110 split.
const SPLIT_FROM: usize = 1 << 17;

/// Events per part of a split merge: a part's map fits a core's own cache. Measured at 10^6
/// events: 4096 per part, 115-130 ns per event; 16384, 100-116; 65536, 140-155.
const EVENTS_PER_PART: usize = 1 << 14;

/// An event as the merge compares it, copied out so a part reads no event again.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    key: EntityKey,
    post_id: u64,
    sequence: SequenceNumber,
    event: &'a ChangeEvent,
}

impl<'a> Candidate<'a> {
    fn of(event: &'a ChangeEvent) -> Self {
        Candidate {
            key: event.key,
            post_id: event.post_id,
            sequence: event.sequence,
            event,
        }
    }
}

/// Which of `1 << bits` parts an entity's events go to (Fibonacci hashing of the id).
fn part_of(key: &EntityKey, bits: u32) -> usize {
    let mixed = (key.id ^ key.kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - bits)) as usize
}

fn newest_per_entity<'a, 's>(
    candidates: impl Iterator<Item = Candidate<'a>>,
    last_applied: &impl Fn(&EntityKey) -> Option<&'s SequenceNumber>,
    merged: &mut Vec<Merged<'a>>,
) {
    // Per entity, the newest unapplied event by reference (nothing is cloned), beside a copy
    // of its sequence number: comparing against it reads no other event.
    struct Slot<'a> {
        post_id: u64,
        newest: Option<(SequenceNumber, &'a ChangeEvent)>,
    }
    let mut slots: HashMap<EntityKey, Slot<'a>> = HashMap::new();
    for c in candidates {
        let slot = slots.entry(c.key).or_insert(Slot {
            post_id: c.post_id,
            newest: None,
        });
        if last_applied(&c.key).is_some_and(|applied| c.sequence <= *applied) {
            continue;
        }
        if slot.newest.is_none_or(|(current, _)| c.sequence > current) {
            *slot = Slot {
                post_id: c.post_id,
                newest: Some((c.sequence, c.event)),
            };
        }
    }
    merged.extend(slots.into_iter().map(|(key, slot)| Merged {
        key,
        post_id: slot.post_id,
        newest: slot.newest.map(|(_, event)| event),
    }));
}

/// Journals a batch into the states: each entity's newest unseen change becomes its
/// pending change (replacing an older pending one). Returns the entities whose state
/// changed, in key order. Splitting a history into batches, in any way, ends in the same
/// pending changes as journaling it whole, so the remote gets one call per entity however
/// the queue hands the changes out.
///
/// `epoch` is the journaling run's lease epoch. The journal write is also the sync's only
/// write before a call (see [`SyncState::creating`]): it marks what a create will send, and
/// a change replacing one an earlier run may have sent forgets what the remote holds, so an
/// edit back to the old data still gets its call.
pub fn journal(
    states: &mut HashMap<EntityKey, SyncState>,
    batch: &[&ChangeEvent],
    epoch: u64,
) -> Vec<EntityKey> {
    let merged = merge(batch.iter().copied(), |k| {
        states.get(k).and_then(SyncState::newest_taken)
    });
    let mut changed = Vec::new();
    for m in merged {
        let Some(newest) = m.newest else { continue };
        let state = states.entry(m.key).or_default();
        if state.pending.is_some() && state.pending_epoch < epoch {
            // That run may have sent it, and died before recording the answer.
            state.synced = None;
        }
        state.pending = Some(newest.clone());
        state.pending_epoch = epoch;
        let desired = newest.after.as_ref();
        let creates = desired.is_some() && !(state.remote_exists && state.remote_id.is_some());
        let unsent = !state.creating || state.create_epoch == epoch;
        if creates && unsent {
            state.creating = true;
            state.create_sent = desired.cloned();
            state.create_epoch = epoch;
        } else if desired.is_none() && state.creating && state.create_epoch == epoch {
            // Marked by this run, which has made no call yet: nothing to withdraw.
            state.forget_create();
        }
        state.fresh_attempts();
        changed.push(m.key);
    }
    changed
}

/// One call to the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCall {
    Create(EntityData),
    Update {
        remote_id: u64,
        data: EntityData,
    },
    Delete {
        kind: EntityKind,
        remote_id: u64,
    },
    /// The entity was deleted while a create it sent has an unknown outcome: find what was
    /// sent and delete it, if the remote has it.
    Withdraw(EntityData),
}

impl RemoteCall {
    pub fn method(&self) -> &'static str {
        match self {
            RemoteCall::Create(_) => "POST",
            RemoteCall::Update { .. } => "PUT",
            RemoteCall::Delete { .. } | RemoteCall::Withdraw(_) => "DELETE",
        }
    }
}

/// The call that brings the remote to `desired`, if any: create when the remote lacks it
/// (also for an update whose create never reached the remote), update when it differs from
/// what the remote accepted last, delete when it is gone locally; nothing otherwise.
pub fn plan(
    key: &EntityKey,
    desired: Option<&EntityData>,
    state: &SyncState,
) -> Option<RemoteCall> {
    match (desired, state.remote_exists, state.remote_id) {
        (Some(data), false, _) | (Some(data), true, None) => Some(RemoteCall::Create(data.clone())),
        (Some(data), true, Some(remote_id)) => {
            (state.synced.as_ref() != Some(data)).then(|| RemoteCall::Update {
                remote_id,
                data: data.clone(),
            })
        }
        (None, true, Some(remote_id)) => Some(RemoteCall::Delete {
            kind: key.kind,
            remote_id,
        }),
        // Deleted, but a create may have reached the remote unrecorded.
        (None, _, _) if state.creating => state.create_sent.clone().map(RemoteCall::Withdraw),
        (None, _, _) => None,
    }
}

/// When a call may run within its post's group: a post is created or updated before its
/// comments, and deleted after them.
pub fn phase(key: &EntityKey, call: Option<&RemoteCall>) -> u8 {
    match (key.kind, call) {
        (EntityKind::Post, Some(RemoteCall::Delete { .. } | RemoteCall::Withdraw(_))) => 2,
        (EntityKind::Post, _) => 0,
        (EntityKind::Comment, _) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;
    use crate::model::Post;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn post(id: u64, title: &str) -> EntityData {
        EntityData::Post(Post {
            user_id: 1,
            id,
            title: title.into(),
            body: "b".into(),
        })
    }

    fn event(id: u64, seq: u64, after: Option<EntityData>, change: ChangeKind) -> ChangeEvent {
        ChangeEvent {
            key: EntityKey::post(id),
            change,
            post_id: id,
            after,
            version: seq,
            sequence: format!("{seq:021}").parse().unwrap(),
            event_id: format!("e{seq}"),
        }
    }

    fn synced(data: EntityData) -> SyncState {
        SyncState::imported(data)
    }

    #[test]
    fn the_merge_rules() {
        let fresh = SyncState::default();
        // create + updates = one POST with the final data
        let events = [
            event(1, 1, Some(post(1, "a")), ChangeKind::Insert),
            event(1, 2, Some(post(1, "b")), ChangeKind::Modify),
        ];
        let m = merge(&events, |_| None);
        assert_eq!(
            plan(&m[0].key, m[0].desired(), &fresh),
            Some(RemoteCall::Create(post(1, "b")))
        );
        // updates = one PUT with the final data
        let events = [
            event(1, 1, Some(post(1, "x")), ChangeKind::Modify),
            event(1, 2, Some(post(1, "y")), ChangeKind::Modify),
        ];
        let m = merge(&events, |_| None);
        assert_eq!(
            plan(&m[0].key, m[0].desired(), &synced(post(1, "a"))),
            Some(RemoteCall::Update {
                remote_id: 1,
                data: post(1, "y")
            })
        );
        // update(s) + delete = one DELETE
        let events = [
            event(1, 1, Some(post(1, "x")), ChangeKind::Modify),
            event(1, 2, None, ChangeKind::Remove),
        ];
        let m = merge(&events, |_| None);
        assert_eq!(
            plan(&m[0].key, m[0].desired(), &synced(post(1, "a"))),
            Some(RemoteCall::Delete {
                kind: EntityKind::Post,
                remote_id: 1
            })
        );
        // create .. delete = no call
        let events = [
            event(1, 1, Some(post(1, "x")), ChangeKind::Insert),
            event(1, 2, None, ChangeKind::Remove),
        ];
        let m = merge(&events, |_| None);
        assert_eq!(plan(&m[0].key, m[0].desired(), &fresh), None);
        // nothing changed = no call
        assert_eq!(
            plan(
                &EntityKey::post(1),
                Some(&post(1, "a")),
                &synced(post(1, "a"))
            ),
            None
        );
        // an update whose create never reached the remote becomes the create
        assert_eq!(
            plan(&EntityKey::post(1), Some(&post(1, "z")), &fresh),
            Some(RemoteCall::Create(post(1, "z")))
        );
    }

    #[test]
    fn a_deleted_entity_whose_create_may_have_happened_is_withdrawn() {
        let lost = SyncState {
            creating: true,
            create_sent: Some(post(1, "a")),
            ..SyncState::default()
        };
        assert_eq!(
            plan(&EntityKey::post(1), None, &lost),
            Some(RemoteCall::Withdraw(post(1, "a")))
        );
        assert_eq!(
            plan(&EntityKey::post(1), None, &SyncState::default()),
            None,
            "never created: nothing to do"
        );
    }

    #[test]
    fn older_and_repeated_changes_are_ignored() {
        let events = [
            event(1, 5, Some(post(1, "old")), ChangeKind::Modify),
            event(1, 7, Some(post(1, "new")), ChangeKind::Modify),
        ];
        let applied = "000000000000000000007".parse::<SequenceNumber>().unwrap();
        let m = merge(&events, |_| Some(&applied));
        assert_eq!((m[0].latest(), m[0].desired()), (None, None));
    }

    /// A remote: remote id → data, with the ids it hands out.
    #[derive(Default, Debug, PartialEq)]
    struct Remote {
        next_id: u64,
        rows: BTreeMap<u64, EntityData>,
        calls: usize,
    }

    impl Remote {
        fn apply(&mut self, call: RemoteCall, state: &mut SyncState) {
            self.calls += 1;
            match call {
                RemoteCall::Create(data) => {
                    self.next_id += 1;
                    self.rows.insert(self.next_id, data.clone());
                    state.remote_id = Some(self.next_id);
                    state.remote_exists = true;
                    state.synced = Some(data);
                }
                RemoteCall::Update { remote_id, data } => {
                    self.rows.insert(remote_id, data.clone());
                    state.synced = Some(data);
                }
                RemoteCall::Delete { remote_id, .. } => {
                    self.rows.remove(&remote_id);
                    state.remote_exists = false;
                    state.synced = None;
                }
                RemoteCall::Withdraw(_) => unreachable!("no create is left unknown here"),
            }
        }

        /// What the remote holds, keyed by local identity (ids it assigned differ).
        fn content(&self) -> Vec<EntityData> {
            let mut v: Vec<EntityData> = self.rows.values().cloned().collect();
            v.sort_by_key(EntityData::key);
            v
        }
    }

    /// Random histories of a few posts: some imported (already on the remote), each then
    /// edited and perhaps deleted, all interleaved, with increasing sequence numbers.
    fn histories() -> impl Strategy<Value = (Vec<u64>, Vec<ChangeEvent>)> {
        (
            1usize..6,
            proptest::collection::vec((0u64..6, 0u8..10), 0..40),
            proptest::collection::vec(any::<bool>(), 6),
        )
            .prop_map(|(n, ops, imported)| {
                let n = n as u64;
                let imported_ids: Vec<u64> =
                    (1..=n).filter(|i| imported[*i as usize - 1]).collect();
                let mut exists: HashMap<u64, bool> =
                    (1..=n).map(|i| (i, imported_ids.contains(&i))).collect();
                let mut deleted: HashMap<u64, bool> = HashMap::new();
                let mut events = Vec::new();
                for (seq, (which, what)) in ops.into_iter().enumerate() {
                    let id = which % n + 1;
                    if deleted.get(&id) == Some(&true) {
                        continue;
                    }
                    let seq = seq as u64 + 1;
                    let (after, kind) = if !exists[&id] {
                        exists.insert(id, true);
                        (Some(post(id, &format!("t{what}"))), ChangeKind::Insert)
                    } else if what == 0 {
                        deleted.insert(id, true);
                        (None, ChangeKind::Remove)
                    } else {
                        (
                            Some(post(id, &format!("t{}", what % 3))),
                            ChangeKind::Modify,
                        )
                    };
                    events.push(event(id, seq, after, kind));
                }
                (imported_ids, events)
            })
    }

    fn initial(imported: &[u64], remote: &mut Remote) -> BTreeMap<EntityKey, SyncState> {
        let mut states = BTreeMap::new();
        for id in imported {
            remote.next_id = remote.next_id.max(*id);
            remote.rows.insert(*id, post(*id, "imported"));
            states.insert(EntityKey::post(*id), synced(post(*id, "imported")));
        }
        states
    }

    proptest! {
        /// Applying the merged calls leaves the remote as applying every change one by one
        /// would, with at most one call per entity and never more calls.
        #[test]
        fn merged_calls_reach_the_same_remote_state((imported, events) in histories()) {
            let mut one_by_one = Remote::default();
            let mut states = initial(&imported, &mut one_by_one);
            for e in &events {
                let state = states.entry(e.key).or_default();
                if let Some(call) = plan(&e.key, e.after.as_ref(), state) {
                    one_by_one.apply(call, state);
                }
            }

            let mut merged_remote = Remote::default();
            let mut states = initial(&imported, &mut merged_remote);
            let merged = merge(&events, |_| None);
            let mut calls_per_entity: HashMap<EntityKey, usize> = HashMap::new();
            for m in &merged {
                let state = states.entry(m.key).or_default();
                if let Some(call) = plan(&m.key, m.desired(), state) {
                    *calls_per_entity.entry(m.key).or_default() += 1;
                    merged_remote.apply(call, state);
                }
            }
            prop_assert_eq!(merged_remote.content(), one_by_one.content());
            prop_assert!(calls_per_entity.values().all(|c| *c == 1));
            prop_assert!(merged_remote.calls <= one_by_one.calls);
        }

        /// However the queue slices a history into batches (and even if it delivers a
        /// batch twice), journaling them one by one leaves the same pending change per
        /// entity as journaling the whole history at once.
        #[test]
        fn journaling_in_slices_equals_journaling_whole(
            (imported, events) in histories(),
            cuts in proptest::collection::vec(0usize..40, 0..8),
            repeat in any::<bool>(),
        ) {
            let mut remote = Remote::default();
            let start: HashMap<EntityKey, SyncState> =
                initial(&imported, &mut remote).into_iter().collect();

            let mut whole = start.clone();
            journal(&mut whole, &events.iter().collect::<Vec<_>>(), 1);

            let mut sliced = start;
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
            bounds.push(0);
            bounds.push(events.len());
            bounds.sort_unstable();
            for w in bounds.windows(2) {
                let slice: Vec<&ChangeEvent> = events[w[0]..w[1]].iter().collect();
                journal(&mut sliced, &slice, 1);
                if repeat {
                    prop_assert!(journal(&mut sliced, &slice, 1).is_empty(), "a repeat journals nothing");
                }
            }
            prop_assert_eq!(sliced, whole);
        }

        /// Arrival order does not matter: the newest sequence wins.
        #[test]
        fn merge_ignores_arrival_order((_, events) in histories(), seed in any::<u64>()) {
            let mut shuffled = events.clone();
            let len = shuffled.len();
            if len > 1 {
                let mut s = seed;
                for i in (1..len).rev() {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    shuffled.swap(i, (s >> 33) as usize % (i + 1));
                }
            }
            prop_assert_eq!(merge(&shuffled, |_| None), merge(&events, |_| None));
        }

        /// A large merge, split into parts by entity, decides as the merge of the whole.
        #[test]
        fn splitting_a_merge_into_parts_changes_nothing(
            (_, events) in histories(),
            bits in 1u32..4,
            applied_up_to in 0u64..40,
        ) {
            let applied: SequenceNumber = format!("{applied_up_to:021}").parse().unwrap();
            let last_applied = |k: &EntityKey| (k.id % 2 == 0).then_some(&applied);
            prop_assert_eq!(
                merge_in_parts(events.iter(), last_applied, bits),
                merge_in_parts(events.iter(), last_applied, 0)
            );
        }

        /// A redelivered batch changes nothing once its changes are applied.
        #[test]
        fn a_redelivered_batch_plans_no_call((imported, events) in histories()) {
            let mut remote = Remote::default();
            let mut states = initial(&imported, &mut remote);
            for m in merge(&events, |_| None) {
                let state = states.entry(m.key).or_default();
                if let Some(call) = plan(&m.key, m.desired(), state) {
                    remote.apply(call, state);
                }
                state.last_sequence = m.latest();
            }
            let again = merge(&events, |k| states.get(k).and_then(|s| s.last_sequence.as_ref()));
            for m in again {
                prop_assert_eq!(m.latest(), None);
            }
        }
    }
}

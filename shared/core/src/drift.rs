//! Drift: where the remote no longer holds what the sync last gave it (someone edited or
//! deleted a record there by hand, another system wrote to it, a create landed twice). Pure:
//! the reconcile feeds it every sync state, then the remote's records page by page, and it
//! says which class each entity falls in; and it turns a drifted entity into an ordinary
//! pending change of the sync, which is how a repair reaches the remote.
//!
//! The yardstick is what the sync last gave the remote ([`SyncState::synced`]), not the
//! master copy as it is now: a local edit still on its way (in the queue, or pending) is not
//! drift, and a remote that holds what it was given is in line even if the copy moved on.
//!
//! What it keeps per entity is a fingerprint of that data and a few ids, never the data:
//! its memory follows the size of the master copy, however large the remote is.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::Serialize;

use crate::change::{ChangeEvent, ChangeKind, EntityData, EntityKey, EntityKind, SequenceNumber};
use crate::merge::SyncState;

/// Entities listed per class in a report; the rest are only counted.
pub const LISTED_MAX: usize = 50;

/// What one remote record, or one entity the remote lacks, turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The remote holds what the sync last gave it.
    InLine(EntityKey),
    /// The remote holds something else under the entity's remote id.
    Differs(EntityKey),
    /// A change of the entity is pending (or its create may be on its way): not judged.
    Pending,
    /// No local entity holds this remote id. `duplicate_of`: the entity whose data it
    /// equals (a likely second copy of a create); `None`: a foreign record.
    Orphan { duplicate_of: Option<EntityKey> },
}

/// What the sync last gave the remote for one entity, as the ledger keeps it.
#[derive(Debug, Clone, Copy)]
struct Held {
    local_id: u64,
    /// Of the synced data in local terms, ids aside (`None`: not known, so any record
    /// differs).
    fingerprint: Option<u64>,
    /// A change is pending: the record under this id is not judged.
    pending: bool,
    seen: bool,
    /// A comment's local post (0 for a post).
    post: u64,
}

/// Whose data a fingerprint is, for telling a duplicate from a foreign record.
#[derive(Debug, Clone, Copy)]
struct Owner {
    key: EntityKey,
    pending: bool,
}

/// Every entity the sync knows, as the remote should hold it, keyed by remote id.
#[derive(Debug, Default)]
pub struct Ledger {
    held: HashMap<(EntityKind, u64), Held>,
    /// A post's local id by its remote id: how a remote comment's `postId` is read.
    post_of_remote: HashMap<u64, u64>,
    /// Entities by the fingerprint of their data (synced, pending or being created).
    owners: HashMap<(EntityKind, u64), Owner>,
    /// Entities with a change pending: counted, not judged.
    pending: Vec<EntityKey>,
    pending_count: u64,
}

/// The fingerprint of an entity's data in local terms, ids aside (a comment's `postId` is
/// the local post's id: 0 when the remote's post is held by no local one).
pub fn fingerprint(data: &EntityData) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    match data {
        EntityData::Post(p) => (0u8, p.user_id, &p.title, &p.body).hash(&mut h),
        EntityData::Comment(c) => (1u8, c.post_id, &c.name, &c.email, &c.body).hash(&mut h),
    }
    h.finish()
}

/// The fields in which two records of the same kind differ, ids aside, by their JSON names.
pub fn differing_fields(expected: &EntityData, actual: &EntityData) -> Vec<&'static str> {
    let mut fields = Vec::new();
    match (expected, actual) {
        (EntityData::Post(a), EntityData::Post(b)) => {
            for (name, same) in [
                ("userId", a.user_id == b.user_id),
                ("title", a.title == b.title),
                ("body", a.body == b.body),
            ] {
                if !same {
                    fields.push(name);
                }
            }
        }
        (EntityData::Comment(a), EntityData::Comment(b)) => {
            for (name, same) in [
                ("postId", a.post_id == b.post_id),
                ("name", a.name == b.name),
                ("email", a.email == b.email),
                ("body", a.body == b.body),
            ] {
                if !same {
                    fields.push(name);
                }
            }
        }
        _ => fields.push("kind"),
    }
    fields
}

/// Whether the sync has work of its own on the entity: a pending change, or a create whose
/// outcome it has not recorded (its copy may be on the remote under an id it does not know).
pub fn in_flight(state: &SyncState) -> bool {
    state.pending.is_some() || state.creating
}

impl Ledger {
    pub fn new() -> Self {
        Ledger::default()
    }

    /// Takes in one entity's state, in any order.
    pub fn add(&mut self, key: EntityKey, state: &SyncState) {
        let pending = in_flight(state);
        if pending {
            self.pending_count += 1;
            if self.pending.len() < LISTED_MAX {
                self.pending.push(key);
            }
        }
        if let (true, Some(remote_id)) = (state.remote_exists, state.remote_id) {
            if key.kind == EntityKind::Post {
                self.post_of_remote.insert(remote_id, key.id);
            }
            self.held.insert(
                (key.kind, remote_id),
                Held {
                    local_id: key.id,
                    fingerprint: if pending {
                        None
                    } else {
                        state.synced.as_ref().map(fingerprint)
                    },
                    pending,
                    seen: false,
                    post: match state.synced.as_ref() {
                        Some(EntityData::Comment(c)) => c.post_id,
                        _ => 0,
                    },
                },
            );
        }
        let owned = [
            state
                .remote_exists
                .then_some(state.synced.as_ref())
                .flatten(),
            state.pending.as_ref().and_then(|p| p.after.as_ref()),
            state.create_sent.as_ref(),
        ];
        for data in owned.into_iter().flatten() {
            let owner = self
                .owners
                .entry((key.kind, fingerprint(data)))
                .or_insert(Owner { key, pending });
            // Any in-flight owner makes a matching record its possible copy.
            owner.pending |= pending;
        }
    }

    /// A remote record (remote ids) in local terms: its `postId` read through the posts'
    /// remote ids (0 when no local post holds it).
    pub fn to_local(&self, record: &EntityData) -> EntityData {
        let mut local = record.clone();
        if let EntityData::Comment(c) = &mut local {
            c.post_id = self.post_of_remote.get(&c.post_id).copied().unwrap_or(0);
        }
        local
    }

    /// Judges one remote record (its id is the remote's).
    pub fn judge(&mut self, record: &EntityData) -> Verdict {
        let remote = record.key();
        let local = self.to_local(record);
        let print = fingerprint(&local);
        if let Some(held) = self.held.get_mut(&(remote.kind, remote.id)) {
            held.seen = true;
            let key = EntityKey {
                kind: remote.kind,
                id: held.local_id,
            };
            return if held.pending {
                Verdict::Pending
            } else if held.fingerprint == Some(print) {
                Verdict::InLine(key)
            } else {
                Verdict::Differs(key)
            };
        }
        match self.owners.get(&(remote.kind, print)) {
            Some(owner) if owner.pending => Verdict::Pending,
            Some(owner) => Verdict::Orphan {
                duplicate_of: Some(owner.key),
            },
            None => Verdict::Orphan { duplicate_of: None },
        }
    }

    /// The entities the remote should hold and did not show, with their remote ids: only
    /// meaningful once every page of the remote was judged.
    pub fn missing(&self) -> impl Iterator<Item = (EntityKey, u64)> + '_ {
        self.held
            .iter()
            .filter(|(_, h)| !h.seen && !h.pending)
            .map(|((kind, remote_id), h)| {
                (
                    EntityKey {
                        kind: *kind,
                        id: h.local_id,
                    },
                    *remote_id,
                )
            })
    }

    /// The comments the remote showed under any of `posts` (local ids) and not pending, with
    /// their remote ids. A post created again gets a new remote id, and its comments that
    /// stayed on the remote (one that does not delete them with the post) still name the old
    /// one: they are sent again with it.
    pub fn comments_under(&self, posts: &std::collections::HashSet<u64>) -> Vec<(EntityKey, u64)> {
        let mut found: Vec<(EntityKey, u64)> = self
            .held
            .iter()
            .filter(|((kind, _), h)| {
                *kind == EntityKind::Comment && h.seen && !h.pending && posts.contains(&h.post)
            })
            .map(|((_, remote_id), h)| (EntityKey::comment(h.local_id), *remote_id))
            .collect();
        found.sort_unstable();
        found
    }

    /// Entities with a change pending, and the first of them.
    pub fn pending(&self) -> (u64, &[EntityKey]) {
        (self.pending_count, &self.pending)
    }
}

/// How a drifted entity is brought back in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Repair {
    /// Its remote copy differs: sent again (a `PUT`).
    Replace,
    /// Its remote copy is gone: created again (a `POST`, under a new remote id).
    Recreate,
}

/// Makes a drifted entity's repair the sync's pending change: `current` (the entity as the
/// master copy holds it now) is to be sent, and the state forgets what it believed the
/// remote holds, so the ordinary flush plans the call (ordering, rate limit, exactly once
/// all apply). The change takes the place of the newest change taken in, so any newer local
/// change merges over it as usual; the state must have none pending (the caller checks).
/// `epoch` is the repairing run's lease epoch.
pub fn repair(state: &mut SyncState, current: &EntityData, repair: Repair, epoch: u64) {
    let key = current.key();
    match repair {
        Repair::Replace => state.synced = None,
        Repair::Recreate => {
            state.remote_exists = false;
            state.remote_id = None;
            state.synced = None;
            state.forget_create();
        }
    }
    let sequence = state
        .last_sequence
        .unwrap_or_else(|| "0".parse::<SequenceNumber>().expect("a sequence number"));
    state.pending = Some(ChangeEvent {
        key,
        change: match repair {
            Repair::Replace => ChangeKind::Modify,
            Repair::Recreate => ChangeKind::Insert,
        },
        post_id: match current {
            EntityData::Post(p) => p.id,
            EntityData::Comment(c) => c.post_id,
        },
        after: Some(current.clone()),
        version: 0,
        sequence,
        event_id: format!("reconcile-{}-{}-{epoch}", key.kind.as_str(), key.id),
    });
    state.pending_epoch = epoch;
    state.fresh_attempts();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{RemoteCall, journal, plan};
    use crate::model::{Comment, Post};
    use proptest::prelude::*;

    fn post(id: u64, title: &str) -> EntityData {
        EntityData::Post(Post {
            user_id: 1,
            id,
            title: title.into(),
            body: "b".into(),
        })
    }

    fn comment(id: u64, post_id: u64, name: &str) -> EntityData {
        EntityData::Comment(Comment {
            post_id,
            id,
            name: name.into(),
            email: "e@x".into(),
            body: "b".into(),
        })
    }

    /// Synced under `remote_id`.
    fn synced(data: EntityData, remote_id: u64) -> SyncState {
        let mut state = SyncState::imported(data);
        state.remote_id = Some(remote_id);
        state
    }

    #[test]
    fn every_record_lands_in_its_class() {
        let mut ledger = Ledger::new();
        ledger.add(EntityKey::post(1), &synced(post(1, "a"), 7));
        ledger.add(EntityKey::post(2), &synced(post(2, "b"), 8));
        ledger.add(EntityKey::post(3), &synced(post(3, "c"), 9));
        ledger.add(EntityKey::comment(1), &synced(comment(1, 1, "n"), 70));
        let mut pending = synced(post(4, "d"), 10);
        pending.pending = Some(ChangeEvent {
            key: EntityKey::post(4),
            change: ChangeKind::Modify,
            post_id: 4,
            after: Some(post(4, "d2")),
            version: 2,
            sequence: "5".parse().unwrap(),
            event_id: "e".into(),
        });
        ledger.add(EntityKey::post(4), &pending);

        // Ids are the remote's; a comment's postId is its post's remote id.
        assert_eq!(
            ledger.judge(&post(7, "a")),
            Verdict::InLine(EntityKey::post(1))
        );
        assert_eq!(
            ledger.judge(&post(8, "edited by hand")),
            Verdict::Differs(EntityKey::post(2))
        );
        assert_eq!(
            ledger.judge(&comment(70, 7, "n")),
            Verdict::InLine(EntityKey::comment(1))
        );
        // Moved to another post on the remote.
        assert_eq!(
            ledger.judge(&comment(70, 8, "n")),
            Verdict::Differs(EntityKey::comment(1))
        );
        assert_eq!(ledger.judge(&post(10, "whatever")), Verdict::Pending);
        // A second copy of post 1, and a record nobody here made.
        assert_eq!(
            ledger.judge(&post(11, "a")),
            Verdict::Orphan {
                duplicate_of: Some(EntityKey::post(1))
            }
        );
        assert_eq!(
            ledger.judge(&post(12, "foreign")),
            Verdict::Orphan { duplicate_of: None }
        );
        // What the pending change will send may already be there under an unknown id.
        assert_eq!(ledger.judge(&post(13, "d2")), Verdict::Pending);
        // Post 3 (remote 9) was never shown: missing. The pending post is not.
        assert_eq!(
            ledger.missing().collect::<Vec<_>>(),
            vec![(EntityKey::post(3), 9)]
        );
        assert_eq!(ledger.pending(), (1, &[EntityKey::post(4)][..]));
    }

    #[test]
    fn a_repair_becomes_the_call_that_undoes_the_drift() {
        let now = post(1, "local");
        // Differs: the remote holds something else under id 7, so the same data is sent
        // again though the sync had sent it already.
        let mut state = synced(now.clone(), 7);
        assert_eq!(plan(&now.key(), Some(&now), &state), None);
        repair(&mut state, &now, Repair::Replace, 3);
        let desired = state.pending.as_ref().and_then(|p| p.after.as_ref());
        assert_eq!(
            plan(&now.key(), desired, &state),
            Some(RemoteCall::Update {
                remote_id: 7,
                data: now.clone()
            })
        );
        // Missing: created again.
        let mut state = synced(now.clone(), 7);
        repair(&mut state, &now, Repair::Recreate, 3);
        let desired = state.pending.as_ref().and_then(|p| p.after.as_ref());
        assert_eq!(
            plan(&now.key(), desired, &state),
            Some(RemoteCall::Create(now.clone()))
        );
    }

    fn arb_post() -> impl Strategy<Value = EntityData> {
        (1u64..4, "[ab]{0,2}", "[ab]{0,2}").prop_map(|(user_id, title, body)| {
            EntityData::Post(Post {
                user_id,
                id: 1,
                title,
                body,
            })
        })
    }

    proptest! {
        /// A local change newer than the repair wins: merged over it as any change is, the
        /// call sends the newer data (or deletes).
        #[test]
        fn a_newer_local_change_merges_over_a_repair(
            old in arb_post(), current in arb_post(), newer in proptest::option::of(arb_post()),
            seq in 1u64..1000, recreate in any::<bool>(),
        ) {
            let mut state = synced(old.clone(), 7);
            state.last_sequence = Some(format!("{seq}").parse().unwrap());
            let how = if recreate { Repair::Recreate } else { Repair::Replace };
            repair(&mut state, &current, how, 3);
            // A repeat of the last change taken in is not newer: the repair stays.
            let repeat = ChangeEvent {
                key: EntityKey::post(1), change: ChangeKind::Modify, post_id: 1,
                after: Some(old.clone()), version: 1,
                sequence: format!("{seq}").parse().unwrap(), event_id: "r".into(),
            };
            let mut states = HashMap::from([(EntityKey::post(1), state.clone())]);
            prop_assert!(journal(&mut states, &[&repeat], 4).is_empty());
            let edit = ChangeEvent {
                after: newer.clone().map(|d| match d { EntityData::Post(p) => EntityData::Post(Post { id: 1, ..p }), c => c }),
                sequence: format!("{}", seq + 1).parse().unwrap(),
                event_id: "n".into(),
                change: if newer.is_some() { ChangeKind::Modify } else { ChangeKind::Remove },
                ..repeat
            };
            let changed = journal(&mut states, &[&edit], 4);
            prop_assert_eq!(changed, vec![EntityKey::post(1)]);
            let state = &states[&EntityKey::post(1)];
            let desired = state.pending.as_ref().and_then(|p| p.after.as_ref());
            let call = plan(&EntityKey::post(1), desired, state);
            match (&edit.after, recreate) {
                (Some(data), true) => prop_assert_eq!(call, Some(RemoteCall::Create(data.clone()))),
                (Some(data), false) => prop_assert_eq!(call, Some(RemoteCall::Update { remote_id: 7, data: data.clone() })),
                // Deleted before the repair went out: a recreated entity was never sent, a
                // replaced one is deleted.
                (None, true) => prop_assert_eq!(call, None),
                (None, false) => prop_assert_eq!(call, Some(RemoteCall::Delete { kind: EntityKind::Post, remote_id: 7 })),
            }
        }

        /// Whatever the remote holds, a record under a held id is in line exactly when its
        /// fields equal what was synced.
        #[test]
        fn in_line_means_equal(synced_data in arb_post(), remote in arb_post()) {
            let mut ledger = Ledger::new();
            ledger.add(EntityKey::post(1), &synced(synced_data.clone(), 5));
            let record = match remote.clone() { EntityData::Post(p) => EntityData::Post(Post { id: 5, ..p }), c => c };
            let verdict = ledger.judge(&record);
            let equal = differing_fields(&synced_data, &remote).is_empty();
            prop_assert_eq!(verdict == Verdict::InLine(EntityKey::post(1)), equal);
            prop_assert_eq!(verdict == Verdict::Differs(EntityKey::post(1)), !equal);
            prop_assert_eq!(ledger.missing().count(), 0);
        }
    }
}

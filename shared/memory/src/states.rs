//! The sync state store in memory: conditional writes on revision and lease epoch, a
//! pending index that can lag, the lease, and remote id claims.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ps_core::change::{EntityData, EntityKey, EntityKind};
use ps_core::merge::SyncState;
use ps_core::ports::{Claim, ImportedUpTo, Lease, PortError, StatePage, StateScan, SyncStateStore};
use tokio::time::Instant;

#[derive(Clone)]
struct Stored {
    state: SyncState,
    revision: u64,
    epoch: u64,
}

struct Held {
    owner: String,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    states: BTreeMap<EntityKey, Stored>,
    /// What the pending index shows: updated on every write, or only on
    /// [`MemoryStates::catch_up_index`] while it lags.
    index: BTreeSet<EntityKey>,
    index_lags: bool,
    lease: Option<Held>,
    epoch: u64,
    imported: ImportedUpTo,
    claims: HashMap<EntityKey, EntityKey>,
    /// Saves left before every save fails (a process that dies at that point).
    saves_until_crash: Option<usize>,
    loads: Vec<usize>,
    /// How long a read or write takes to answer, after it took effect.
    io_delay: Duration,
}

#[derive(Default)]
pub struct MemoryStates {
    inner: Mutex<Inner>,
}

impl MemoryStates {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("not poisoned")
    }

    /// From now on the pending index shows only what it showed at the last catch-up.
    pub fn lag_index(&self, lags: bool) {
        let mut inner = self.lock();
        inner.index_lags = lags;
        if !lags {
            Self::rebuild_index(&mut inner);
        }
    }

    /// Brings the index up to date for one key, unless it lags.
    fn index_key(inner: &mut Inner, key: EntityKey) {
        if inner.index_lags {
            return;
        }
        if inner
            .states
            .get(&key)
            .is_some_and(|s| s.state.pending.is_some())
        {
            inner.index.insert(key);
        } else {
            inner.index.remove(&key);
        }
    }

    pub fn catch_up_index(&self) {
        Self::rebuild_index(&mut self.lock());
    }

    fn rebuild_index(inner: &mut Inner) {
        inner.index = inner
            .states
            .iter()
            .filter(|(_, s)| s.state.pending.is_some())
            .map(|(k, _)| *k)
            .collect();
    }

    /// After `n` more successful saves every save fails, as if the process had died.
    pub fn crash_after_saves(&self, n: Option<usize>) {
        self.lock().saves_until_crash = n;
    }

    /// Every state, as stored (with its revision).
    pub fn snapshot(&self) -> BTreeMap<EntityKey, SyncState> {
        self.lock()
            .states
            .iter()
            .map(|(k, s)| {
                let mut state = s.state.clone();
                state.revision = s.revision;
                (*k, state)
            })
            .collect()
    }

    /// Writes a state as the import does: unconditionally, without a revision.
    /// Records `data` as the import does: on the remote under its own id, synced, with the
    /// import's mark raised to its id first (a state put with [`Self::put`] as imported
    /// leaves the mark unknown, so every claim reads as before the marks).
    pub fn import(&self, data: EntityData) {
        let key = data.key();
        {
            let mut inner = self.lock();
            let mark = match key.kind {
                EntityKind::Post => &mut inner.imported.post,
                EntityKind::Comment => &mut inner.imported.comment,
            };
            *mark = Some(mark.unwrap_or(0).max(key.id));
        }
        self.put(key, SyncState::imported(data));
    }

    /// The import's marks of a table that was imported with nothing (a deployment whose
    /// import found the remote empty).
    pub fn import_nothing(&self) {
        let mut inner = self.lock();
        inner.imported.post.get_or_insert(0);
        inner.imported.comment.get_or_insert(0);
    }

    pub fn put(&self, key: EntityKey, state: SyncState) {
        let mut inner = self.lock();
        inner.states.insert(
            key,
            Stored {
                state,
                revision: 0,
                epoch: 0,
            },
        );
        Self::index_key(&mut inner, key);
    }

    /// The number of keys each `load` asked for.
    pub fn load_sizes(&self) -> Vec<usize> {
        self.lock().loads.clone()
    }

    /// Every read and write answers this long after it took effect (a crash in between:
    /// written, not known to the writer).
    pub fn set_io_delay(&self, delay: Duration) {
        self.lock().io_delay = delay;
    }

    async fn answer<T>(&self, value: T) -> T {
        let delay = self.lock().io_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        value
    }

    /// Takes the lease away from whoever holds it (it expired).
    pub fn expire_lease(&self) {
        self.lock().lease = None;
    }
}

impl MemoryStates {
    fn load_now(&self, keys: &[EntityKey]) -> HashMap<EntityKey, SyncState> {
        let mut inner = self.lock();
        inner.loads.push(keys.len());
        keys.iter()
            .filter_map(|k| {
                inner.states.get(k).map(|s| {
                    let mut state = s.state.clone();
                    state.revision = s.revision;
                    (*k, state)
                })
            })
            .collect()
    }

    fn save_now(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        let mut inner = self.lock();
        let result = Self::write_all(&mut inner, lease, states);
        for (key, _) in states.iter() {
            Self::index_key(&mut inner, *key);
        }
        result
    }

    fn write_all(
        inner: &mut Inner,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        for (key, state) in states.iter_mut() {
            match inner.saves_until_crash {
                Some(0) => return Err(PortError("the process died".into())),
                Some(ref mut n) => *n -= 1,
                None => {}
            }
            let (revision, epoch) = inner
                .states
                .get(key)
                .map(|s| (s.revision, s.epoch))
                .unwrap_or((0, 0));
            if revision != state.revision || epoch > lease.epoch {
                return Err(PortError(format!(
                    "state of {key} changed since it was read (revision {revision}, read at {}; epoch {epoch}, ours {})",
                    state.revision, lease.epoch
                )));
            }
            state.revision += 1;
            let stored = Stored {
                state: SyncState {
                    revision: 0,
                    ..state.clone()
                },
                revision: state.revision,
                epoch: lease.epoch,
            };
            inner.states.insert(*key, stored);
        }
        Ok(())
    }
}

#[async_trait]
impl SyncStateStore for MemoryStates {
    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        let loaded = self.load_now(keys);
        self.answer(Ok(loaded)).await
    }

    async fn save(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        let saved = self.save_now(lease, states);
        self.answer(saved).await
    }

    async fn journal(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        // Checked as `save` checks, though DynamoDB's journal is unconditional: a refusal
        // here is a journal write that would have overwritten a state its run did not read.
        self.save(lease, states).await
    }

    async fn pending_page(
        &self,
        after: Option<EntityKey>,
        limit: usize,
    ) -> Result<Vec<EntityKey>, PortError> {
        let inner = self.lock();
        Ok(match after {
            Some(after) => inner
                .index
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .take(limit)
                .copied()
                .collect(),
            None => inner.index.iter().take(limit).copied().collect(),
        })
    }

    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<Option<Lease>, PortError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let free = inner
            .lease
            .as_ref()
            .is_none_or(|held| held.expires <= now || held.owner == owner);
        if !free {
            return Ok(None);
        }
        inner.epoch += 1;
        inner.lease = Some(Held {
            owner: owner.to_owned(),
            expires: now + ttl,
        });
        Ok(Some(Lease {
            epoch: inner.epoch,
            imported: inner.imported,
        }))
    }

    async fn release_lease(&self, owner: &str) -> Result<(), PortError> {
        let mut inner = self.lock();
        if inner.lease.as_ref().is_some_and(|held| held.owner == owner) {
            inner.lease = None;
        }
        Ok(())
    }

    async fn claim_remote(
        &self,
        lease: Lease,
        remote_id: u64,
        key: EntityKey,
    ) -> Result<Claim, PortError> {
        let mut inner = self.lock();
        let id = EntityKey {
            kind: key.kind,
            id: remote_id,
        };
        // Held: the holder maps it and the remote has it, or (by a claim) the holder is
        // between claiming it and recording that (a create in progress).
        let holds = |inner: &Inner, holder: &EntityKey, claimed: bool| {
            if *holder == key {
                return None;
            }
            let s = &inner.states.get(holder)?.state;
            let held =
                (s.remote_id == Some(remote_id) && s.remote_exists) || (claimed && s.creating);
            held.then(|| Claim::held_by(s))
        };
        // An imported entity holds the remote id equal to its own id, without a claim:
        // looked at only for an id the import may have recorded, as the DynamoDB store does.
        if lease.imported.may_hold(key.kind, remote_id) {
            if let Some(found) = holds(&inner, &id, false) {
                return Ok(found);
            }
        }
        if let Some(holder) = inner.claims.get(&id).copied() {
            if let Some(found) = holds(&inner, &holder, true) {
                return Ok(found);
            }
        }
        inner.claims.insert(id, key);
        Ok(Claim::Taken)
    }

    async fn release_remote(&self, remote_id: u64, key: EntityKey) -> Result<(), PortError> {
        let id = EntityKey {
            kind: key.kind,
            id: remote_id,
        };
        let mut inner = self.lock();
        if inner.claims.get(&id) == Some(&key) {
            inner.claims.remove(&id);
        }
        Ok(())
    }
}

/// A scan's cursor: the last key it returned.
fn cursor_of(key: &EntityKey) -> String {
    format!("{}#{}", key.kind.as_str(), key.id)
}

fn key_of(cursor: &str) -> Option<EntityKey> {
    let (kind, id) = cursor.split_once('#')?;
    let id = id.parse().ok()?;
    match kind {
        "post" => Some(EntityKey::post(id)),
        "comment" => Some(EntityKey::comment(id)),
        _ => None,
    }
}

#[async_trait]
impl StateScan for MemoryStates {
    async fn scan(&self, cursor: Option<String>, limit: usize) -> Result<StatePage, PortError> {
        let after = match cursor.as_deref() {
            None => None,
            Some(c) => Some(key_of(c).ok_or_else(|| PortError(format!("bad cursor {c:?}")))?),
        };
        let page = {
            let inner = self.lock();
            let states: Vec<(EntityKey, SyncState)> = inner
                .states
                .iter()
                .filter(|(k, _)| after.is_none_or(|a| **k > a))
                .take(limit.max(1))
                .map(|(k, s)| {
                    let mut state = s.state.clone();
                    state.revision = s.revision;
                    (*k, state)
                })
                .collect();
            let last = states.last().map(|(k, _)| *k);
            let more = last.is_some_and(|l| inner.states.range(l..).nth(1).is_some());
            StatePage {
                next: last.filter(|_| more).map(|k| cursor_of(&k)),
                states,
            }
        };
        Ok(self.answer(page).await)
    }
}

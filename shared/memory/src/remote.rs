//! The remote in memory, as json-server behaves (ids are the collection's highest + 1), with
//! the faults a real remote shows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use ps_core::change::{EntityData, EntityKind};
use ps_core::ports::{RemoteApi, RemoteError};

/// What the next write call (create, replace, delete) meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Done on the remote, but the answer is lost (a timeout after processing).
    ProcessThenLose,
    /// A 500 without doing it.
    ServerError,
    /// A 503 or 429: not done, come back later.
    Unavailable,
    /// A 4xx.
    Reject,
}

#[derive(Default)]
struct Inner {
    posts: BTreeMap<u64, EntityData>,
    comments: BTreeMap<u64, EntityData>,
    down: bool,
    faults: VecDeque<Option<Fault>>,
    /// Titles or names containing this are always refused (a 422).
    refuse: Option<String>,
    calls: Calls,
}

/// Calls received, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub create: u64,
    pub replace: u64,
    pub delete: u64,
    pub find: u64,
    pub probe: u64,
}

#[derive(Default)]
pub struct MemoryRemote {
    inner: Mutex<Inner>,
}

fn fields_equal(a: &EntityData, b: &EntityData) -> bool {
    match (a, b) {
        (EntityData::Post(a), EntityData::Post(b)) => {
            (a.user_id, &a.title, &a.body) == (b.user_id, &b.title, &b.body)
        }
        (EntityData::Comment(a), EntityData::Comment(b)) => {
            (a.post_id, &a.name, &a.email, &a.body) == (b.post_id, &b.name, &b.email, &b.body)
        }
        _ => false,
    }
}

fn with_id(data: &EntityData, id: u64) -> EntityData {
    let mut data = data.clone();
    match &mut data {
        EntityData::Post(p) => p.id = id,
        EntityData::Comment(c) => c.id = id,
    }
    data
}

fn text_of(data: &EntityData) -> &str {
    match data {
        EntityData::Post(p) => &p.title,
        EntityData::Comment(c) => &c.name,
    }
}

impl Inner {
    fn rows(&mut self, kind: EntityKind) -> &mut BTreeMap<u64, EntityData> {
        match kind {
            EntityKind::Post => &mut self.posts,
            EntityKind::Comment => &mut self.comments,
        }
    }

    /// The fault this write meets, if any (an outage first).
    fn fault(&mut self, data: Option<&EntityData>) -> Option<Fault> {
        if self.down {
            return Some(Fault::Unavailable);
        }
        if let (Some(refuse), Some(data)) = (&self.refuse, data) {
            if text_of(data).contains(refuse.as_str()) {
                return Some(Fault::Reject);
            }
        }
        self.faults.pop_front().flatten()
    }
}

impl MemoryRemote {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("not poisoned")
    }

    /// Holds `data` under its own id (what an import starts from).
    pub fn seed(&self, data: EntityData) {
        let key = data.key();
        self.lock().rows(key.kind).insert(key.id, data);
    }

    /// Down: every call fails as unavailable, the probe too.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// The next write calls meet these faults, in order (`None`: no fault for that call).
    pub fn push_faults(&self, faults: &[Option<Fault>]) {
        self.lock().faults.extend(faults);
    }

    /// Refuses, for good, every entity whose title (post) or name (comment) contains `text`.
    pub fn refuse_containing(&self, text: &str) {
        self.lock().refuse = Some(text.to_owned());
    }

    pub fn calls(&self) -> Calls {
        self.lock().calls
    }

    /// Everything the remote holds, by kind and remote id.
    pub fn rows(&self, kind: EntityKind) -> BTreeMap<u64, EntityData> {
        self.lock().rows(kind).clone()
    }
}

fn unavailable() -> RemoteError {
    RemoteError::transient("503 Service Unavailable")
}

#[async_trait]
impl RemoteApi for MemoryRemote {
    async fn create(&self, data: &EntityData) -> Result<u64, RemoteError> {
        let mut inner = self.lock();
        inner.calls.create += 1;
        let fault = inner.fault(Some(data));
        match fault {
            Some(Fault::Unavailable) => return Err(unavailable()),
            Some(Fault::ServerError) => return Err(RemoteError::Unknown("500".into())),
            Some(Fault::Reject) => return Err(RemoteError::Rejected("422".into())),
            Some(Fault::ProcessThenLose) | None => {}
        }
        let rows = inner.rows(data.key().kind);
        let id = rows.keys().next_back().map_or(1, |max| max + 1);
        rows.insert(id, with_id(data, id));
        match fault {
            Some(Fault::ProcessThenLose) => Err(RemoteError::Unknown("timed out".into())),
            _ => Ok(id),
        }
    }

    async fn replace(&self, remote_id: u64, data: &EntityData) -> Result<(), RemoteError> {
        let mut inner = self.lock();
        inner.calls.replace += 1;
        let fault = inner.fault(Some(data));
        match fault {
            Some(Fault::Unavailable) | Some(Fault::ServerError) => return Err(unavailable()),
            Some(Fault::Reject) => return Err(RemoteError::Rejected("422".into())),
            Some(Fault::ProcessThenLose) | None => {}
        }
        let rows = inner.rows(data.key().kind);
        if !rows.contains_key(&remote_id) {
            return Err(RemoteError::Rejected(format!("404 no {remote_id}")));
        }
        rows.insert(remote_id, with_id(data, remote_id));
        match fault {
            Some(Fault::ProcessThenLose) => Err(RemoteError::transient("timed out")),
            _ => Ok(()),
        }
    }

    async fn delete(&self, kind: EntityKind, remote_id: u64) -> Result<(), RemoteError> {
        let mut inner = self.lock();
        inner.calls.delete += 1;
        let fault = inner.fault(None);
        match fault {
            Some(Fault::Unavailable) | Some(Fault::ServerError) => return Err(unavailable()),
            Some(Fault::Reject) => return Err(RemoteError::Rejected("422".into())),
            Some(Fault::ProcessThenLose) | None => {}
        }
        inner.rows(kind).remove(&remote_id);
        if kind == EntityKind::Post {
            // json-server cascades a post's delete to its comments.
            inner
                .comments
                .retain(|_, c| !matches!(c, EntityData::Comment(c) if c.post_id == remote_id));
        }
        match fault {
            Some(Fault::ProcessThenLose) => Err(RemoteError::transient("timed out")),
            _ => Ok(()),
        }
    }

    async fn find(&self, data: &EntityData) -> Result<Vec<u64>, RemoteError> {
        let mut inner = self.lock();
        inner.calls.find += 1;
        if inner.down {
            return Err(unavailable());
        }
        let mut ids: Vec<u64> = inner
            .rows(data.key().kind)
            .iter()
            .filter(|(_, row)| fields_equal(row, data))
            .map(|(id, _)| *id)
            .collect();
        ids.reverse();
        Ok(ids)
    }

    async fn probe(&self) -> Result<(), RemoteError> {
        let mut inner = self.lock();
        inner.calls.probe += 1;
        if inner.down {
            Err(unavailable())
        } else {
            Ok(())
        }
    }
}

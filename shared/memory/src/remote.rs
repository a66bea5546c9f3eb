//! The remote in memory, as json-server behaves (ids are the collection's highest + 1), with
//! the faults a real remote shows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ps_core::change::{EntityData, EntityKind};
use ps_core::ports::{RemoteApi, RemoteError, RemoteListing, RemotePage};

/// What the next write call (create, replace, delete) meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Done on the remote, but the answer is lost (a timeout after processing).
    ProcessThenLose,
    /// A 500 without doing it.
    ServerError,
    /// A 503: not done, come back later.
    Unavailable,
    /// A 429 asking to come back in an hour: not done.
    Throttled,
    /// Done at once, answered only after a minute (past any call deadline).
    Slow,
    /// A 4xx.
    Reject,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::ProcessThenLose => "remote_process_then_lose",
            Fault::ServerError => "remote_server_error",
            Fault::Unavailable => "remote_unavailable",
            Fault::Throttled => "remote_throttled",
            Fault::Slow => "remote_slow",
            Fault::Reject => "remote_reject",
        }
    }
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
    /// How long every call takes to answer (after it took effect).
    latency: Duration,
    /// The faults calls met, by kind.
    met: BTreeMap<Fault, u64>,
    /// Whether a post's delete takes its comments with it (json-server's way).
    no_cascade: bool,
    /// Whether it tells the sync that it does (whatever it does).
    claims_no_cascade: bool,
}

/// Calls received, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub create: u64,
    pub replace: u64,
    pub delete: u64,
    pub find: u64,
    pub probe: u64,
    pub comments_of: u64,
    /// Pages of the whole remote read (the reconcile).
    pub list: u64,
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
        let fault = self.faults.pop_front().flatten();
        if let Some(f) = fault {
            *self.met.entry(f).or_default() += 1;
        }
        fault
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
    /// How a post's delete treats its comments (`cascades`, json-server's way, by
    /// default), and what the remote tells the sync about it (`says_it_cascades`).
    pub fn set_cascade(&self, cascades: bool, says_it_cascades: bool) {
        let mut inner = self.lock();
        inner.no_cascade = !cascades;
        inner.claims_no_cascade = !says_it_cascades;
    }

    /// Whether a post's delete takes its comments with it here (whatever it says).
    pub fn deletes_comments_with_post(&self) -> bool {
        !self.lock().no_cascade
    }

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

    /// Every call answers this long after it took effect (a crash in between: done, not
    /// recorded).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Forgets the faults not met yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The faults calls met, by name.
    pub fn faults_met(&self) -> BTreeMap<&'static str, u64> {
        self.lock()
            .met
            .iter()
            .map(|(f, n)| (f.name(), *n))
            .collect()
    }

    /// Someone else writes to the remote: `data` is put under its own id (an edit, a second
    /// copy, a foreign record), bypassing faults and calls.
    pub fn write_behind_our_back(&self, data: EntityData) {
        self.seed(data);
    }

    /// Someone else creates a record on the remote (a copy of ours, or a foreign one): it
    /// gets the next id, as the sync's creates do. Returns it.
    pub fn create_behind_our_back(&self, data: &EntityData) -> u64 {
        let mut inner = self.lock();
        let rows = inner.rows(data.key().kind);
        let id = rows.keys().next_back().map_or(1, |max| max + 1);
        rows.insert(id, with_id(data, id));
        id
    }

    /// Someone else deletes a record on the remote (json-server's cascade included).
    pub fn delete_behind_our_back(&self, kind: EntityKind, remote_id: u64) {
        let mut inner = self.lock();
        inner.rows(kind).remove(&remote_id);
        if kind == EntityKind::Post && !inner.no_cascade {
            inner
                .comments
                .retain(|_, c| !matches!(c, EntityData::Comment(c) if c.post_id == remote_id));
        }
    }

    /// Everything the remote holds, by kind and remote id.
    pub fn rows(&self, kind: EntityKind) -> BTreeMap<u64, EntityData> {
        self.lock().rows(kind).clone()
    }
}

fn unavailable() -> RemoteError {
    RemoteError::transient("503 Service Unavailable")
}

fn throttled() -> RemoteError {
    RemoteError::Transient {
        message: "429 Too Many Requests".into(),
        retry_after: Some(Duration::from_secs(3600)),
    }
}

/// How a write call ends, once its effect (if any) is applied.
enum Ending<T> {
    Answer(Result<T, RemoteError>),
    /// Answers after a minute.
    Late(T),
}

impl MemoryRemote {
    /// Waits out the latency (with the lock released), then answers.
    async fn answer<T>(&self, ending: Ending<T>) -> Result<T, RemoteError> {
        let latency = self.lock().latency;
        match ending {
            Ending::Answer(result) => {
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                result
            }
            Ending::Late(value) => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(value)
            }
        }
    }

    /// A fault that stops a write before it takes effect, as its error.
    fn refused_before(fault: Option<Fault>, create: bool) -> Option<RemoteError> {
        match fault? {
            Fault::Unavailable => Some(unavailable()),
            Fault::Throttled => Some(throttled()),
            Fault::ServerError if create => Some(RemoteError::Unknown("500".into())),
            Fault::ServerError => Some(RemoteError::transient("500")),
            Fault::Reject => Some(RemoteError::Rejected("422".into())),
            Fault::ProcessThenLose | Fault::Slow => None,
        }
    }

    /// How a write that took effect ends, given its fault.
    fn ending<T>(fault: Option<Fault>, value: T, create: bool) -> Ending<T> {
        match fault {
            Some(Fault::ProcessThenLose) if create => {
                Ending::Answer(Err(RemoteError::Unknown("timed out".into())))
            }
            Some(Fault::ProcessThenLose) => {
                Ending::Answer(Err(RemoteError::transient("timed out")))
            }
            Some(Fault::Slow) => Ending::Late(value),
            _ => Ending::Answer(Ok(value)),
        }
    }
}

#[async_trait]
impl RemoteApi for MemoryRemote {
    async fn create(&self, data: &EntityData) -> Result<u64, RemoteError> {
        let ending = {
            let mut inner = self.lock();
            inner.calls.create += 1;
            let fault = inner.fault(Some(data));
            match Self::refused_before(fault, true) {
                Some(e) => Ending::Answer(Err(e)),
                None => {
                    let rows = inner.rows(data.key().kind);
                    let id = rows.keys().next_back().map_or(1, |max| max + 1);
                    rows.insert(id, with_id(data, id));
                    tracing::debug!(?fault, id, ?data, "remote: created");
                    Self::ending(fault, id, true)
                }
            }
        };
        self.answer(ending).await
    }

    async fn replace(&self, remote_id: u64, data: &EntityData) -> Result<(), RemoteError> {
        let ending = {
            let mut inner = self.lock();
            inner.calls.replace += 1;
            let fault = inner.fault(Some(data));
            match Self::refused_before(fault, false) {
                Some(e) => Ending::Answer(Err(e)),
                None => {
                    let rows = inner.rows(data.key().kind);
                    match rows.get_mut(&remote_id) {
                        Some(row) => {
                            *row = with_id(data, remote_id);
                            tracing::debug!(?fault, remote_id, ?data, "remote: replaced");
                            Self::ending(fault, (), false)
                        }
                        None => Ending::Answer(Err(RemoteError::Rejected(format!(
                            "404 no {remote_id}"
                        )))),
                    }
                }
            }
        };
        self.answer(ending).await
    }

    async fn delete(&self, kind: EntityKind, remote_id: u64) -> Result<(), RemoteError> {
        let ending = {
            let mut inner = self.lock();
            inner.calls.delete += 1;
            let fault = inner.fault(None);
            match Self::refused_before(fault, false) {
                Some(e) => Ending::Answer(Err(e)),
                None => {
                    inner.rows(kind).remove(&remote_id);
                    tracing::debug!(?fault, ?kind, remote_id, "remote: deleted");
                    if kind == EntityKind::Post && !inner.no_cascade {
                        // json-server cascades a post's delete to its comments.
                        inner.comments.retain(
                            |_, c| !matches!(c, EntityData::Comment(c) if c.post_id == remote_id),
                        );
                    }
                    Self::ending(fault, (), false)
                }
            }
        };
        self.answer(ending).await
    }

    async fn find(&self, data: &EntityData) -> Result<Vec<u64>, RemoteError> {
        let found = {
            let mut inner = self.lock();
            inner.calls.find += 1;
            if inner.down {
                Err(unavailable())
            } else {
                let mut ids: Vec<u64> = inner
                    .rows(data.key().kind)
                    .iter()
                    .filter(|(_, row)| fields_equal(row, data))
                    .map(|(id, _)| *id)
                    .collect();
                ids.reverse();
                Ok(ids)
            }
        };
        self.answer(Ending::Answer(found)).await
    }

    fn deletes_cascade(&self) -> bool {
        !self.lock().claims_no_cascade
    }

    async fn comments_of(&self, post_remote_id: u64) -> Result<Vec<u64>, RemoteError> {
        let answer = {
            let mut inner = self.lock();
            inner.calls.comments_of += 1;
            if inner.down {
                Err(unavailable())
            } else {
                Ok(inner
                    .comments
                    .iter()
                    .filter(
                        |(_, c)| matches!(c, EntityData::Comment(c) if c.post_id == post_remote_id),
                    )
                    .map(|(id, _)| *id)
                    .collect())
            }
        };
        self.answer(Ending::Answer(answer)).await
    }

    async fn probe(&self) -> Result<(), RemoteError> {
        let answer = {
            let mut inner = self.lock();
            inner.calls.probe += 1;
            if inner.down {
                Err(unavailable())
            } else {
                Ok(())
            }
        };
        self.answer(Ending::Answer(answer)).await
    }
}

#[async_trait]
impl RemoteListing for MemoryRemote {
    async fn list(
        &self,
        kind: EntityKind,
        after: u64,
        limit: usize,
    ) -> Result<RemotePage, RemoteError> {
        let answer = {
            let mut inner = self.lock();
            inner.calls.list += 1;
            if inner.down {
                Err(unavailable())
            } else {
                let rows = inner.rows(kind);
                let remaining = rows.range(after + 1..).count() as u64;
                Ok(RemotePage {
                    records: rows
                        .range(after + 1..)
                        .take(limit)
                        .map(|(_, d)| d.clone())
                        .collect(),
                    remaining: Some(remaining),
                })
            }
        };
        self.answer(Ending::Answer(answer)).await
    }
}

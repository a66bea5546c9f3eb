//! The store, seen from the domain: one narrow trait per capability, so that a handler's
//! signature shows what it may touch (a read-only route gets a `&dyn PostRead`).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{Comment, CommentDraft, Post, PostDraft, Versioned};

/// Which stored records a list reads, in id order: a whole kind, or one scope's (a user's
/// posts, a post's comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `None`: every record of the kind.
    pub scope: Option<u64>,
    pub descending: bool,
    pub offset: u64,
    /// `None`: to the end.
    pub limit: Option<u64>,
}

/// Reading one kind of record. Posts and comments are read alike, so lists, counts and
/// look-ups by id are one generic path; `PostRead` and `CommentRead` name the two.
#[async_trait]
pub trait EntityRead<T>: Send + Sync {
    async fn get(&self, id: u64) -> Result<Option<Versioned<T>>, StoreError>;
    /// The records of `window`, reading about as many as it returns (plus the offset).
    async fn window(&self, window: Window) -> Result<Vec<T>, StoreError>;
    /// How many records `scope` holds, kept by every write: it never reads them.
    async fn count(&self, scope: Option<u64>) -> Result<u64, StoreError>;
    /// Those of `ids` that exist, in id order.
    async fn get_many(&self, ids: &[u64]) -> Result<Vec<T>, StoreError>;
}

/// Reading posts.
pub trait PostRead: EntityRead<Post> {}
impl<S: EntityRead<Post> + ?Sized> PostRead for S {}

/// Reading comments.
pub trait CommentRead: EntityRead<Comment> {}
impl<S: EntityRead<Comment> + ?Sized> CommentRead for S {}

/// A create a client may send more than once (`Idempotency-Key`): the store keeps the first
/// answer under the key for [`ONCE_KEPT_SECONDS`], in the create's own transaction, with a
/// digest of the request. A repeat with the same digest gets that answer and creates
/// nothing; another digest is [`StoreError::KeyReused`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    pub key: String,
    pub request_digest: String,
}

/// How long a create's answer is kept under its idempotency key.
pub const ONCE_KEPT_SECONDS: u64 = 24 * 3600;

#[async_trait]
pub trait PostWrite: PostRead {
    /// Assigns the next id and stores the post at version 1; with `once`, at most once per key.
    async fn create_post(
        &self,
        draft: PostDraft,
        once: Option<&Once>,
    ) -> Result<Versioned<Post>, StoreError>;
    /// Replaces the post if its stored version is still `expected_version`.
    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
    ) -> Result<Versioned<Post>, StoreError>;
    /// Deletes the post (as read) and its comments. With `expected_version`, only if the
    /// post is still at that version.
    async fn delete_post(
        &self,
        post: &Post,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CommentWrite: CommentRead {
    /// Assigns the next id and stores the comment, atomically with a check that its post
    /// exists ([`StoreError::ParentMissing`] otherwise).
    async fn create_comment(
        &self,
        draft: CommentDraft,
        once: Option<&Once>,
    ) -> Result<Versioned<Comment>, StoreError>;
    async fn update_comment(
        &self,
        comment: &Comment,
        expected_version: u64,
    ) -> Result<Versioned<Comment>, StoreError>;
    /// Deletes the comment (as read); with `expected_version`, only if still at it.
    async fn delete_comment(
        &self,
        comment: &Comment,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError>;
}

// ---- change capture and sync ----

use std::collections::HashMap;
use std::time::Duration;

use crate::change::{ChangeEvent, EntityData, EntityKey, EntityKind};
use crate::merge::SyncState;

/// Why a queue, state or lease operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PortError(pub String);

/// Where change capture puts change events.
#[async_trait]
pub trait ChangeSink: Send + Sync {
    /// Enqueues the events in order; returns the indexes of those that were not enqueued.
    async fn send(&self, events: &[ChangeEvent]) -> Result<Vec<usize>, PortError>;
}

/// A change event received from the queue, not yet deleted.
#[derive(Debug, Clone)]
pub struct QueuedChange {
    pub receipt: String,
    pub event: ChangeEvent,
}

/// Where the sync takes change events from.
#[async_trait]
pub trait ChangeSource: Send + Sync {
    /// Up to `max` (at most 10) messages; they stay invisible until deleted or their
    /// visibility timeout ends. Messages that are not change events are left to the DLQ.
    async fn receive(&self, max: usize) -> Result<Vec<QueuedChange>, PortError>;
    async fn delete(&self, receipts: &[String]) -> Result<(), PortError>;
}

/// The single sync lease, as taken: `epoch` grows with every take, so a run's writes can be
/// fenced against a run that took the lease after it (a fencing token). It also carries what
/// the import recorded when the lease was taken (`imported`), which claims rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub epoch: u64,
    pub imported: ImportedUpTo,
}

/// The highest id of each kind the import has recorded (`None`: not known, as in a table
/// imported before it was kept). An imported entity holds its own id as its remote id,
/// without a claim; every other holder holds through a claim. So a remote id above the mark
/// can be held only through a claim, and claiming it need not read the state of the entity
/// with that id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportedUpTo {
    pub post: Option<u64>,
    pub comment: Option<u64>,
}

impl ImportedUpTo {
    /// Whether an imported entity may hold `remote_id` (of `kind`) without a claim.
    pub fn may_hold(&self, kind: EntityKind, remote_id: u64) -> bool {
        let mark = match kind {
            EntityKind::Post => self.post,
            EntityKind::Comment => self.comment,
        };
        mark.is_none_or(|highest| remote_id <= highest)
    }
}

/// What claiming a remote id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The claiming entity holds it now.
    Taken,
    /// Another local entity holds it.
    Held,
    /// Another local entity holds it whose delete is pending: its copy may be gone already
    /// and the id handed out again, so whose copy the id names is not known until that
    /// delete is recorded.
    HeldByLeaving,
}

impl Claim {
    pub fn taken(self) -> bool {
        self == Claim::Taken
    }

    /// How `holder`, found holding the id, holds it.
    pub fn held_by(holder: &SyncState) -> Claim {
        match &holder.pending {
            Some(pending) if pending.after.is_none() => Claim::HeldByLeaving,
            _ => Claim::Held,
        }
    }
}

/// Per-entity sync state, the sync lease, and which local entity each remote id belongs to.
#[async_trait]
pub trait SyncStateStore: Send + Sync {
    /// Strongly consistent reads. Each state carries the revision it was read at
    /// ([`SyncState::revision`]; 0 for a state the sync never wrote).
    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, SyncState>, PortError>;
    /// Writes each state only if it is still at the revision it was read at and no run
    /// holding a newer lease than `lease` has written it, bumping its revision. A write that
    /// loses either condition is an error: the caller's view is stale and it must stop.
    async fn save(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError>;
    /// The intake's journal: writes the states, bumping their revisions, in batches and
    /// without conditions, for a write request per 25 states instead of one per state.
    /// Sound only under what the lease guarantees: the caller holds it with at least half
    /// of it left, so no other run can write (a run never outlives its lease), and read each
    /// state strongly consistently after taking it. The in-memory store checks the
    /// conditions all the same and refuses a write that breaks them, so the simulation
    /// would find a journal write that overwrote a state its run did not read.
    async fn journal(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError>;
    /// Up to `limit` entities, in key order after `after`, that had a pending change when the
    /// index behind this was last updated. A hint (it may lag): read each state before
    /// acting on it.
    async fn pending_page(
        &self,
        after: Option<EntityKey>,
        limit: usize,
    ) -> Result<Vec<EntityKey>, PortError>;
    /// Takes the single sync lease for `ttl` unless someone else holds an unexpired one.
    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<Option<Lease>, PortError>;
    async fn release_lease(&self, owner: &str) -> Result<(), PortError>;
    /// Claims `remote_id` for `key` (same kind): false if another local entity holds it,
    /// i.e. its state maps that remote id and the remote still has it (or its delete is not
    /// yet recorded). How a lost create is never resolved by adopting another entity's copy,
    /// and how a remote that hands ids out again (json-server) is never misread: a create
    /// given an id whose previous holder's delete is unrecorded does not take it, and a delete
    /// finding its id held by another knows its own copy is gone.
    /// Made under `lease`, whose import mark says which ids an imported entity may hold.
    async fn claim_remote(
        &self,
        lease: Lease,
        remote_id: u64,
        key: EntityKey,
    ) -> Result<Claim, PortError>;
    /// Forgets `key`'s claim on `remote_id` (deleted on the remote; the id may be reused).
    async fn release_remote(&self, remote_id: u64, key: EntityKey) -> Result<(), PortError>;
}

/// Why a remote call failed, after any retries.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// Not done, worth trying later: connection refused, 429, 503, and for calls that are
    /// safe to repeat (PUT, DELETE, GET) also timeouts and other 5xx. `retry_after` is what
    /// the remote asked for, if it said.
    #[error("remote unavailable: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A create that may or may not have happened (no answer in time, a 500 after the
    /// request went out): repeating it blindly could create the entity twice, so it is
    /// resolved first.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Any other 4xx (or an answer that makes no sense): permanent for this change.
    #[error("remote rejected the call: {0}")]
    Rejected(String),
}

impl RemoteError {
    pub fn transient(message: impl Into<String>) -> Self {
        RemoteError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The remote REST API, in the remote's own ids.
#[async_trait]
pub trait RemoteApi: Send + Sync {
    /// Creates the entity (a comment's `postId` already the post's remote id) and returns
    /// the id the remote assigned.
    async fn create(&self, data: &EntityData) -> Result<u64, RemoteError>;
    async fn replace(&self, remote_id: u64, data: &EntityData) -> Result<(), RemoteError>;
    /// A 404 counts as done.
    async fn delete(&self, kind: EntityKind, remote_id: u64) -> Result<(), RemoteError>;
    /// The remote ids of the entities equal to `data` (ids aside), newest first: how a
    /// create whose answer was lost is found instead of repeated.
    async fn find(&self, data: &EntityData) -> Result<Vec<u64>, RemoteError>;
    /// A cheap read that tells whether the remote answers at all: after a call failed with a
    /// server error, it tells an outage (stop calling, count nothing) from a remote that
    /// fails this one change while it serves others (an attempt at it).
    async fn probe(&self) -> Result<(), RemoteError>;
    /// Whether deleting a post deletes its comments on the remote too (json-server and
    /// JSONPlaceholder do): a capability the remote is configured with. The sync does not
    /// take it on trust: after such a delete it lists what the post left behind.
    fn deletes_cascade(&self) -> bool {
        false
    }
    /// The remote ids of the comments the remote holds under the post `post_remote_id`.
    async fn comments_of(&self, post_remote_id: u64) -> Result<Vec<u64>, RemoteError>;
}

/// One page of the remote's records of a kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePage {
    /// In the remote's ids, in id order.
    pub records: Vec<EntityData>,
    /// How many records the remote holds from this page on (this page's included), if it
    /// said (json-server's `X-Total-Count`): a page holding all of them is the last, with no
    /// empty page read to find out.
    pub remaining: Option<u64>,
}

/// Reading the whole remote, page by page: what the reconcile compares the master copy with.
#[async_trait]
pub trait RemoteListing: Send + Sync {
    /// Up to `limit` records of `kind` with remote ids above `after`, in id order. The
    /// caller checks that the answer is such a page: a remote that pages differently is an
    /// error, never a guess.
    async fn list(
        &self,
        kind: EntityKind,
        after: u64,
        limit: usize,
    ) -> Result<RemotePage, RemoteError>;
}

/// One page of every sync state, in no particular order.
#[derive(Debug, Clone, Default)]
pub struct StatePage {
    pub states: Vec<(EntityKey, SyncState)>,
    /// Where the next page starts; `None`: this was the last.
    pub next: Option<String>,
}

/// Reading every sync state, page by page (a scan, not the pending index): what the
/// reconcile takes as what the remote should hold.
#[async_trait]
pub trait StateScan: Send + Sync {
    /// The page after `cursor` (`None`: the first), of about `limit` states.
    async fn scan(&self, cursor: Option<String>, limit: usize) -> Result<StatePage, PortError>;
}

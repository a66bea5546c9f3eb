//! The store, seen from the domain: one narrow trait per capability, so that a handler's
//! signature shows what it may touch (a read-only route gets a `&dyn PostRead`).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{Comment, CommentDraft, Post, PostDraft, Versioned};

#[async_trait]
pub trait PostRead: Send + Sync {
    async fn get_post(&self, id: u64) -> Result<Option<Versioned<Post>>, StoreError>;
    /// All posts (of one user, if given), in id order.
    async fn list_posts(&self, user_id: Option<u64>) -> Result<Vec<Versioned<Post>>, StoreError>;
}

#[async_trait]
pub trait PostWrite: PostRead {
    /// Assigns the next id and stores the post at version 1.
    async fn create_post(&self, draft: PostDraft) -> Result<Versioned<Post>, StoreError>;
    /// Replaces the post if its stored version is still `expected_version`.
    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
    ) -> Result<Versioned<Post>, StoreError>;
    /// Deletes the post and, item by item, its comments. With `expected_version`, only if
    /// the post is still at that version.
    async fn delete_post(&self, id: u64, expected_version: Option<u64>) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CommentRead: Send + Sync {
    async fn get_comment(&self, id: u64) -> Result<Option<Versioned<Comment>>, StoreError>;
    /// All comments (of one post, if given), in id order.
    async fn list_comments(
        &self,
        post_id: Option<u64>,
    ) -> Result<Vec<Versioned<Comment>>, StoreError>;
}

#[async_trait]
pub trait CommentWrite: CommentRead {
    /// Assigns the next id and stores the comment, atomically with a check that its post
    /// exists ([`StoreError::ParentMissing`] otherwise).
    async fn create_comment(&self, draft: CommentDraft) -> Result<Versioned<Comment>, StoreError>;
    async fn update_comment(
        &self,
        comment: &Comment,
        expected_version: u64,
    ) -> Result<Versioned<Comment>, StoreError>;
    async fn delete_comment(
        &self,
        id: u64,
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

/// Per-entity sync state, the sync lease and the last run's report.
#[async_trait]
pub trait SyncStateStore: Send + Sync {
    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, SyncState>, PortError>;
    async fn save(&self, key: EntityKey, state: &SyncState) -> Result<(), PortError>;
    /// Saves many states in as few requests as the store allows.
    async fn save_many(&self, states: &[(EntityKey, SyncState)]) -> Result<(), PortError>;
    /// Every state with a pending change. May lag the latest saves slightly (an index), so
    /// a run also keeps what it journaled itself.
    async fn pending(&self) -> Result<HashMap<EntityKey, SyncState>, PortError>;
    /// Takes the single sync lease for `ttl` unless someone else holds an unexpired one.
    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<bool, PortError>;
    async fn release_lease(&self, owner: &str) -> Result<(), PortError>;
}

/// Why a remote call failed, after any retries.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// Timeouts, connection errors, 5xx, 429: worth trying again later.
    #[error("remote unavailable: {0}")]
    Transient(String),
    /// Any other 4xx (or an answer that makes no sense): this entity fails; others go on.
    #[error("remote rejected the call: {0}")]
    Rejected(String),
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
    /// The remote id of an entity equal to `data` (ids aside), if the remote holds one: how
    /// a create whose answer was lost is found instead of repeated.
    async fn find(&self, data: &EntityData) -> Result<Option<u64>, RemoteError>;
}

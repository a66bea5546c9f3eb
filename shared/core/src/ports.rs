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

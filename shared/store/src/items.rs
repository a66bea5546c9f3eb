//! How posts and comments are laid out as DynamoDB items. Change capture decodes stream
//! images with these same types, so the two cannot disagree.

use ps_core::query::Record;
use ps_core::{Comment, Post, Versioned};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub const POST: &str = "post";
pub const COMMENT: &str = "comment";

/// Index listing every item of one entity kind in id order.
pub const BY_ENTITY_INDEX: &str = "byEntity";
/// Index listing the posts of a user (`user#<id>`) or the comments of a post (`post#<id>`)
/// in id order.
pub const BY_PARENT_INDEX: &str = "byParent";

pub fn post_key(id: u64) -> String {
    format!("{POST}#{id}")
}

pub fn comment_key(id: u64) -> String {
    format!("{COMMENT}#{id}")
}

fn user_parent(user_id: u64) -> String {
    format!("user#{user_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostItem {
    pub pk: String,
    pub entity: String,
    pub parent: String,
    pub id: u64,
    pub version: u64,
    pub user_id: u64,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentItem {
    pub pk: String,
    pub entity: String,
    pub parent: String,
    pub id: u64,
    pub version: u64,
    pub post_id: u64,
    pub name: String,
    pub email: String,
    pub body: String,
}

impl PostItem {
    pub fn new(post: &Post, version: u64) -> Self {
        PostItem {
            pk: post_key(post.id),
            entity: POST.into(),
            parent: user_parent(post.user_id),
            id: post.id,
            version,
            user_id: post.user_id,
            title: post.title.clone(),
            body: post.body.clone(),
        }
    }

    pub fn into_versioned(self) -> Versioned<Post> {
        Versioned {
            version: self.version,
            value: Post {
                user_id: self.user_id,
                id: self.id,
                title: self.title,
                body: self.body,
            },
        }
    }
}

impl CommentItem {
    pub fn new(comment: &Comment, version: u64) -> Self {
        CommentItem {
            pk: comment_key(comment.id),
            entity: COMMENT.into(),
            parent: post_key(comment.post_id),
            id: comment.id,
            version,
            post_id: comment.post_id,
            name: comment.name.clone(),
            email: comment.email.clone(),
            body: comment.body.clone(),
        }
    }

    pub fn into_versioned(self) -> Versioned<Comment> {
        Versioned {
            version: self.version,
            value: Comment {
                post_id: self.post_id,
                id: self.id,
                name: self.name,
                email: self.email,
                body: self.body,
            },
        }
    }
}

/// How a kind of record is stored: its item, its key, and the partitions it is listed and
/// counted in. Posts and comments are read by one generic path through this.
pub trait Stored: Record {
    type Item: Serialize + DeserializeOwned + Send;
    /// The `entity` attribute, and the whole kind's partition of the `byEntity` index.
    const ENTITY: &'static str;
    fn key(id: u64) -> String;
    /// The `parent` attribute of records in `scope`: `user#7`, `post#3`.
    fn parent(scope: u64) -> String;
    fn into_versioned(item: Self::Item) -> Versioned<Self>;
}

impl Stored for Post {
    type Item = PostItem;
    const ENTITY: &'static str = POST;
    fn key(id: u64) -> String {
        post_key(id)
    }
    fn parent(scope: u64) -> String {
        user_parent(scope)
    }
    fn into_versioned(item: PostItem) -> Versioned<Post> {
        item.into_versioned()
    }
}

impl Stored for Comment {
    type Item = CommentItem;
    const ENTITY: &'static str = COMMENT;
    fn key(id: u64) -> String {
        comment_key(id)
    }
    fn parent(scope: u64) -> String {
        post_key(scope)
    }
    fn into_versioned(item: CommentItem) -> Versioned<Comment> {
        item.into_versioned()
    }
}

/// The item that counts a partition's records: `count#post` (every post), `count#user#7`
/// (user 7's posts), `count#comment`, `count#post#3` (post 3's comments). Every create and
/// delete changes it in the same transaction, so a list's total never needs a read of the
/// records. It lives in the entities table beside them, so those transactions touch one
/// table; it has no `entity`, `parent` or `id`, so no index holds it, and its stream records
/// carry no entity: capture passes them over and the stream mapping's filter drops them.
pub fn count_key(partition: &str) -> String {
    format!("count#{partition}")
}

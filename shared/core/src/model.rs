use serde::{Deserialize, Serialize};

/// Every post created through this API belongs to this user, as the product asks.
pub const NEW_POST_USER_ID: u64 = 99_999_942;

/// A post, in JSONPlaceholder's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Post {
    pub user_id: u64,
    pub id: u64,
    pub title: String,
    pub body: String,
}

/// A comment, in JSONPlaceholder's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Comment {
    pub post_id: u64,
    pub id: u64,
    pub name: String,
    pub email: String,
    pub body: String,
}

/// A stored value with the version its last write gave it. The version is the ETag and the
/// guard of every conditional write; it only grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// What a new post is made of before the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostDraft {
    pub user_id: u64,
    pub title: String,
    pub body: String,
}

/// What a new comment is made of before the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentDraft {
    pub post_id: u64,
    pub name: String,
    pub email: String,
    pub body: String,
}

impl PostDraft {
    pub fn with_id(self, id: u64) -> Post {
        Post {
            user_id: self.user_id,
            id,
            title: self.title,
            body: self.body,
        }
    }
}

impl CommentDraft {
    pub fn with_id(self, id: u64) -> Comment {
        Comment {
            post_id: self.post_id,
            id,
            name: self.name,
            email: self.email,
            body: self.body,
        }
    }
}

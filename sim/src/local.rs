//! The entities table in the simulation: posts and comments with versions, and the stream
//! of its changes as DynamoDB stream records, which the real capture function reads.

use std::collections::BTreeMap;

use ps_core::{Comment, Post};
use ps_store::items::{CommentItem, PostItem};
use serde_json::{Value, json};

/// Post titles and comment texts come from a small vocabulary, so identical entities (the
/// case a lost create's look-up must not confuse) are common.
pub const WORDS: [&str; 3] = ["alpha", "beta", "gamma"];
/// The remote refuses for good any post titled, or comment named, with this.
pub const REFUSED: &str = "refused";

#[derive(Default)]
pub struct Local {
    pub posts: BTreeMap<u64, (Post, u64)>,
    pub comments: BTreeMap<u64, (Comment, u64)>,
    next_post: u64,
    next_comment: u64,
    /// The stream: every change, in order.
    pub stream: Vec<Value>,
    sequence: u64,
}

fn post_image(post: &Post, version: u64) -> Value {
    let item: serde_dynamo::Item =
        serde_dynamo::to_item(PostItem::new(post, version)).expect("item");
    serde_json::to_value(item).expect("json")
}

fn comment_image(comment: &Comment, version: u64) -> Value {
    let item: serde_dynamo::Item =
        serde_dynamo::to_item(CommentItem::new(comment, version)).expect("item");
    serde_json::to_value(item).expect("json")
}

impl Local {
    /// The entities as they are now, behind the read ports (what a reconcile's repair reads).
    pub fn view(&self) -> ps_memory::MemoryEntities {
        let view = ps_memory::MemoryEntities::new();
        let posts: Vec<Post> = self.posts.values().map(|(p, _)| p.clone()).collect();
        let comments: Vec<Comment> = self.comments.values().map(|(c, _)| c.clone()).collect();
        view.import(&posts, &comments);
        view
    }

    /// Starts from imported entities (version 0: on the remote already, no stream record).
    pub fn imported(posts: Vec<Post>, comments: Vec<Comment>) -> Self {
        let next_post = posts.iter().map(|p| p.id).max().unwrap_or(0);
        let next_comment = comments.iter().map(|c| c.id).max().unwrap_or(0);
        Local {
            posts: posts.into_iter().map(|p| (p.id, (p, 0))).collect(),
            comments: comments.into_iter().map(|c| (c.id, (c, 0))).collect(),
            next_post,
            next_comment,
            ..Local::default()
        }
    }

    fn record(&mut self, name: &str, pk: String, new: Option<Value>, old: Option<Value>) {
        self.sequence += 1;
        let mut dynamodb = json!({
            "Keys": {"pk": {"S": pk}},
            "SequenceNumber": format!("{:021}", self.sequence),
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        self.stream.push(json!({
            "eventID": format!("ev{}", self.sequence),
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/entities/stream/sim",
        }));
    }

    pub fn create_post(&mut self, title: &str) -> u64 {
        self.next_post += 1;
        let post = Post {
            user_id: ps_core::NEW_POST_USER_ID,
            id: self.next_post,
            title: title.into(),
            body: "body".into(),
        };
        self.record(
            "INSERT",
            format!("post#{}", post.id),
            Some(post_image(&post, 1)),
            None,
        );
        self.posts.insert(post.id, (post, 1));
        self.next_post
    }

    pub fn update_post(&mut self, id: u64, title: &str) {
        let Some((post, version)) = self.posts.get(&id).cloned() else {
            return;
        };
        let new = Post {
            title: title.into(),
            ..post.clone()
        };
        if new == post {
            return;
        }
        self.record(
            "MODIFY",
            format!("post#{id}"),
            Some(post_image(&new, version + 1)),
            Some(post_image(&post, version)),
        );
        self.posts.insert(id, (new, version + 1));
    }

    /// Deletes the post and, item by item, its comments (as the API does).
    pub fn delete_post(&mut self, id: u64) {
        let Some((post, version)) = self.posts.get(&id).cloned() else {
            return;
        };
        let comments: Vec<u64> = self
            .comments
            .iter()
            .filter(|(_, (c, _))| c.post_id == id)
            .map(|(cid, _)| *cid)
            .collect();
        for cid in comments {
            self.delete_comment(cid);
        }
        self.record(
            "REMOVE",
            format!("post#{id}"),
            None,
            Some(post_image(&post, version)),
        );
        self.posts.remove(&id);
    }

    pub fn create_comment(&mut self, post_id: u64, name: &str) -> Option<u64> {
        if !self.posts.contains_key(&post_id) {
            return None;
        }
        self.next_comment += 1;
        let comment = Comment {
            post_id,
            id: self.next_comment,
            name: name.into(),
            email: "a@example.com".into(),
            body: "body".into(),
        };
        self.record(
            "INSERT",
            format!("comment#{}", comment.id),
            Some(comment_image(&comment, 1)),
            None,
        );
        self.comments.insert(comment.id, (comment, 1));
        Some(self.next_comment)
    }

    pub fn update_comment(&mut self, id: u64, name: &str) {
        let Some((comment, version)) = self.comments.get(&id).cloned() else {
            return;
        };
        let new = Comment {
            name: name.into(),
            ..comment.clone()
        };
        if new == comment {
            return;
        }
        self.record(
            "MODIFY",
            format!("comment#{id}"),
            Some(comment_image(&new, version + 1)),
            Some(comment_image(&comment, version)),
        );
        self.comments.insert(id, (new, version + 1));
    }

    pub fn delete_comment(&mut self, id: u64) {
        let Some((comment, version)) = self.comments.get(&id).cloned() else {
            return;
        };
        self.record(
            "REMOVE",
            format!("comment#{id}"),
            None,
            Some(comment_image(&comment, version)),
        );
        self.comments.remove(&id);
    }
}

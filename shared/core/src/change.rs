//! Change events: what change capture puts on the queue for every insert, modify and remove
//! of a post or comment, and what the sync consumes.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::model::{Comment, Post};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Post,
    Comment,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Post => "post",
            EntityKind::Comment => "comment",
        }
    }
}

/// Which entity a change is about, by its local id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityKey {
    pub kind: EntityKind,
    pub id: u64,
}

impl EntityKey {
    pub fn post(id: u64) -> Self {
        EntityKey {
            kind: EntityKind::Post,
            id,
        }
    }

    pub fn comment(id: u64) -> Self {
        EntityKey {
            kind: EntityKind::Comment,
            id,
        }
    }
}

impl std::fmt::Display for EntityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// The data of an entity, post or comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityData {
    Post(Post),
    Comment(Comment),
}

impl EntityData {
    pub fn key(&self) -> EntityKey {
        match self {
            EntityData::Post(p) => EntityKey::post(p.id),
            EntityData::Comment(c) => EntityKey::comment(c.id),
        }
    }
}

/// A DynamoDB stream sequence number: a decimal string of up to 40 digits, so compared
/// numerically as text rather than parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SequenceNumber(pub String);

impl SequenceNumber {
    fn digits(&self) -> &str {
        self.0.trim_start_matches('0')
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.digits(), other.digits());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One captured change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub key: EntityKey,
    pub change: ChangeKind,
    /// The post this change belongs with (a post's own id, a comment's `postId`): every
    /// change of a post and its comments shares one ordered queue group.
    pub post_id: u64,
    /// The entity after the change; `None` when it was removed.
    pub after: Option<EntityData>,
    /// The item's version after the change (before it, for a remove).
    pub version: u64,
    pub sequence: SequenceNumber,
    /// The stream record's id: the queue's deduplication id.
    pub event_id: String,
}

impl ChangeEvent {
    /// The FIFO message group: a post and its comments.
    pub fn group(&self) -> String {
        format!("post-{}", self.post_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sequence_numbers_order_as_numbers(a in 0u128..u128::MAX, b in 0u128..u128::MAX, pad in 0usize..3) {
            let sa = SequenceNumber(format!("{}{a}", "0".repeat(pad)));
            let sb = SequenceNumber(b.to_string());
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
        }
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = ChangeEvent {
            key: EntityKey::comment(3),
            change: ChangeKind::Modify,
            post_id: 1,
            after: Some(EntityData::Comment(Comment {
                post_id: 1,
                id: 3,
                name: "n".into(),
                email: "e@x.io".into(),
                body: "b".into(),
            })),
            version: 2,
            sequence: SequenceNumber("000000000000000000042".into()),
            event_id: "abc".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<ChangeEvent>(&json).unwrap(), e);
        assert_eq!(e.group(), "post-1");
    }
}

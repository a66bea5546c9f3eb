//! Change events: what change capture puts on the queue for every insert, modify and remove
//! of a post or comment, and what the sync consumes.

use std::cmp::Ordering;
use std::fmt;

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

/// A DynamoDB stream sequence number: a decimal string of up to 40 digits (more than a
/// `u128` holds), kept inline as a number so that comparing two, which the merge does for
/// every change, follows no pointer. Written back exactly as it was read, leading zeros
/// included; two numbers that differ only in leading zeros are equal.
#[derive(Debug, Clone, Copy)]
pub struct SequenceNumber {
    /// The digits before the last 38 (at most two).
    high: u8,
    /// The last 38 digits.
    low: u128,
    /// How many digits it was written with.
    width: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a sequence number (1 to 40 decimal digits): {0:?}")]
pub struct BadSequenceNumber(pub String);

impl SequenceNumber {
    pub const MAX_DIGITS: usize = 40;
    const LOW_DIGITS: usize = 38;
}

impl std::str::FromStr for SequenceNumber {
    type Err = BadSequenceNumber;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadSequenceNumber(s.to_owned());
        if s.is_empty() || s.len() > Self::MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (high, low) = s.split_at(s.len().saturating_sub(Self::LOW_DIGITS));
        Ok(SequenceNumber {
            high: if high.is_empty() {
                0
            } else {
                high.parse().map_err(|_| bad())?
            },
            low: low.parse().map_err(|_| bad())?,
            width: s.len() as u8,
        })
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = usize::from(self.width);
        if self.high == 0 {
            write!(f, "{:0width$}", self.low)
        } else {
            let high_width = width - Self::LOW_DIGITS;
            write!(f, "{:0high_width$}{:038}", self.high, self.low)
        }
    }
}

impl Serialize for SequenceNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Digits;
        impl serde::de::Visitor<'_> for Digits {
            type Value = SequenceNumber;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string of 1 to 40 decimal digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SequenceNumber, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Digits)
    }
}

impl PartialEq for SequenceNumber {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SequenceNumber {}

impl std::hash::Hash for SequenceNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.high, self.low).hash(state)
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.high, self.low).cmp(&(other.high, other.low))
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

    /// The reference order: by value, as decimal text.
    fn numeric_order(a: &str, b: &str) -> std::cmp::Ordering {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }

    proptest! {
        #[test]
        fn sequence_numbers_order_as_numbers(a in "[0-9]{1,40}", b in "[0-9]{1,40}") {
            let (sa, sb): (SequenceNumber, SequenceNumber) = (a.parse().unwrap(), b.parse().unwrap());
            prop_assert_eq!(sa.cmp(&sb), numeric_order(&a, &b));
            prop_assert_eq!(sa == sb, numeric_order(&a, &b).is_eq());
        }

        #[test]
        fn sequence_numbers_are_written_as_read(s in "[0-9]{1,40}") {
            let n: SequenceNumber = s.parse().unwrap();
            prop_assert_eq!(n.to_string(), s.clone());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(&json, &format!("\"{s}\""));
            prop_assert_eq!(serde_json::from_str::<SequenceNumber>(&json).unwrap().to_string(), s);
        }

        #[test]
        fn anything_else_is_not_a_sequence_number(s in "[0-9]{41,45}|[0-9]*[^0-9][0-9a-z]*|") {
            prop_assert!(s.parse::<SequenceNumber>().is_err());
            prop_assert!(serde_json::from_str::<SequenceNumber>(&serde_json::to_string(&s).unwrap()).is_err());
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
            sequence: "000000000000000000042".parse().unwrap(),
            event_id: "abc".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<ChangeEvent>(&json).unwrap(), e);
        assert_eq!(e.group(), "post-1");
    }
}

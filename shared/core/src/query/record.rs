//! What a list query needs to know of a record: its fields, their kinds, and their values.
//! Posts and comments answer the same questions, so one query language serves both.

use serde::Serialize;

use crate::model::{Comment, Post};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Number,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
}

const fn number(name: &'static str) -> Field {
    Field {
        name,
        kind: FieldKind::Number,
    }
}

const fn text(name: &'static str) -> Field {
    Field {
        name,
        kind: FieldKind::Text,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldValue<'a> {
    Number(u64),
    Text(&'a str),
}

impl FieldValue<'_> {
    /// The value as json-server compares it in `_like`, `_ne` and `q`: its string form.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            FieldValue::Number(n) => n.to_string().into(),
            FieldValue::Text(t) => (*t).into(),
        }
    }
}

/// A related resource a list or a read can include, as json-server's `_embed` (the
/// children) or `_expand` (the parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    /// `_embed` or `_expand`.
    pub parameter: &'static str,
    /// Its one accepted value, which is also the field added to each record.
    pub name: &'static str,
}

pub trait Record: Serialize + Clone + Send + Sync + 'static {
    /// Singular, for messages: `post`.
    const NAME: &'static str;
    /// Every field, in the JSON shape's order.
    const FIELDS: &'static [Field];
    /// The field whose value is an index partition: a user's posts, a post's comments.
    const SCOPE: &'static str;
    /// What `_embed`/`_expand` may add.
    const RELATION: Relation;

    fn id(&self) -> u64;
    fn scope(&self) -> u64;
    fn value(&self, field: &str) -> Option<FieldValue<'_>>;

    fn field(name: &str) -> Option<&'static Field> {
        Self::FIELDS.iter().find(|f| f.name == name)
    }
}

impl Record for Post {
    const NAME: &'static str = "post";
    const FIELDS: &'static [Field] = &[number("userId"), number("id"), text("title"), text("body")];
    const SCOPE: &'static str = "userId";
    const RELATION: Relation = Relation {
        parameter: "_embed",
        name: "comments",
    };

    fn id(&self) -> u64 {
        self.id
    }

    fn scope(&self) -> u64 {
        self.user_id
    }

    fn value(&self, field: &str) -> Option<FieldValue<'_>> {
        Some(match field {
            "userId" => FieldValue::Number(self.user_id),
            "id" => FieldValue::Number(self.id),
            "title" => FieldValue::Text(&self.title),
            "body" => FieldValue::Text(&self.body),
            _ => return None,
        })
    }
}

impl Record for Comment {
    const NAME: &'static str = "comment";
    const FIELDS: &'static [Field] = &[
        number("postId"),
        number("id"),
        text("name"),
        text("email"),
        text("body"),
    ];
    const SCOPE: &'static str = "postId";
    const RELATION: Relation = Relation {
        parameter: "_expand",
        name: "post",
    };

    fn id(&self) -> u64 {
        self.id
    }

    fn scope(&self) -> u64 {
        self.post_id
    }

    fn value(&self, field: &str) -> Option<FieldValue<'_>> {
        Some(match field {
            "postId" => FieldValue::Number(self.post_id),
            "id" => FieldValue::Number(self.id),
            "name" => FieldValue::Text(&self.name),
            "email" => FieldValue::Text(&self.email),
            "body" => FieldValue::Text(&self.body),
            _ => return None,
        })
    }
}

//! Turning a client's JSON into checked fields, with a message per offending field.
//! Nothing is written unless this passes, so it is strict: unknown fields, wrong types and
//! out-of-range lengths are all reported, together.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ServiceError;

pub const TITLE_MAX: usize = 256;
pub const POST_BODY_MAX: usize = 1024;
pub const NAME_MAX: usize = 128;
pub const EMAIL_MAX: usize = 128;
pub const COMMENT_BODY_MAX: usize = 1024;

/// Per-field messages, serialised as `{"title": ["..."]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(BTreeMap<String, Vec<String>>);

impl ValidationErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn messages(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or_default()
    }

    fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

/// Which write the fields are for: it decides what is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// POST: the content fields are required; `id` is the server's to assign.
    Create,
    /// PUT: the content fields are required; `id`, if sent, must be the resource's.
    Replace,
    /// PATCH: every field is optional.
    Patch,
}

/// The fields a client may send for a post, each checked for type and length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostFields {
    pub id: Option<u64>,
    pub user_id: Option<u64>,
    pub title: Option<String>,
    pub body: Option<String>,
}

/// The fields a client may send for a comment, each checked for type and length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommentFields {
    pub id: Option<u64>,
    pub post_id: Option<u64>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub body: Option<String>,
}

pub fn post_fields(json: &Value, mode: WriteMode) -> Result<PostFields, ServiceError> {
    let mut r = FieldReader::new(json, &["id", "userId", "title", "body"])?;
    let required = mode != WriteMode::Patch;
    let fields = PostFields {
        id: r.id_field("id", mode),
        user_id: r.positive_integer("userId"),
        title: r.text("title", TITLE_MAX, required),
        body: r.text("body", POST_BODY_MAX, required),
    };
    Ok(r.finish().into_result(fields)?)
}

/// `post_id_from_path` is the `{id}` of `/posts/{id}/comments`: it stands in for a missing
/// `postId`, and a `postId` that disagrees with it is an error.
pub fn comment_fields(
    json: &Value,
    mode: WriteMode,
    post_id_from_path: Option<u64>,
) -> Result<CommentFields, ServiceError> {
    let mut r = FieldReader::new(json, &["id", "postId", "name", "email", "body"])?;
    let required = mode != WriteMode::Patch;
    let mut fields = CommentFields {
        id: r.id_field("id", mode),
        post_id: r.positive_integer("postId"),
        name: r.text("name", NAME_MAX, required),
        email: r.text("email", EMAIL_MAX, required),
        body: r.text("body", COMMENT_BODY_MAX, required),
    };
    if let Some(email) = &fields.email {
        if !email_address::EmailAddress::is_valid(email) {
            r.errors.add("email", "must be a valid email address");
        }
    }
    match (post_id_from_path, fields.post_id) {
        (Some(path), Some(body)) if path != body => {
            r.errors.add("postId", "must match the post in the path");
        }
        (Some(path), None) => fields.post_id = Some(path),
        (None, None) if mode == WriteMode::Create => r.errors.add("postId", "is required"),
        _ => {}
    }
    Ok(r.finish().into_result(fields)?)
}

struct FieldReader<'a> {
    object: &'a Map<String, Value>,
    known: &'static [&'static str],
    errors: ValidationErrors,
}

impl<'a> FieldReader<'a> {
    fn new(json: &'a Value, known: &'static [&'static str]) -> Result<Self, ServiceError> {
        let object = json
            .as_object()
            .ok_or_else(|| ServiceError::BadRequest("request body must be a JSON object".into()))?;
        Ok(FieldReader {
            object,
            known,
            errors: ValidationErrors::default(),
        })
    }

    fn finish(mut self) -> ValidationErrors {
        for key in self.object.keys() {
            if !self.known.contains(&key.as_str()) {
                self.errors.add(key, "unknown field");
            }
        }
        self.errors
    }

    fn id_field(&mut self, key: &str, mode: WriteMode) -> Option<u64> {
        if mode == WriteMode::Create && self.object.contains_key(key) {
            self.errors
                .add(key, "is assigned by the server and must not be sent");
            return None;
        }
        self.positive_integer(key)
    }

    fn positive_integer(&mut self, key: &str) -> Option<u64> {
        match self.object.get(key)? {
            Value::Number(n) => match n.as_u64() {
                Some(v) if v >= 1 => Some(v),
                _ => {
                    self.errors.add(key, "must be a positive integer");
                    None
                }
            },
            _ => {
                self.errors.add(key, "must be a positive integer");
                None
            }
        }
    }

    fn text(&mut self, key: &str, max_chars: usize, required: bool) -> Option<String> {
        let Some(value) = self.object.get(key) else {
            if required {
                self.errors.add(key, "is required");
            }
            return None;
        };
        let Value::String(s) = value else {
            self.errors.add(key, "must be a string");
            return None;
        };
        let chars = s.chars().count();
        if chars == 0 || s.trim().is_empty() {
            self.errors.add(key, "must not be blank");
            None
        } else if chars > max_chars {
            self.errors
                .add(key, format!("must be at most {max_chars} characters"));
            None
        } else {
            Some(s.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn invalid_fields(result: Result<impl std::fmt::Debug, ServiceError>) -> Vec<String> {
        match result {
            Err(ServiceError::Invalid(e)) => e.fields().map(str::to_owned).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_post_is_accepted() {
        let f = post_fields(
            &json!({"title": "t", "body": "b", "userId": 1}),
            WriteMode::Create,
        )
        .unwrap();
        assert_eq!(f.title.as_deref(), Some("t"));
        assert_eq!(f.user_id, Some(1));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let fields = invalid_fields(post_fields(
            &json!({"title": 5, "extra": true, "id": 3}),
            WriteMode::Create,
        ));
        assert_eq!(fields, ["body", "extra", "id", "title"]);
    }

    #[test]
    fn patch_requires_nothing() {
        assert_eq!(
            post_fields(&json!({}), WriteMode::Patch).unwrap(),
            PostFields::default()
        );
    }

    #[test]
    fn non_objects_are_bad_requests() {
        assert!(matches!(
            post_fields(&json!([1]), WriteMode::Create),
            Err(ServiceError::BadRequest(_))
        ));
    }

    #[test]
    fn comment_email_must_be_valid() {
        let r = comment_fields(
            &json!({"postId": 1, "name": "n", "email": "not-an-email", "body": "b"}),
            WriteMode::Create,
            None,
        );
        assert_eq!(invalid_fields(r), ["email"]);
    }

    #[test]
    fn comment_post_id_comes_from_the_path_and_must_agree() {
        let ok = comment_fields(
            &json!({"name": "n", "email": "a@b.io", "body": "b"}),
            WriteMode::Create,
            Some(4),
        )
        .unwrap();
        assert_eq!(ok.post_id, Some(4));
        let clash = comment_fields(
            &json!({"postId": 5, "name": "n", "email": "a@b.io", "body": "b"}),
            WriteMode::Create,
            Some(4),
        );
        assert_eq!(invalid_fields(clash), ["postId"]);
    }

    proptest! {
        #[test]
        fn title_length_bounds_are_exact(len in 0usize..300, ch in prop::char::range('a', 'z')) {
            let title: String = std::iter::repeat_n(ch, len).collect();
            let r = post_fields(&json!({"title": title, "body": "b"}), WriteMode::Create);
            prop_assert_eq!(r.is_ok(), (1..=TITLE_MAX).contains(&len));
        }

        #[test]
        fn lengths_count_characters_not_bytes(len in 1usize..=NAME_MAX) {
            let name: String = std::iter::repeat_n('é', len).collect();
            let r = comment_fields(
                &json!({"postId": 1, "name": name, "email": "a@b.io", "body": "b"}),
                WriteMode::Create, None);
            prop_assert!(r.is_ok());
        }

        #[test]
        fn any_unknown_field_is_rejected(key in "[a-zA-Z_]{1,12}") {
            prop_assume!(!["id", "userId", "title", "body"].contains(&key.as_str()));
            let mut v = json!({"title": "t", "body": "b"});
            v[&key] = json!(1);
            prop_assert_eq!(invalid_fields(post_fields(&v, WriteMode::Create)), vec![key]);
        }

        #[test]
        fn ids_must_be_positive_integers(v in prop_oneof![
            Just(json!(0)), Just(json!(-1)), Just(json!(1.5)), Just(json!("1")), Just(json!(null))
        ]) {
            let r = post_fields(&json!({"userId": v}), WriteMode::Patch);
            prop_assert_eq!(invalid_fields(r), vec!["userId".to_owned()]);
        }
    }
}

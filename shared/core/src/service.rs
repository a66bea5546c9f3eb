//! The use-cases behind the routes. Each takes only the store capability it needs.

use serde_json::Value;

use crate::error::{ServiceError, StoreError};
use crate::etag::Precondition;
use crate::model::{CommentDraft, NEW_POST_USER_ID, PostDraft, Versioned};
use crate::ports::{CommentRead, CommentWrite, PostRead, PostWrite};
use crate::query::{CommentFilter, ListQuery, Page, Pagination, PostFilter, paginate};
use crate::validation::{self, ValidationErrors, WriteMode};
use crate::{Comment, Post};

/// How often an unconditional update re-reads and retries after losing a race before it
/// gives up with 409.
const UPDATE_ATTEMPTS: usize = 3;

fn backend(e: StoreError) -> ServiceError {
    match e {
        StoreError::Backend(msg) => ServiceError::Unavailable(msg),
        other => ServiceError::Unavailable(other.to_string()),
    }
}

fn invalid(field: &str, message: &str) -> ServiceError {
    let mut errors = ValidationErrors::default();
    errors.add(field, message);
    ServiceError::Invalid(errors)
}

/// Read, check `If-Match`, modify, and write conditionally on the version read. Without
/// `If-Match` a lost race is retried on fresh data; with one it is a 412. Writes nothing
/// when the modification changes nothing.
async fn read_modify_write<T, Read, Write>(
    what: &str,
    precondition: &Precondition,
    read: impl Fn() -> Read,
    modify: impl Fn(&T) -> Result<T, ServiceError>,
    write: impl Fn(T, u64) -> Write,
) -> Result<Versioned<T>, ServiceError>
where
    T: Clone + PartialEq,
    Read: Future<Output = Result<Versioned<T>, ServiceError>>,
    Write: Future<Output = Result<Versioned<T>, StoreError>>,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let current = read().await?;
        precondition.check(current.version)?;
        let next = modify(&current.value)?;
        if next == current.value {
            return Ok(current);
        }
        match write(next, current.version).await {
            Ok(updated) => return Ok(updated),
            Err(StoreError::VersionConflict) if matches!(precondition, Precondition::OneOf(_)) => {
                return Err(ServiceError::PreconditionFailed);
            }
            Err(StoreError::VersionConflict) => continue,
            Err(StoreError::NotFound) => return Err(ServiceError::NotFound(what.to_owned())),
            Err(e) => return Err(backend(e)),
        }
    }
    Err(ServiceError::Conflict(format!(
        "{what} kept changing during the update; try again"
    )))
}

/// Deletes after checking `If-Match` against the current version; with `If-Match` the
/// delete is conditional on that version, so a concurrent write makes it a 412.
async fn checked_delete<Delete>(
    what: &str,
    precondition: &Precondition,
    current_version: u64,
    delete: impl FnOnce(Option<u64>) -> Delete,
) -> Result<(), ServiceError>
where
    Delete: Future<Output = Result<(), StoreError>>,
{
    precondition.check(current_version)?;
    let expected = matches!(precondition, Precondition::OneOf(_)).then_some(current_version);
    match delete(expected).await {
        Ok(()) => Ok(()),
        Err(StoreError::VersionConflict) => Err(ServiceError::PreconditionFailed),
        Err(StoreError::NotFound) => Err(ServiceError::NotFound(what.to_owned())),
        Err(e) => Err(backend(e)),
    }
}

pub mod posts {
    use super::*;

    fn not_found(id: u64) -> ServiceError {
        ServiceError::NotFound(format!("post {id}"))
    }

    pub async fn get(store: &dyn PostRead, id: u64) -> Result<Versioned<Post>, ServiceError> {
        store
            .get_post(id)
            .await
            .map_err(backend)?
            .ok_or_else(|| not_found(id))
    }

    pub async fn list(
        store: &dyn PostRead,
        query: &ListQuery<PostFilter>,
    ) -> Result<Page<Post>, ServiceError> {
        let all = store
            .list_posts(query.filter.user_id)
            .await
            .map_err(backend)?;
        let mut matching: Vec<Post> = all
            .into_iter()
            .map(|v| v.value)
            .filter(|p| query.filter.matches(p))
            .collect();
        matching.sort_by_key(|p| p.id);
        Ok(paginate(matching, query.pagination))
    }

    pub async fn create(
        store: &dyn PostWrite,
        json: &Value,
    ) -> Result<Versioned<Post>, ServiceError> {
        let fields = validation::post_fields(json, WriteMode::Create)?;
        // `userId` is accepted for JSONPlaceholder clients that send it, but new posts
        // always belong to the fixed local user.
        let draft = PostDraft {
            user_id: NEW_POST_USER_ID,
            title: fields.title.expect("validated"),
            body: fields.body.expect("validated"),
        };
        store.create_post(draft).await.map_err(backend)
    }

    /// PUT (`WriteMode::Replace`) or PATCH (`WriteMode::Patch`). Writes nothing when the
    /// result equals what is stored.
    pub async fn update(
        store: &dyn PostWrite,
        id: u64,
        json: &Value,
        mode: WriteMode,
        precondition: &Precondition,
    ) -> Result<Versioned<Post>, ServiceError> {
        let fields = validation::post_fields(json, mode)?;
        if fields.id.is_some_and(|given| given != id) {
            return Err(invalid("id", "must match the id in the path"));
        }
        read_modify_write(
            &format!("post {id}"),
            precondition,
            || get(store, id),
            |current: &Post| {
                if fields.user_id.is_some_and(|u| u != current.user_id) {
                    return Err(invalid("userId", "cannot be changed"));
                }
                Ok(Post {
                    title: fields
                        .title
                        .clone()
                        .unwrap_or_else(|| current.title.clone()),
                    body: fields.body.clone().unwrap_or_else(|| current.body.clone()),
                    ..current.clone()
                })
            },
            |next: Post, version| async move { store.update_post(&next, version).await },
        )
        .await
    }

    pub async fn delete(
        store: &dyn PostWrite,
        id: u64,
        precondition: &Precondition,
    ) -> Result<(), ServiceError> {
        let current = get(store, id).await?;
        checked_delete(
            &format!("post {id}"),
            precondition,
            current.version,
            |expected| store.delete_post(id, expected),
        )
        .await
    }
}

pub mod comments {
    use super::*;

    fn not_found(id: u64) -> ServiceError {
        ServiceError::NotFound(format!("comment {id}"))
    }

    pub async fn get(store: &dyn CommentRead, id: u64) -> Result<Versioned<Comment>, ServiceError> {
        store
            .get_comment(id)
            .await
            .map_err(backend)?
            .ok_or_else(|| not_found(id))
    }

    pub async fn list(
        store: &dyn CommentRead,
        query: &ListQuery<CommentFilter>,
    ) -> Result<Page<Comment>, ServiceError> {
        let all = store
            .list_comments(query.filter.post_id)
            .await
            .map_err(backend)?;
        let mut matching: Vec<Comment> = all
            .into_iter()
            .map(|v| v.value)
            .filter(|c| query.filter.matches(c))
            .collect();
        matching.sort_by_key(|c| c.id);
        Ok(paginate(matching, query.pagination))
    }

    /// `/posts/{id}/comments`: 404 when the post does not exist, unlike `?postId=`.
    pub async fn list_of_post(
        posts: &dyn PostRead,
        comments: &dyn CommentRead,
        post_id: u64,
        pagination: Option<Pagination>,
    ) -> Result<Page<Comment>, ServiceError> {
        super::posts::get(posts, post_id).await?;
        let query = ListQuery {
            filter: CommentFilter {
                post_id: Some(post_id),
            },
            pagination,
        };
        list(comments, &query).await
    }

    /// `post_id_from_path` is set for `POST /posts/{id}/comments`; an unknown post is then a
    /// 404, while an unknown `postId` in the body of `POST /comments` is a field error.
    pub async fn create(
        store: &dyn CommentWrite,
        json: &Value,
        post_id_from_path: Option<u64>,
    ) -> Result<Versioned<Comment>, ServiceError> {
        let fields = validation::comment_fields(json, WriteMode::Create, post_id_from_path)?;
        let post_id = fields.post_id.expect("validated");
        let draft = CommentDraft {
            post_id,
            name: fields.name.expect("validated"),
            email: fields.email.expect("validated"),
            body: fields.body.expect("validated"),
        };
        match store.create_comment(draft).await {
            Ok(created) => Ok(created),
            Err(StoreError::ParentMissing) if post_id_from_path.is_some() => {
                Err(ServiceError::NotFound(format!("post {post_id}")))
            }
            Err(StoreError::ParentMissing) => Err(invalid("postId", "names no existing post")),
            Err(e) => Err(backend(e)),
        }
    }

    pub async fn update(
        store: &dyn CommentWrite,
        id: u64,
        json: &Value,
        mode: WriteMode,
        precondition: &Precondition,
    ) -> Result<Versioned<Comment>, ServiceError> {
        let fields = validation::comment_fields(json, mode, None)?;
        if fields.id.is_some_and(|given| given != id) {
            return Err(invalid("id", "must match the id in the path"));
        }
        read_modify_write(
            &format!("comment {id}"),
            precondition,
            || get(store, id),
            |current: &Comment| {
                if fields.post_id.is_some_and(|p| p != current.post_id) {
                    return Err(invalid("postId", "cannot be changed after creation"));
                }
                Ok(Comment {
                    name: fields.name.clone().unwrap_or_else(|| current.name.clone()),
                    email: fields
                        .email
                        .clone()
                        .unwrap_or_else(|| current.email.clone()),
                    body: fields.body.clone().unwrap_or_else(|| current.body.clone()),
                    ..current.clone()
                })
            },
            |next: Comment, version| async move { store.update_comment(&next, version).await },
        )
        .await
    }

    pub async fn delete(
        store: &dyn CommentWrite,
        id: u64,
        precondition: &Precondition,
    ) -> Result<(), ServiceError> {
        let current = get(store, id).await?;
        checked_delete(
            &format!("comment {id}"),
            precondition,
            current.version,
            |expected| store.delete_comment(id, expected),
        )
        .await
    }
}

//! The use-cases behind the routes. Each takes only the store capability it needs.

use serde_json::Value;

use crate::error::{ServiceError, StoreError};
use crate::model::{CommentDraft, NEW_POST_USER_ID, PostDraft, Versioned};
use crate::ports::{CommentRead, CommentWrite, EntityRead, Once, PostRead, PostWrite, Window};
use crate::precondition::Precondition;
use crate::query::{ListQuery, Page, Plan, READ_CAP, Record};
use crate::validation::{self, ValidationErrors, WriteMode};
use crate::{Comment, Post};

/// How often an unconditional update re-reads and retries after losing a race before it
/// gives up with 409.
const UPDATE_ATTEMPTS: usize = 3;

fn backend(e: StoreError) -> ServiceError {
    match e {
        StoreError::Backend(msg) => ServiceError::Unavailable(msg),
        StoreError::KeyReused => ServiceError::Unprocessable(e.to_string()),
        StoreError::KeyInFlight => ServiceError::Conflict(e.to_string()),
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
            Err(StoreError::VersionConflict) if precondition.pins_version() => {
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
    let expected = precondition.pins_version().then_some(current_version);
    match delete(expected).await {
        Ok(()) => Ok(()),
        Err(StoreError::VersionConflict) => Err(ServiceError::PreconditionFailed),
        Err(StoreError::NotFound) => Err(ServiceError::NotFound(what.to_owned())),
        Err(e) => Err(backend(e)),
    }
}

fn too_many(what: &str, n: u64) -> ServiceError {
    ServiceError::BadRequest(format!(
        "this list would read {n} {what}s, more than the {READ_CAP} one list may read: narrow \
         it by its parent (userId, postId) or a smaller _start/_page, or leave out what the \
         id-ordered index cannot answer alone (q, _like, _sort by text, other filters)"
    ))
}

/// One record, or 404.
pub async fn get<T: Record, S: EntityRead<T> + ?Sized>(
    store: &S,
    id: u64,
) -> Result<Versioned<T>, ServiceError> {
    store
        .get(id)
        .await
        .map_err(backend)?
        .ok_or_else(|| ServiceError::NotFound(format!("{} {id}", T::NAME)))
}

/// A list, read as [`ListQuery::plan`] says: a page ordered by id reads about what it
/// returns; anything else reads at most [`READ_CAP`] records or is refused.
pub async fn list<T: Record, S: EntityRead<T> + ?Sized>(
    store: &S,
    query: &ListQuery,
) -> Result<Page<T>, ServiceError> {
    match query.plan::<T>() {
        Plan::Window {
            scope,
            descending,
            offset,
            limit,
        } => {
            let total = store.count(scope).await.map_err(backend)?;
            let end = limit.map_or(total, |l| offset.saturating_add(l).min(total));
            if end > READ_CAP {
                return Err(too_many(T::NAME, end));
            }
            let items = if offset >= end {
                Vec::new()
            } else {
                let window = Window {
                    scope,
                    descending,
                    offset,
                    limit: Some(end - offset),
                };
                store.window(window).await.map_err(backend)?
            };
            Ok(Page {
                items,
                total,
                pagination: query.slice.pagination(),
            })
        }
        Plan::Ids(ids) => {
            let records = store.get_many(&ids).await.map_err(backend)?;
            Ok(query.evaluate(records))
        }
        Plan::Partition { scope } => {
            let total = store.count(scope).await.map_err(backend)?;
            if total > READ_CAP {
                return Err(too_many(T::NAME, total));
            }
            let window = Window {
                scope,
                descending: false,
                offset: 0,
                limit: None,
            };
            let records = store.window(window).await.map_err(backend)?;
            Ok(query.evaluate(records))
        }
    }
}

/// A record as JSON with a related field added (`_embed`, `_expand`).
fn with_related<T: Record>(record: &T, related: Value) -> Value {
    let mut json = serde_json::to_value(record).expect("records serialise");
    if let Value::Object(fields) = &mut json {
        fields.insert(T::RELATION.name.to_owned(), related);
    }
    json
}

/// `_embed=comments`: each post with its comments.
pub async fn embed_comments(
    comments: &dyn CommentRead,
    posts: &[Post],
) -> Result<Vec<Value>, ServiceError> {
    /// Comment lists read at once.
    const CONCURRENCY: usize = 8;
    let mut read = 0u64;
    let mut per_post: Vec<Vec<Comment>> = Vec::with_capacity(posts.len());
    for chunk in posts.chunks(CONCURRENCY) {
        // Each list reads at most what is left under the cap (plus one, to know it is
        // over), so a list past the cap stops at the chunk that crosses it.
        let left = READ_CAP + 1 - read;
        let reads = chunk.iter().map(|post| {
            comments.window(Window {
                scope: Some(post.id),
                descending: false,
                offset: 0,
                limit: Some(left),
            })
        });
        for list in futures::future::try_join_all(reads)
            .await
            .map_err(backend)?
        {
            read += list.len() as u64;
            per_post.push(list);
        }
        if read > READ_CAP {
            return Err(too_many(Comment::NAME, read));
        }
    }
    Ok(posts
        .iter()
        .zip(per_post)
        .map(|(post, list)| with_related(post, serde_json::to_value(list).expect("serialises")))
        .collect())
}

/// `_expand=post`: each comment with its post (`null` if gone meanwhile).
pub async fn expand_posts(
    posts: &dyn PostRead,
    comments: &[Comment],
) -> Result<Vec<Value>, ServiceError> {
    let mut ids: Vec<u64> = comments.iter().map(|c| c.post_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let found = posts.get_many(&ids).await.map_err(backend)?;
    Ok(comments
        .iter()
        .map(|c| {
            let post = found.iter().find(|p| p.id == c.post_id);
            with_related(c, serde_json::to_value(post).expect("serialises"))
        })
        .collect())
}

pub mod posts {
    use super::*;

    pub async fn get(store: &dyn PostRead, id: u64) -> Result<Versioned<Post>, ServiceError> {
        super::get(store, id).await
    }

    pub async fn create(
        store: &dyn PostWrite,
        json: &Value,
        once: Option<&Once>,
    ) -> Result<Versioned<Post>, ServiceError> {
        let fields = validation::post_fields(json, WriteMode::Create)?;
        // `userId` is accepted for JSONPlaceholder clients that send it, but new posts
        // always belong to the fixed local user.
        let draft = PostDraft {
            user_id: NEW_POST_USER_ID,
            title: fields.title.expect("validated"),
            body: fields.body.expect("validated"),
        };
        store.create_post(draft, once).await.map_err(backend)
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
            |expected| store.delete_post(&current.value, expected),
        )
        .await
    }
}

pub mod comments {
    use super::*;

    pub async fn get(store: &dyn CommentRead, id: u64) -> Result<Versioned<Comment>, ServiceError> {
        super::get(store, id).await
    }

    /// `/posts/{id}/comments`: `/comments?postId={id}`, but a 404 when the post does not
    /// exist, and `postId` may not be given again.
    pub async fn list_of_post(
        posts: &dyn PostRead,
        comments: &dyn CommentRead,
        post_id: u64,
        params: &[(String, String)],
    ) -> Result<(ListQuery, Page<Comment>), ServiceError> {
        if params.iter().any(|(k, _)| k.starts_with("postId")) {
            return Err(ServiceError::BadRequest(
                "postId is given by the path here".into(),
            ));
        }
        super::posts::get(posts, post_id).await?;
        let mut scoped = vec![("postId".to_owned(), post_id.to_string())];
        scoped.extend_from_slice(params);
        let query = ListQuery::parse::<Comment>(&scoped)?;
        let page = list(comments, &query).await?;
        Ok((query, page))
    }

    /// `post_id_from_path` is set for `POST /posts/{id}/comments`; an unknown post is then a
    /// 404, while an unknown `postId` in the body of `POST /comments` is a field error.
    pub async fn create(
        store: &dyn CommentWrite,
        json: &Value,
        post_id_from_path: Option<u64>,
        once: Option<&Once>,
    ) -> Result<Versioned<Comment>, ServiceError> {
        let fields = validation::comment_fields(json, WriteMode::Create, post_id_from_path)?;
        let post_id = fields.post_id.expect("validated");
        let draft = CommentDraft {
            post_id,
            name: fields.name.expect("validated"),
            email: fields.email.expect("validated"),
            body: fields.body.expect("validated"),
        };
        match store.create_comment(draft, once).await {
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
            |expected| store.delete_comment(&current.value, expected),
        )
        .await
    }
}

//! Posts and comments in memory, beside `ps_store::DynamoStore`: the same ports with the
//! same guarantees (ids from a counter, writes conditional on the version, a comment only
//! under an existing post, a post's delete taking its comments), so the API's use-cases get
//! fast tests. Counts are the maps' own, which is what the store's counters must agree with.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use ps_core::model::{CommentDraft, PostDraft};
use ps_core::ports::{CommentWrite, EntityRead, Once, PostWrite, Window};
use ps_core::query::Record;
use ps_core::{Comment, Post, StoreError, Versioned};

#[derive(Debug, Default)]
struct Inner {
    posts: BTreeMap<u64, Versioned<Post>>,
    comments: BTreeMap<u64, Versioned<Comment>>,
    last_post_id: u64,
    last_comment_id: u64,
    /// Creates' first answers by idempotency key (kind, key) → (request digest, answer).
    once: std::collections::HashMap<(&'static str, String), (String, OnceAnswer)>,
}

#[derive(Debug, Clone)]
enum OnceAnswer {
    Post(Versioned<Post>),
    Comment(Versioned<Comment>),
}

/// A create's earlier answer under `once`, if any: `Ok(None)` to go ahead.
fn recalled(
    inner: &Inner,
    kind: &'static str,
    once: Option<&Once>,
) -> Result<Option<OnceAnswer>, StoreError> {
    let Some(once) = once else { return Ok(None) };
    match inner.once.get(&(kind, once.key.clone())) {
        Some((digest, answer)) if *digest == once.request_digest => Ok(Some(answer.clone())),
        Some(_) => Err(StoreError::KeyReused),
        None => Ok(None),
    }
}

fn remember(inner: &mut Inner, kind: &'static str, once: Option<&Once>, answer: OnceAnswer) {
    if let Some(once) = once {
        inner.once.insert(
            (kind, once.key.clone()),
            (once.request_digest.clone(), answer),
        );
    }
}

/// Which map holds a kind.
trait Held: Record {
    fn map(inner: &Inner) -> &BTreeMap<u64, Versioned<Self>>;
}

impl Held for Post {
    fn map(inner: &Inner) -> &BTreeMap<u64, Versioned<Post>> {
        &inner.posts
    }
}

impl Held for Comment {
    fn map(inner: &Inner) -> &BTreeMap<u64, Versioned<Comment>> {
        &inner.comments
    }
}

#[derive(Debug, Default)]
pub struct MemoryEntities {
    inner: Mutex<Inner>,
}

impl MemoryEntities {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores records as an import does (version 0), moving the id counters past them.
    pub fn import(&self, posts: &[Post], comments: &[Comment]) {
        let mut inner = self.inner.lock().expect("entities");
        for p in posts {
            inner.last_post_id = inner.last_post_id.max(p.id);
            inner.posts.insert(
                p.id,
                Versioned {
                    value: p.clone(),
                    version: 0,
                },
            );
        }
        for c in comments {
            inner.last_comment_id = inner.last_comment_id.max(c.id);
            inner.comments.insert(
                c.id,
                Versioned {
                    value: c.clone(),
                    version: 0,
                },
            );
        }
    }

    fn read<T: Held, R>(&self, f: impl FnOnce(&BTreeMap<u64, Versioned<T>>) -> R) -> R {
        f(T::map(&self.inner.lock().expect("entities")))
    }
}

fn in_scope<T: Record>(record: &T, scope: Option<u64>) -> bool {
    scope.is_none_or(|s| record.scope() == s)
}

#[async_trait]
impl<T: Held> EntityRead<T> for MemoryEntities {
    async fn get(&self, id: u64) -> Result<Option<Versioned<T>>, StoreError> {
        Ok(self.read::<T, _>(|m| m.get(&id).cloned()))
    }

    async fn window(&self, w: Window) -> Result<Vec<T>, StoreError> {
        Ok(self.read::<T, _>(|m| {
            let scoped = m
                .values()
                .map(|v| &v.value)
                .filter(|r| in_scope(*r, w.scope));
            let ordered: Vec<&T> = if w.descending {
                scoped.rev().collect()
            } else {
                scoped.collect()
            };
            ordered
                .into_iter()
                .skip(usize::try_from(w.offset).unwrap_or(usize::MAX))
                .take(
                    w.limit
                        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)),
                )
                .cloned()
                .collect()
        }))
    }

    async fn count(&self, scope: Option<u64>) -> Result<u64, StoreError> {
        Ok(self.read::<T, _>(|m| m.values().filter(|v| in_scope(&v.value, scope)).count() as u64))
    }

    async fn get_many(&self, ids: &[u64]) -> Result<Vec<T>, StoreError> {
        Ok(self.read::<T, _>(|m| {
            let mut found: Vec<T> = ids
                .iter()
                .filter_map(|id| m.get(id))
                .map(|v| v.value.clone())
                .collect();
            found.sort_by_key(Record::id);
            found.dedup_by_key(|r| r.id());
            found
        }))
    }
}

fn replace<T: Clone>(
    map: &mut BTreeMap<u64, Versioned<T>>,
    id: u64,
    value: &T,
    expected_version: u64,
) -> Result<Versioned<T>, StoreError> {
    let current = map.get(&id).ok_or(StoreError::NotFound)?;
    if current.version != expected_version {
        return Err(StoreError::VersionConflict);
    }
    let next = Versioned {
        value: value.clone(),
        version: expected_version + 1,
    };
    map.insert(id, next.clone());
    Ok(next)
}

fn check_delete<T>(
    map: &BTreeMap<u64, Versioned<T>>,
    id: u64,
    expected_version: Option<u64>,
) -> Result<(), StoreError> {
    let current = map.get(&id).ok_or(StoreError::NotFound)?;
    match expected_version {
        Some(v) if v != current.version => Err(StoreError::VersionConflict),
        _ => Ok(()),
    }
}

#[async_trait]
impl PostWrite for MemoryEntities {
    async fn create_post(
        &self,
        draft: PostDraft,
        once: Option<&Once>,
    ) -> Result<Versioned<Post>, StoreError> {
        let mut inner = self.inner.lock().expect("entities");
        if let Some(OnceAnswer::Post(first)) = recalled(&inner, "post", once)? {
            return Ok(first);
        }
        inner.last_post_id += 1;
        let created = Versioned {
            value: draft.with_id(inner.last_post_id),
            version: 1,
        };
        inner.posts.insert(created.value.id, created.clone());
        remember(&mut inner, "post", once, OnceAnswer::Post(created.clone()));
        Ok(created)
    }

    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
    ) -> Result<Versioned<Post>, StoreError> {
        let mut inner = self.inner.lock().expect("entities");
        replace(&mut inner.posts, post.id, post, expected_version)
    }

    async fn delete_post(
        &self,
        post: &Post,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("entities");
        check_delete(&inner.posts, post.id, expected_version)?;
        inner.posts.remove(&post.id);
        inner.comments.retain(|_, c| c.value.post_id != post.id);
        Ok(())
    }
}

#[async_trait]
impl CommentWrite for MemoryEntities {
    async fn create_comment(
        &self,
        draft: CommentDraft,
        once: Option<&Once>,
    ) -> Result<Versioned<Comment>, StoreError> {
        let mut inner = self.inner.lock().expect("entities");
        if let Some(OnceAnswer::Comment(first)) = recalled(&inner, "comment", once)? {
            return Ok(first);
        }
        if !inner.posts.contains_key(&draft.post_id) {
            return Err(StoreError::ParentMissing);
        }
        inner.last_comment_id += 1;
        let created = Versioned {
            value: draft.with_id(inner.last_comment_id),
            version: 1,
        };
        inner.comments.insert(created.value.id, created.clone());
        remember(
            &mut inner,
            "comment",
            once,
            OnceAnswer::Comment(created.clone()),
        );
        Ok(created)
    }

    async fn update_comment(
        &self,
        comment: &Comment,
        expected_version: u64,
    ) -> Result<Versioned<Comment>, StoreError> {
        let mut inner = self.inner.lock().expect("entities");
        replace(&mut inner.comments, comment.id, comment, expected_version)
    }

    async fn delete_comment(
        &self,
        comment: &Comment,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("entities");
        check_delete(&inner.comments, comment.id, expected_version)?;
        inner.comments.remove(&comment.id);
        Ok(())
    }
}

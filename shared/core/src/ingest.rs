//! A batch of writes from a machine client (`POST /ingest`): parsed and checked whole before
//! anything is written (one invalid item refuses the batch), then applied in order through
//! the same use-cases as the API, so every write is captured and synced and ids come from
//! the same counters.
//!
//! ```json
//! {"items": [
//!   {"op": "upsert", "entity": "post", "ref": "p", "data": {"title": "t", "body": "b"}},
//!   {"op": "upsert", "entity": "comment", "data": {"postRef": "p", "name": "n", "email": "a@b.c", "body": "b"}},
//!   {"op": "upsert", "entity": "post", "id": 5, "data": {"title": "t", "body": "b"}},
//!   {"op": "delete", "entity": "comment", "id": 7}
//! ]}
//! ```
//! An upsert without `id` creates (the server assigns the id; `ref` names it for later
//! items, whose `postRef` then stands for its `postId`); with `id` it replaces that entity,
//! which must exist. A delete names an existing entity.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::change::EntityKind;
use crate::error::ServiceError;
use crate::ports::{CommentRead, CommentWrite, Once, PostRead, PostWrite};
use crate::precondition::Precondition;
use crate::service::{comments, posts};
use crate::validation::{self, ValidationErrors, WriteMode};

/// Items in one batch at most.
pub const MAX_ITEMS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Replace,
    Delete,
}

/// One checked item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: EntityKind,
    pub op: Op,
    /// The entity replaced or deleted.
    pub id: Option<u64>,
    /// The fields (for a comment created under `postRef`, without `postId`).
    pub data: Value,
    /// A comment create's post, created earlier in the batch: that item's index.
    pub post_from: Option<usize>,
}

/// A parsed batch, every item valid on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub items: Vec<Item>,
}

/// What became of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    pub index: usize,
    pub entity: EntityKind,
    pub op: Op,
    pub id: u64,
    /// `created`, `replaced` or `deleted`; `unchanged` for a replace with the data stored,
    /// `gone` for a delete of what a first attempt of this batch had deleted already.
    pub outcome: &'static str,
}

fn field(errors: &mut ValidationErrors, index: usize, name: &str, message: impl Into<String>) {
    errors.add(&format!("items[{index}].{name}"), message);
}

/// The item's own errors, under its index.
fn nest(errors: &mut ValidationErrors, index: usize, inner: ServiceError) {
    match inner {
        ServiceError::Invalid(found) => {
            for name in found.fields() {
                for message in found.messages(name) {
                    field(errors, index, &format!("data.{name}"), message.clone());
                }
            }
        }
        other => field(errors, index, "data", other.to_string()),
    }
}

/// Checks the batch's form and each item's fields, as the API would check the same write.
pub fn parse(body: &Value) -> Result<Batch, ServiceError> {
    let Some(object) = body.as_object() else {
        return Err(ServiceError::BadRequest(
            "the body must be a JSON object {\"items\": [...]}".into(),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "items") {
        return Err(ServiceError::BadRequest(format!(
            "unknown field {unknown}: the body is {{\"items\": [...]}}"
        )));
    }
    let Some(raw) = object.get("items").and_then(Value::as_array) else {
        return Err(ServiceError::BadRequest(
            "items must be an array of writes".into(),
        ));
    };
    if raw.is_empty() || raw.len() > MAX_ITEMS {
        return Err(ServiceError::BadRequest(format!(
            "a batch holds 1 to {MAX_ITEMS} items, not {}",
            raw.len()
        )));
    }
    let mut errors = ValidationErrors::default();
    let mut refs: HashMap<String, usize> = HashMap::new();
    let mut items = Vec::with_capacity(raw.len());
    for (index, value) in raw.iter().enumerate() {
        if let Some(item) = parse_item(index, value, &mut refs, &mut errors) {
            items.push(item);
        }
    }
    if errors.is_empty() {
        Ok(Batch { items })
    } else {
        Err(ServiceError::Invalid(errors))
    }
}

fn parse_item(
    index: usize,
    value: &Value,
    refs: &mut HashMap<String, usize>,
    errors: &mut ValidationErrors,
) -> Option<Item> {
    let Some(object) = value.as_object() else {
        field(errors, index, "", "must be an object");
        return None;
    };
    let before = errors_len(errors);
    for key in object.keys() {
        if !["op", "entity", "id", "ref", "data"].contains(&key.as_str()) {
            field(errors, index, key, "unknown field");
        }
    }
    let kind = match object.get("entity").and_then(Value::as_str) {
        Some("post") => Some(EntityKind::Post),
        Some("comment") => Some(EntityKind::Comment),
        _ => {
            field(errors, index, "entity", "must be post or comment");
            None
        }
    };
    let id = match object.get("id") {
        None => None,
        Some(v) => match v.as_u64().filter(|id| *id >= 1) {
            Some(id) => Some(id),
            None => {
                field(errors, index, "id", "must be a positive integer");
                return None;
            }
        },
    };
    let op = match (object.get("op").and_then(Value::as_str), id) {
        (Some("upsert"), None) => Some(Op::Create),
        (Some("upsert"), Some(_)) => Some(Op::Replace),
        (Some("delete"), Some(_)) => Some(Op::Delete),
        (Some("delete"), None) => {
            field(errors, index, "id", "is required to delete");
            None
        }
        _ => {
            field(errors, index, "op", "must be upsert or delete");
            None
        }
    };
    let label = match object.get("ref") {
        None => None,
        Some(Value::String(r)) if !r.is_empty() && r.len() <= 64 => Some(r.clone()),
        Some(_) => {
            field(
                errors,
                index,
                "ref",
                "must be a string of 1 to 64 characters",
            );
            None
        }
    };
    let (Some(kind), Some(op)) = (kind, op) else {
        return None;
    };
    if label.is_some() && !(kind == EntityKind::Post && op == Op::Create) {
        field(
            errors,
            index,
            "ref",
            "only a post being created can be referred to",
        );
    }
    let data = object.get("data").cloned();
    let mut post_from = None;
    let data = match (op, data) {
        (Op::Delete, None) => Value::Null,
        (Op::Delete, Some(_)) => {
            field(errors, index, "data", "a delete carries no data");
            Value::Null
        }
        (_, Some(Value::Object(mut fields))) => {
            let by_ref = kind == EntityKind::Comment && fields.contains_key("postRef");
            if by_ref && op == Op::Create {
                post_from = comment_post_ref(index, &mut fields, refs, errors);
            }
            let data = Value::Object(fields);
            check_fields(index, kind, op, id, &data, by_ref, errors);
            data
        }
        (_, _) => {
            field(
                errors,
                index,
                "data",
                "must be an object with the entity's fields",
            );
            return None;
        }
    };
    if let Some(label) = label {
        if refs.insert(label, index).is_some() {
            field(errors, index, "ref", "is used by an earlier item");
        }
    }
    (errors_len(errors) == before).then_some(Item {
        kind,
        op,
        id,
        data,
        post_from,
    })
}

fn errors_len(errors: &ValidationErrors) -> usize {
    errors.fields().map(|f| errors.messages(f).len()).sum()
}

/// `postRef` (an earlier post create) stands for `postId`; takes it out of the fields.
fn comment_post_ref(
    index: usize,
    fields: &mut Map<String, Value>,
    refs: &HashMap<String, usize>,
    errors: &mut ValidationErrors,
) -> Option<usize> {
    let reference = fields.remove("postRef")?;
    if fields.contains_key("postId") {
        field(
            errors,
            index,
            "data.postRef",
            "give postId or postRef, not both",
        );
        return None;
    }
    match reference.as_str().and_then(|r| refs.get(r)) {
        Some(at) => Some(*at),
        None => {
            field(
                errors,
                index,
                "data.postRef",
                "names no post created earlier in this batch",
            );
            None
        }
    }
}

fn check_fields(
    index: usize,
    kind: EntityKind,
    op: Op,
    id: Option<u64>,
    data: &Value,
    post_by_ref: bool,
    errors: &mut ValidationErrors,
) {
    let mode = if op == Op::Create {
        WriteMode::Create
    } else {
        WriteMode::Replace
    };
    let checked = match kind {
        EntityKind::Post => validation::post_fields(data, mode).map(|f| f.id),
        // A post created in this batch has no id yet: any id stands for it here.
        EntityKind::Comment => {
            validation::comment_fields(data, mode, post_by_ref.then_some(1)).map(|f| f.id)
        }
    };
    match checked {
        Ok(Some(given)) if Some(given) != id => {
            field(errors, index, "data.id", "must match the item's id");
        }
        Ok(_) => {}
        Err(e) => nest(errors, index, e),
    }
}

/// Every entity an item names exists when its turn comes (reading them all first, in two
/// batched reads): a comment's post, the entity replaced or deleted, none deleted by an
/// earlier item.
pub async fn check_targets(
    batch: &Batch,
    post_store: &dyn PostRead,
    comment_store: &dyn CommentRead,
) -> Result<(), ServiceError> {
    let mut post_ids = HashSet::new();
    let mut comment_ids = HashSet::new();
    for item in &batch.items {
        match (item.kind, item.op) {
            (EntityKind::Post, Op::Replace | Op::Delete) => {
                post_ids.extend(item.id);
            }
            (EntityKind::Comment, Op::Create) => {
                post_ids.extend(item.data.get("postId").and_then(Value::as_u64));
            }
            (EntityKind::Comment, _) => {
                comment_ids.extend(item.id);
            }
            (EntityKind::Post, Op::Create) => {}
        }
    }
    let found = |e: crate::error::StoreError| ServiceError::Unavailable(e.to_string());
    let mut posts_alive: HashSet<u64> = post_store
        .get_many(&post_ids.into_iter().collect::<Vec<_>>())
        .await
        .map_err(found)?
        .into_iter()
        .map(|p| p.id)
        .collect();
    // Each existing comment and its post.
    let mut comments_alive: BTreeMap<u64, u64> = comment_store
        .get_many(&comment_ids.into_iter().collect::<Vec<_>>())
        .await
        .map_err(found)?
        .into_iter()
        .map(|c| (c.id, c.post_id))
        .collect();
    let mut errors = ValidationErrors::default();
    for (index, item) in batch.items.iter().enumerate() {
        let id = item.id.unwrap_or_default();
        match (item.kind, item.op) {
            (EntityKind::Post, Op::Create) => {}
            (EntityKind::Post, op) => {
                if !posts_alive.contains(&id) {
                    field(&mut errors, index, "id", "names no existing post");
                } else if op == Op::Delete {
                    posts_alive.remove(&id);
                    comments_alive.retain(|_, post| *post != id);
                }
            }
            (EntityKind::Comment, Op::Create) => {
                if let Some(post) = item.data.get("postId").and_then(Value::as_u64) {
                    if !posts_alive.contains(&post) {
                        field(&mut errors, index, "data.postId", "names no existing post");
                    }
                }
            }
            // A deleted post's comments left the map with it.
            (EntityKind::Comment, op) => match comments_alive.get(&id) {
                Some(_) if op == Op::Delete => {
                    comments_alive.remove(&id);
                }
                Some(_) => {}
                None => field(&mut errors, index, "id", "names no existing comment"),
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Invalid(errors))
    }
}

/// Applies the checked batch in order. `once` gives each create its idempotency key, so a
/// batch applied again after a failure part-way creates nothing twice; a replace writes
/// nothing when the data is already stored, and a delete finds its entity already gone.
/// A failure stops the batch and says at which item.
pub async fn apply<S: PostWrite + CommentWrite>(
    batch: &Batch,
    store: &S,
    once: &(dyn Fn(usize, &Item) -> Once + Sync),
) -> Result<Vec<ItemResult>, (usize, ServiceError)> {
    let mut created_posts: HashMap<usize, u64> = HashMap::new();
    let mut results = Vec::with_capacity(batch.items.len());
    for (index, item) in batch.items.iter().enumerate() {
        let at = |e: ServiceError| (index, e);
        let (id, outcome) = match (item.kind, item.op) {
            (EntityKind::Post, Op::Create) => {
                let key = once(index, item);
                let post = posts::create(store, &item.data, Some(&key))
                    .await
                    .map_err(at)?;
                created_posts.insert(index, post.value.id);
                (post.value.id, "created")
            }
            (EntityKind::Comment, Op::Create) => {
                let mut data = item.data.clone();
                if let Some(from) = item.post_from {
                    let post = created_posts[&from];
                    data["postId"] = Value::from(post);
                }
                let key = once(index, item);
                let comment = comments::create(store, &data, None, Some(&key))
                    .await
                    .map_err(at)?;
                (comment.value.id, "created")
            }
            (kind, Op::Replace) => {
                let id = item.id.unwrap_or_default();
                let (data, none) = (&item.data, &Precondition::None);
                // The version before and after: the same when the data was stored already.
                let (before, after) = match kind {
                    EntityKind::Post => (
                        posts::get(store, id).await.map_err(at)?.version,
                        posts::update(store, id, data, WriteMode::Replace, none)
                            .await
                            .map(|p| p.version),
                    ),
                    EntityKind::Comment => (
                        comments::get(store, id).await.map_err(at)?.version,
                        comments::update(store, id, data, WriteMode::Replace, none)
                            .await
                            .map(|c| c.version),
                    ),
                };
                let outcome = match after.map_err(at)? {
                    v if v == before => "unchanged",
                    _ => "replaced",
                };
                (id, outcome)
            }
            (kind, Op::Delete) => {
                let id = item.id.unwrap_or_default();
                let deleted = match kind {
                    EntityKind::Post => posts::delete(store, id, &Precondition::None).await,
                    EntityKind::Comment => comments::delete(store, id, &Precondition::None).await,
                };
                match deleted {
                    Ok(()) => (id, "deleted"),
                    // Checked to exist before the batch began: an earlier attempt of this
                    // same batch (or its post's delete) removed it.
                    Err(ServiceError::NotFound(_)) => (id, "gone"),
                    Err(e) => return Err(at(e)),
                }
            }
        };
        results.push(ItemResult {
            index,
            entity: item.kind,
            op: item.op,
            id,
            outcome,
        });
    }
    Ok(results)
}

// ---- the ledger of batches taken, and what a client wrote ----

/// How long a taken batch is remembered (a repeat within it is answered, not applied).
pub const REMEMBERED_SECONDS: u64 = 24 * 3600;
/// A batch still being applied this long after it was taken is presumed dead (its function
/// timed out or crashed): a repeat takes it over and applies it again, which its idempotent
/// items make safe.
pub const TAKING_STALE_SECONDS: u64 = 60;

/// What the ledger says of a batch a client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// Not seen before (or seen and abandoned): it is now this request's to apply.
    New,
    /// Applied already: its answer.
    Done(Value),
    /// Being applied by another request right now.
    InFlight,
    /// Its `Idempotency-Key` came with another body.
    KeyReused,
}

/// The ingest's own bookkeeping (the meta table on AWS).
#[async_trait::async_trait]
pub trait IngestLedger: Send + Sync {
    /// Takes the batch `key` of `client` (with the body's `digest`) unless it is known.
    async fn take(
        &self,
        client: &str,
        key: &str,
        digest: &str,
        now: u64,
    ) -> Result<Taken, crate::ports::PortError>;
    /// Records the batch's answer, kept for [`REMEMBERED_SECONDS`].
    async fn finish(
        &self,
        client: &str,
        key: &str,
        answer: &Value,
        now: u64,
    ) -> Result<(), crate::ports::PortError>;
    /// Lets the batch go after it failed part-way, so that a retry applies it again.
    async fn release(&self, client: &str, key: &str) -> Result<(), crate::ports::PortError>;
    /// Counts a request of `client` in the current minute and returns that minute's count.
    async fn count_request(&self, client: &str, now: u64) -> Result<u64, crate::ports::PortError>;
    /// Remembers which entities `client` wrote (for its status), per day.
    async fn track(
        &self,
        client: &str,
        keys: &[crate::change::EntityKey],
        now: u64,
    ) -> Result<(), crate::ports::PortError>;
    /// The entities `client` wrote today and yesterday (UTC).
    async fn tracked(
        &self,
        client: &str,
        now: u64,
    ) -> Result<Vec<crate::change::EntityKey>, crate::ports::PortError>;
}

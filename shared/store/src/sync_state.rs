//! The sync's bookkeeping in the meta table (which has no stream, so none of it ever
//! becomes a change event): a state item per entity, the single-run lease, the claims on
//! remote ids, the last report.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnValue, WriteRequest,
};
use futures::StreamExt;
use ps_core::change::{EntityKey, EntityKind};
use ps_core::merge::{SyncState, SyncStatus};
use ps_core::ports::{Claim, ImportedUpTo, Lease, PortError, SyncStateStore};
use serde::{Deserialize, Serialize};

use crate::DynamoError;
use crate::dynamo::{DynamoStore, is_condition_failure, n, pk, port, s};

/// A sparse index of the states with a pending change: only they carry the attribute, so
/// the sync finds its to-do list without reading every state.
pub const PENDING_INDEX: &str = "byPending";
pub const PENDING_ATTRIBUTE: &str = "pendingFlag";
const PENDING_VALUE: &str = "pending";
/// A sparse index of the states in trouble (failed, parked or waiting): the status lists
/// them without reading every state.
pub const PROBLEM_INDEX: &str = "byProblem";
pub const PROBLEM_ATTRIBUTE: &str = "problemFlag";
const PROBLEM_VALUE: &str = "problem";
/// Pending states the status counts at most; past that it says there are more.
pub const PENDING_COUNTED_MAX: u64 = 10_000;
/// Problems the status lists (all are counted).
pub const PROBLEMS_LISTED_MAX: usize = 100;
const LEASE_KEY: &str = "lease#sync";
const REPORT_KEY: &str = "report#last";
/// DynamoDB's limit on the keys of one BatchGetItem call.
const MAX_BATCH_GET: usize = 100;

fn state_key(key: &EntityKey) -> String {
    format!("{STATE_PREFIX}{}#{}", key.kind.as_str(), key.id)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateItem {
    pk: String,
    entity_kind: EntityKind,
    id: u64,
    /// Copied out of `state` so status queries need not read the whole state.
    status: SyncStatus,
    /// Present only while a change is pending: the key of [`PENDING_INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_flag: Option<String>,
    /// Present only while the entity is failed or waiting: the key of [`PROBLEM_INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    problem_flag: Option<String>,
    /// When this was written (Unix seconds): for a parked change, when it was parked.
    #[serde(default, skip_serializing_if = "is_zero")]
    recorded_at: u64,
    state: SyncState,
    /// Bumped by every write of the sync, each conditional on the one it read (absent:
    /// never written by the sync, e.g. imported).
    #[serde(default, skip_serializing_if = "is_zero")]
    rev: u64,
    /// The lease epoch of the run that wrote it last: no run of an older lease may write it.
    #[serde(default, skip_serializing_if = "is_zero")]
    epoch: u64,
}

/// A state item's entity and state, its revision set from the item.
pub(crate) fn decode_state(
    item: HashMap<String, AttributeValue>,
) -> Result<(EntityKey, SyncState), PortError> {
    let item: StateItem = serde_dynamo::from_item(item).map_err(port)?;
    let mut state = item.state;
    state.revision = item.rev;
    Ok((
        EntityKey {
            kind: item.entity_kind,
            id: item.id,
        },
        state,
    ))
}

/// The prefix of every state item's key.
pub(crate) const STATE_PREFIX: &str = "sync#";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StateItem {
    fn new(key: &EntityKey, state: &SyncState) -> Self {
        StateItem {
            pk: state_key(key),
            entity_kind: key.kind,
            id: key.id,
            status: state.status,
            pending_flag: state.pending.as_ref().map(|_| PENDING_VALUE.to_owned()),
            problem_flag: matches!(state.status, SyncStatus::Failed | SyncStatus::Waiting)
                .then(|| PROBLEM_VALUE.to_owned()),
            recorded_at: now_secs(),
            state: state.clone(),
            rev: 0,
            epoch: 0,
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A failed (parked included) or waiting entity, why, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedEntity {
    pub entity: EntityKind,
    pub id: u64,
    pub status: SyncStatus,
    pub parked: bool,
    pub last_error: Option<String>,
    /// When the sync recorded this (Unix seconds): for a parked change, when it was parked.
    pub since: u64,
}

/// The entities' side of `GET /sync/status`, read from the list counters and the two sparse
/// indexes, never by scanning: its cost follows the pending and failing entities, not the
/// size of the copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSummary {
    /// Posts and comments in the master copy; every one neither pending, failed nor waiting
    /// is in line with the remote.
    pub local: u64,
    /// Entities with a change not yet on the remote (counted up to [`PENDING_COUNTED_MAX`]).
    pub pending: u64,
    /// More are pending than were counted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending_more: bool,
    pub failed: u64,
    /// Of the failed, those parked in the dead-letter queue.
    pub parked: u64,
    pub waiting: u64,
    /// The failed and waiting entities (at most [`PROBLEMS_LISTED_MAX`]), with their last
    /// errors: what the remote answered, shown only to callers with a token.
    pub problems: Vec<FailedEntity>,
}

/// The import's marks (see [`ImportedUpTo`]) sit on the lease item, so that a run reads
/// them with the lease it takes, for nothing.
const IMPORTED_POST: &str = "importedPostsUpTo";
const IMPORTED_COMMENT: &str = "importedCommentsUpTo";

impl DynamoStore {
    /// Raises the import's marks to at least these ids (each mark only grows). The import
    /// writes them before the states it records, so no imported state is above its mark.
    pub async fn record_import(
        &self,
        posts_up_to: u64,
        comments_up_to: u64,
    ) -> Result<(), DynamoError> {
        // One request when neither mark would fall (every import but one of a remote whose
        // highest ids were deleted): both raised or kept at once.
        let both = self
            .client()
            .update_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(LEASE_KEY.into())))
            .update_expression("SET #p = :p, #c = :c")
            .condition_expression(
                "(attribute_not_exists(#p) OR #p <= :p) AND (attribute_not_exists(#c) OR #c <= :c)",
            )
            .expression_attribute_names("#p", IMPORTED_POST)
            .expression_attribute_names("#c", IMPORTED_COMMENT)
            .expression_attribute_values(":p", n(posts_up_to))
            .expression_attribute_values(":c", n(comments_up_to))
            .send()
            .await;
        match both {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                self.raise_meta_number(LEASE_KEY.into(), IMPORTED_POST, posts_up_to)
                    .await?;
                self.raise_meta_number(LEASE_KEY.into(), IMPORTED_COMMENT, comments_up_to)
                    .await
            }
            Err(e) => Err(DynamoError::sdk(e)),
        }
    }

    /// Records many states at once (the import marks what it loaded as synced).
    pub async fn save_states(&self, states: &[(EntityKey, SyncState)]) -> Result<(), DynamoError> {
        let mut requests = Vec::with_capacity(states.len());
        for (key, state) in states {
            let item = StateItem::new(key, state);
            let put = PutRequest::builder()
                .set_item(Some(serde_dynamo::to_item(item)?))
                .build()
                .map_err(DynamoError::sdk)?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(&self.tables().meta, requests).await
    }

    /// Counts of entities by sync status, and the ones in trouble (see [`StateSummary`]).
    pub async fn state_summary(&self) -> Result<StateSummary, DynamoError> {
        let mut summary = StateSummary {
            local: self.count_of("post").await? + self.count_of("comment").await?,
            ..StateSummary::default()
        };
        // Pending: counted through the index's keys, a page at a time, up to a bound.
        let mut start = None;
        loop {
            let out = self
                .flagged_page(PENDING_INDEX, PENDING_ATTRIBUTE, PENDING_VALUE, true, start)
                .await?;
            summary.pending += out.count.max(0) as u64;
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && summary.pending < PENDING_COUNTED_MAX => {
                    start = Some(k)
                }
                Some(k) if !k.is_empty() => {
                    summary.pending_more = true;
                    break;
                }
                _ => break,
            }
        }
        // Problems: every one read (they are few, or something is badly wrong).
        let mut start = None;
        loop {
            let out = self
                .flagged_page(
                    PROBLEM_INDEX,
                    PROBLEM_ATTRIBUTE,
                    PROBLEM_VALUE,
                    false,
                    start,
                )
                .await?;
            for item in out.items.unwrap_or_default() {
                let item: StateItem = serde_dynamo::from_item(item)?;
                // The index may lag a write that ended the problem.
                let parked = item.state.pending.is_none() && item.status == SyncStatus::Failed;
                match item.status {
                    SyncStatus::Failed => summary.failed += 1,
                    SyncStatus::Waiting => summary.waiting += 1,
                    SyncStatus::Synced | SyncStatus::Pending => continue,
                }
                summary.parked += u64::from(parked);
                if summary.problems.len() < PROBLEMS_LISTED_MAX {
                    summary.problems.push(FailedEntity {
                        entity: item.entity_kind,
                        id: item.id,
                        status: item.status,
                        parked,
                        last_error: item.state.last_error,
                        since: item.recorded_at,
                    });
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        summary.problems.sort_by_key(|p| (p.entity, p.id));
        Ok(summary)
    }

    /// One page of a sparse index's items (or only their count): those whose `attribute`
    /// holds `value`, from `start`.
    async fn flagged_page(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
        count_only: bool,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, DynamoError> {
        self.client()
            .query()
            .table_name(&self.tables().meta)
            .index_name(index)
            .key_condition_expression("#flag = :v")
            .expression_attribute_names("#flag", attribute)
            .expression_attribute_values(":v", s(value))
            .set_select(count_only.then_some(aws_sdk_dynamodb::types::Select::Count))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(DynamoError::sdk)
    }

    pub async fn save_report(&self, report: &serde_json::Value) -> Result<(), DynamoError> {
        self.put_report(REPORT_KEY, report).await
    }

    /// Until when a run holds the sync's lease (Unix seconds), if one does now: a run going
    /// on, or one that died and whose lease has not run out yet.
    pub async fn lease_held_until(&self) -> Result<Option<u64>, DynamoError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(LEASE_KEY.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        let expires = out.item.and_then(|i| {
            i.get("expiresAt")
                .and_then(|e| e.as_n().ok()?.parse::<u64>().ok())
        });
        Ok(expires.filter(|until| *until >= now_secs()))
    }

    pub async fn last_report(&self) -> Result<Option<serde_json::Value>, DynamoError> {
        self.get_report(REPORT_KEY).await
    }
}

/// How many state writes of one save are in flight at once.
const SAVES_IN_FLIGHT: usize = 16;

fn claim_key(kind: EntityKind, remote_id: u64) -> String {
    format!("claim#{}#{remote_id}", kind.as_str())
}

impl DynamoStore {
    /// Writes one state if it is still at the revision it was read at and no newer lease
    /// wrote it. A conditional `PutItem` costs what a `BatchWriteItem` entry does.
    async fn save_state(
        &self,
        lease: Lease,
        key: EntityKey,
        state: &SyncState,
    ) -> Result<(), PortError> {
        let mut item = StateItem::new(&key, state);
        item.rev = state.revision + 1;
        item.epoch = lease.epoch;
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).map_err(port)?;
        let request = self
            .client()
            .put_item()
            .table_name(&self.tables().meta)
            .set_item(Some(item))
            .expression_attribute_values(":epoch", n(lease.epoch));
        let request = if state.revision == 0 {
            request.condition_expression(
                "attribute_not_exists(rev) AND (attribute_not_exists(epoch) OR epoch <= :epoch)",
            )
        } else {
            request
                .condition_expression(
                    "rev = :rev AND (attribute_not_exists(epoch) OR epoch <= :epoch)",
                )
                .expression_attribute_values(":rev", n(state.revision))
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(PortError(format!(
                "the sync state of {key} changed since it was read (another run, or this run lost its lease)"
            ))),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    async fn claim_holder(
        &self,
        remote_id: u64,
        kind: EntityKind,
    ) -> Result<Option<EntityKey>, PortError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(claim_key(kind, remote_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?;
        Ok(out.item.and_then(|item| {
            let id = item.get("holderId")?.as_n().ok()?.parse().ok()?;
            Some(EntityKey { kind, id })
        }))
    }

    /// Puts the claim of `remote_id` for `key`, on `condition` (with `:holder` bound to the
    /// id of the holder it expects, if any); false if the condition failed.
    async fn put_claim(
        &self,
        remote_id: u64,
        key: EntityKey,
        condition: Option<(&str, Option<u64>)>,
    ) -> Result<bool, PortError> {
        let mut request = self
            .client()
            .put_item()
            .table_name(&self.tables().meta)
            .item("pk", s(claim_key(key.kind, remote_id)))
            .item("holderId", n(key.id));
        if let Some((condition, holder)) = condition {
            request = request.condition_expression(condition);
            if let Some(holder) = holder {
                request = request.expression_attribute_values(":holder", n(holder));
            }
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    /// How `holder` (not `key`) holds `remote_id`, if it does: it maps it and the remote
    /// still has it, or, when it holds the claim, it is between claiming it and recording
    /// that (a create in progress).
    async fn held_by_other(
        &self,
        holder: EntityKey,
        remote_id: u64,
        key: EntityKey,
        claimed: bool,
    ) -> Result<Option<Claim>, PortError> {
        if holder == key {
            return Ok(None);
        }
        Ok(self.load(&[holder]).await?.get(&holder).and_then(|s| {
            let held =
                (s.remote_id == Some(remote_id) && s.remote_exists) || (claimed && s.creating);
            held.then(|| Claim::held_by(s))
        }))
    }
}

#[async_trait]
impl SyncStateStore for DynamoStore {
    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        let mut states = HashMap::new();
        let mut unique: Vec<EntityKey> = keys.to_vec();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(MAX_BATCH_GET) {
            let mut pending: Option<KeysAndAttributes> = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| pk(state_key(k))).collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| port(DynamoError::sdk(e)))?,
            );
            let mut backoff = Duration::from_millis(50);
            while let Some(request) = pending.take() {
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(&self.tables().meta, request)
                    .send()
                    .await
                    .map_err(|e| port(DynamoError::sdk(e)))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.tables().meta))
                    .unwrap_or_default()
                {
                    let (key, state) = decode_state(item)?;
                    states.insert(key, state);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.tables().meta));
                if pending.is_some() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        Ok(states)
    }

    async fn save(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        let writes: Vec<_> = states
            .iter()
            .map(|(key, state)| Box::pin(self.save_state(lease, *key, state)))
            .collect();
        let results: Vec<Result<(), PortError>> = futures::stream::iter(writes)
            .buffered(SAVES_IN_FLIGHT)
            .collect()
            .await;
        let mut first_error = None;
        for ((_, state), result) in states.iter_mut().zip(results) {
            match result {
                Ok(()) => state.revision += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn journal(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        let mut requests = Vec::with_capacity(states.len());
        for (key, state) in states.iter() {
            let mut item = StateItem::new(key, state);
            item.rev = state.revision + 1;
            item.epoch = lease.epoch;
            let put = PutRequest::builder()
                .set_item(Some(serde_dynamo::to_item(item).map_err(port)?))
                .build()
                .map_err(|e| port(DynamoError::sdk(e)))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(&self.tables().meta, requests)
            .await
            .map_err(port)?;
        for (_, state) in states.iter_mut() {
            state.revision += 1;
        }
        Ok(())
    }

    async fn pending_page(
        &self,
        after: Option<EntityKey>,
        limit: usize,
    ) -> Result<Vec<EntityKey>, PortError> {
        let start = after.map(|key| {
            HashMap::from([
                ("pk".to_owned(), s(state_key(&key))),
                (PENDING_ATTRIBUTE.to_owned(), s(PENDING_VALUE)),
            ])
        });
        let out = self
            .client()
            .query()
            .table_name(&self.tables().meta)
            .index_name(PENDING_INDEX)
            .key_condition_expression("#flag = :pending")
            .projection_expression("entityKind, #id")
            .expression_attribute_names("#flag", PENDING_ATTRIBUTE)
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":pending", s(PENDING_VALUE))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listed {
            entity_kind: EntityKind,
            id: u64,
        }
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let listed: Listed = serde_dynamo::from_item(item).map_err(port)?;
                Ok(EntityKey {
                    kind: listed.entity_kind,
                    id: listed.id,
                })
            })
            .collect()
    }

    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<Option<Lease>, PortError> {
        let now = now_secs();
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(LEASE_KEY.into())))
            .update_expression("SET #owner = :owner, expiresAt = :expires ADD epoch :one")
            // The item may exist without an expiry: the import's marks created it.
            .condition_expression(
                "attribute_not_exists(expiresAt) OR expiresAt < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":expires", n(now + ttl.as_secs().max(1)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attributes = out.attributes.unwrap_or_default();
                let number = |name: &str| -> Option<u64> {
                    attributes
                        .get(name)
                        .and_then(|v| v.as_n().ok()?.parse().ok())
                };
                let epoch = number("epoch")
                    .ok_or_else(|| PortError("the lease came back without its epoch".into()))?;
                Ok(Some(Lease {
                    epoch,
                    imported: ImportedUpTo {
                        post: number(IMPORTED_POST),
                        comment: number(IMPORTED_COMMENT),
                    },
                }))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    async fn release_lease(&self, owner: &str) -> Result<(), PortError> {
        // Only the expiry goes: the epoch stays and keeps growing with every take.
        let result = self
            .client()
            .update_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(LEASE_KEY.into())))
            .update_expression("SET expiresAt = :zero")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    async fn claim_remote(
        &self,
        lease: Lease,
        remote_id: u64,
        key: EntityKey,
    ) -> Result<Claim, PortError> {
        // An imported entity holds the remote id equal to its own id, without a claim item:
        // read only for an id the import may have recorded.
        if lease.imported.may_hold(key.kind, remote_id) {
            let same_id = EntityKey {
                kind: key.kind,
                id: remote_id,
            };
            if let Some(found) = self.held_by_other(same_id, remote_id, key, false).await? {
                return Ok(found);
            }
        }
        if self
            .put_claim(
                remote_id,
                key,
                Some((
                    "attribute_not_exists(pk) OR holderId = :holder",
                    Some(key.id),
                )),
            )
            .await?
        {
            return Ok(Claim::Taken);
        }
        // Claimed by another: still theirs only while they map it and the remote has it.
        let Some(holder) = self.claim_holder(remote_id, key.kind).await? else {
            return Ok(Claim::Held);
        };
        if let Some(found) = self.held_by_other(holder, remote_id, key, true).await? {
            return Ok(found);
        }
        let taken = self
            .put_claim(
                remote_id,
                key,
                Some(("holderId = :holder", Some(holder.id))),
            )
            .await?;
        Ok(if taken { Claim::Taken } else { Claim::Held })
    }

    async fn release_remote(&self, remote_id: u64, key: EntityKey) -> Result<(), PortError> {
        let result = self
            .client()
            .delete_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(claim_key(key.kind, remote_id))))
            .condition_expression("holderId = :holder")
            .expression_attribute_values(":holder", n(key.id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }
}

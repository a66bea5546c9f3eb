//! The sync's bookkeeping in the meta table (which has no stream, so none of it ever
//! becomes a change event): a state item per entity, the single-run lease, the last report.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use ps_core::change::{EntityKey, EntityKind};
use ps_core::merge::{SyncState, SyncStatus};
use ps_core::ports::{PortError, SyncStateStore};
use serde::{Deserialize, Serialize};

use crate::DynamoError;
use crate::dynamo::{DynamoStore, is_condition_failure, n, pk, s};

/// A sparse index of the states with a pending change: only they carry the attribute, so
/// the sync finds its to-do list without reading every state.
pub const PENDING_INDEX: &str = "byPending";
pub const PENDING_ATTRIBUTE: &str = "pendingFlag";
const PENDING_VALUE: &str = "pending";
const LEASE_KEY: &str = "lease#sync";
const REPORT_KEY: &str = "report#last";
/// DynamoDB's limit on the keys of one BatchGetItem call.
const MAX_BATCH_GET: usize = 100;

fn state_key(key: &EntityKey) -> String {
    format!("sync#{}#{}", key.kind.as_str(), key.id)
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
    state: SyncState,
}

impl StateItem {
    fn new(key: &EntityKey, state: &SyncState) -> Self {
        StateItem {
            pk: state_key(key),
            entity_kind: key.kind,
            id: key.id,
            status: state.status,
            pending_flag: state.pending.as_ref().map(|_| PENDING_VALUE.to_owned()),
            state: state.clone(),
        }
    }

    fn key(&self) -> EntityKey {
        EntityKey {
            kind: self.entity_kind,
            id: self.id,
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A failed or waiting entity and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedEntity {
    pub entity: EntityKind,
    pub id: u64,
    pub status: SyncStatus,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSummary {
    pub synced: u64,
    pub pending: u64,
    pub failed: u64,
    pub waiting: u64,
    /// The failed and waiting entities (at most 100), with their last errors.
    pub problems: Vec<FailedEntity>,
}

fn port(e: impl Into<DynamoError>) -> PortError {
    PortError(e.into().to_string())
}

impl DynamoStore {
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

    /// Counts of entities by sync status, and the ones in trouble. Scans the meta table:
    /// an operator's query, not a hot path.
    pub async fn state_summary(&self) -> Result<StateSummary, DynamoError> {
        let mut summary = StateSummary::default();
        let mut start = None;
        loop {
            let out = self
                .client()
                .scan()
                .table_name(&self.tables().meta)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s("sync#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(DynamoError::sdk)?;
            for item in out.items.unwrap_or_default() {
                let item: StateItem = serde_dynamo::from_item(item)?;
                match item.status {
                    SyncStatus::Synced => summary.synced += 1,
                    SyncStatus::Pending => summary.pending += 1,
                    SyncStatus::Failed => summary.failed += 1,
                    SyncStatus::Waiting => summary.waiting += 1,
                }
                if matches!(item.status, SyncStatus::Failed | SyncStatus::Waiting)
                    && summary.problems.len() < 100
                {
                    summary.problems.push(FailedEntity {
                        entity: item.entity_kind,
                        id: item.id,
                        status: item.status,
                        last_error: item.state.last_error,
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

    pub async fn save_report(&self, report: &serde_json::Value) -> Result<(), DynamoError> {
        self.client()
            .put_item()
            .table_name(&self.tables().meta)
            .item("pk", s(REPORT_KEY))
            .item("report", s(report.to_string()))
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        Ok(())
    }

    pub async fn last_report(&self) -> Result<Option<serde_json::Value>, DynamoError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(REPORT_KEY.into())))
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        Ok(out
            .item
            .and_then(|i| i.get("report").and_then(|r| r.as_s().ok()).cloned())
            .and_then(|text| serde_json::from_str(&text).ok()))
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
                    let item: StateItem = serde_dynamo::from_item(item).map_err(port)?;
                    states.insert(item.key(), item.state);
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

    async fn save(&self, key: EntityKey, state: &SyncState) -> Result<(), PortError> {
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(StateItem::new(&key, state)).map_err(port)?;
        self.client()
            .put_item()
            .table_name(&self.tables().meta)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?;
        Ok(())
    }

    async fn save_many(&self, states: &[(EntityKey, SyncState)]) -> Result<(), PortError> {
        self.save_states(states).await.map_err(port)
    }

    async fn pending(&self) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        let mut states = HashMap::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(&self.tables().meta)
                .index_name(PENDING_INDEX)
                .key_condition_expression("#flag = :pending")
                .expression_attribute_names("#flag", PENDING_ATTRIBUTE)
                .expression_attribute_values(":pending", s(PENDING_VALUE))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port(DynamoError::sdk(e)))?;
            for item in out.items.unwrap_or_default() {
                let item: StateItem = serde_dynamo::from_item(item).map_err(port)?;
                states.insert(item.key(), item.state);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(states),
            }
        }
    }

    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<bool, PortError> {
        let now = now_secs();
        let result = self
            .client()
            .put_item()
            .table_name(&self.tables().meta)
            .item("pk", s(LEASE_KEY))
            .item("owner", s(owner))
            .item("expiresAt", n(now + ttl.as_secs().max(1)))
            .condition_expression("attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    async fn release_lease(&self, owner: &str) -> Result<(), PortError> {
        let result = self
            .client()
            .delete_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(LEASE_KEY.into())))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }
}

//! Reads, one generic path for posts and comments: a record by key, a window of an
//! id-ordered index partition (reading only what it returns, plus any offset), many by key,
//! and a partition's size from its counter. Also the recount that sets every counter from
//! the records, after an import.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use ps_core::ports::{EntityRead, Window};
use ps_core::{StoreError, Versioned};

use super::{DynamoStore, Item, n, pk, s};
use crate::DynamoError;
use crate::items::{BY_ENTITY_INDEX, BY_PARENT_INDEX, Stored, count_key};

/// DynamoDB's limit on the keys of one BatchGetItem call.
const MAX_BATCH_GET: usize = 100;

/// Every item, in id order.
pub(super) const EVERYTHING: Window = Window {
    scope: None,
    descending: false,
    offset: 0,
    limit: None,
};

impl DynamoStore {
    /// Up to `limit` items of one index partition in id order, after skipping `offset`;
    /// DynamoDB's `Limit` stops each page at what is still wanted.
    pub(super) async fn query_window<T: serde::de::DeserializeOwned>(
        &self,
        index: &str,
        hash_attribute: &str,
        hash_value: String,
        window: Window,
        projection: Option<&str>,
    ) -> Result<Vec<T>, DynamoError> {
        let wanted = window.limit.map(|l| window.offset.saturating_add(l));
        let mut items = Vec::new();
        let mut seen = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let remaining = wanted.map(|w| w - seen);
            if remaining == Some(0) {
                return Ok(items);
            }
            let page_limit = remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX));
            let out = self
                .client
                .query()
                .table_name(&self.tables.entities)
                .index_name(index)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", hash_attribute)
                .expression_attribute_values(":h", s(hash_value.clone()))
                .scan_index_forward(!window.descending)
                .set_limit(page_limit)
                .set_projection_expression(projection.map(str::to_owned))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(DynamoError::sdk)?;
            for item in out.items.unwrap_or_default() {
                seen += 1;
                if seen > window.offset {
                    items.push(serde_dynamo::from_item(item)?);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    pub(crate) async fn count_of(&self, partition: &str) -> Result<u64, DynamoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.entities)
            .set_key(Some(pk(count_key(partition))))
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        Ok(out
            .item
            .and_then(|i| i.get("value").and_then(|v| v.as_n().ok()?.parse().ok()))
            .unwrap_or(0))
    }

    /// Every stored record of a kind (for the import, which compares with the remote).
    pub async fn all<T: Stored>(&self) -> Result<Vec<Versioned<T>>, DynamoError> {
        let items: Vec<T::Item> = self
            .query_window(
                BY_ENTITY_INDEX,
                "entity",
                T::ENTITY.into(),
                EVERYTHING,
                None,
            )
            .await?;
        Ok(items.into_iter().map(T::into_versioned).collect())
    }

    /// Sets every counter of a kind from its records: after an import (which writes records
    /// in batches, outside the transactions that keep counters), and once on a table that
    /// held records before counters existed (`import --recount`).
    pub async fn recount<T: Stored>(&self) -> Result<(), DynamoError> {
        let records = self.all::<T>().await?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        counts.insert(T::ENTITY.to_owned(), records.len() as u64);
        for r in &records {
            *counts.entry(T::parent(r.value.scope())).or_default() += 1;
        }
        let puts = counts.into_iter().map(|(partition, count)| {
            let item = HashMap::from([
                ("pk".to_owned(), s(count_key(&partition))),
                ("value".to_owned(), n(count)),
            ]);
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("item is set"),
                )
                .build()
        });
        let entities = self.tables.entities.clone();
        self.batch_write(&entities, puts).await
    }

    async fn batch_get<T: Stored>(&self, ids: &[u64]) -> Result<Vec<T>, DynamoError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_BATCH_GET) {
            let keys: Vec<Item> = chunk.iter().map(|id| pk(T::key(*id))).collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .build()
                    .map_err(DynamoError::sdk)?,
            );
            let mut backoff = Duration::from_millis(50);
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.tables.entities, request)
                    .send()
                    .await
                    .map_err(DynamoError::sdk)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.tables.entities))
                    .unwrap_or_default()
                {
                    let item: T::Item = serde_dynamo::from_item(item)?;
                    found.push(T::into_versioned(item).value);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.tables.entities))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        found.sort_by_key(|r: &T| r.id());
        Ok(found)
    }
}

#[async_trait]
impl<T: Stored> EntityRead<T> for DynamoStore {
    async fn get(&self, id: u64) -> Result<Option<Versioned<T>>, StoreError> {
        Ok(DynamoStore::get::<T::Item>(self, T::key(id))
            .await?
            .map(T::into_versioned))
    }

    async fn window(&self, window: Window) -> Result<Vec<T>, StoreError> {
        let items: Vec<T::Item> = match window.scope {
            Some(scope) => {
                self.query_window(BY_PARENT_INDEX, "parent", T::parent(scope), window, None)
                    .await?
            }
            None => {
                self.query_window(BY_ENTITY_INDEX, "entity", T::ENTITY.into(), window, None)
                    .await?
            }
        };
        Ok(items
            .into_iter()
            .map(|i| T::into_versioned(i).value)
            .collect())
    }

    async fn count(&self, scope: Option<u64>) -> Result<u64, StoreError> {
        let partition = match scope {
            Some(scope) => T::parent(scope),
            None => T::ENTITY.to_owned(),
        };
        Ok(self.count_of(&partition).await?)
    }

    async fn get_many(&self, ids: &[u64]) -> Result<Vec<T>, StoreError> {
        Ok(self.batch_get::<T>(ids).await?)
    }
}

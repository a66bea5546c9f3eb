//! The ingest's bookkeeping in the meta table (which has no stream: none of it becomes a
//! change): one item per batch taken (`ingest#<client>#<key>`: its body digest, whether it
//! is still being applied, its answer), one counter per client and minute
//! (`ingestrate#<client>#<minute>`), and per client and day the set of entities it wrote
//! (`ingested#<client>#<day>`). Each carries `expiresAt`, so DynamoDB's TTL removes it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use ps_core::change::{EntityKey, EntityKind};
use ps_core::ingest::{IngestLedger, REMEMBERED_SECONDS, TAKING_STALE_SECONDS, Taken};
use ps_core::ports::PortError;
use serde_json::Value;

use crate::DynamoError;
use crate::EXPIRES_ATTRIBUTE;
use crate::dynamo::{DynamoStore, is_condition_failure, n, pk, port, s};

/// Entities listed per client and day at most (an item holds 400 KB; each key is ~12 bytes):
/// past it, the status counts what it lists and says so.
pub const TRACKED_PER_DAY_MAX: usize = 20_000;

fn batch_key(client: &str, key: &str) -> String {
    format!("ingest#{client}#{key}")
}

fn rate_key(client: &str, minute: u64) -> String {
    format!("ingestrate#{client}#{minute}")
}

fn tracked_key(client: &str, day: u64) -> String {
    format!("ingested#{client}#{day}")
}

fn entity_text(key: &EntityKey) -> String {
    format!("{}#{}", key.kind.as_str(), key.id)
}

fn parse_entity(text: &str) -> Option<EntityKey> {
    let (kind, id) = text.split_once('#')?;
    let kind = match kind {
        "post" => EntityKind::Post,
        "comment" => EntityKind::Comment,
        _ => return None,
    };
    Some(EntityKey {
        kind,
        id: id.parse().ok()?,
    })
}

#[async_trait]
impl IngestLedger for DynamoStore {
    async fn take(
        &self,
        client: &str,
        key: &str,
        digest: &str,
        now: u64,
    ) -> Result<Taken, PortError> {
        let put = self
            .client()
            .put_item()
            .table_name(&self.tables().meta)
            .item("pk", s(batch_key(client, key)))
            .item("digest", s(digest))
            .item("state", s("taking"))
            .item("takenAt", n(now))
            .item(EXPIRES_ATTRIBUTE, n(now + REMEMBERED_SECONDS))
            // New, or abandoned part-way by a request that died (its items are idempotent).
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :taking AND takenAt < :stale AND digest = :digest)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":taking", s("taking"))
            .expression_attribute_values(":stale", n(now.saturating_sub(TAKING_STALE_SECONDS)))
            .expression_attribute_values(":digest", s(digest))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(Taken::New),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(port(DynamoError::sdk(e))),
        }
        let found = self
            .client()
            .get_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(batch_key(client, key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?
            .item
            .unwrap_or_default();
        let text = |name: &str| found.get(name).and_then(|v| v.as_s().ok()).cloned();
        if text("digest").as_deref() != Some(digest) {
            return Ok(Taken::KeyReused);
        }
        match text("answer") {
            Some(answer) => Ok(Taken::Done(
                serde_json::from_str(&answer).unwrap_or(Value::Null),
            )),
            None => Ok(Taken::InFlight),
        }
    }

    async fn finish(
        &self,
        client: &str,
        key: &str,
        answer: &Value,
        now: u64,
    ) -> Result<(), PortError> {
        self.client()
            .update_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(batch_key(client, key))))
            .update_expression("SET #state = :done, answer = :answer, #exp = :exp")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":answer", s(answer.to_string()))
            .expression_attribute_values(":exp", n(now + REMEMBERED_SECONDS))
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?;
        Ok(())
    }

    async fn release(&self, client: &str, key: &str) -> Result<(), PortError> {
        let deleted = self
            .client()
            .delete_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(batch_key(client, key))))
            .condition_expression("#state = :taking")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":taking", s("taking"))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    async fn count_request(&self, client: &str, now: u64) -> Result<u64, PortError> {
        let minute = now / 60;
        let out = self
            .client()
            .update_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(rate_key(client, minute))))
            .update_expression("ADD #n :one SET #exp = :exp")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n((minute + 2) * 60))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?;
        Ok(out
            .attributes
            .and_then(|a| a.get("n").and_then(|v| v.as_n().ok()?.parse().ok()))
            .unwrap_or(1))
    }

    async fn track(&self, client: &str, keys: &[EntityKey], now: u64) -> Result<(), PortError> {
        if keys.is_empty() {
            return Ok(());
        }
        let day = now / 86_400;
        let mut texts: Vec<String> = keys.iter().map(entity_text).collect();
        texts.sort();
        texts.dedup();
        let added = self
            .client()
            .update_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(tracked_key(client, day))))
            .update_expression("ADD entities :keys SET #exp = :exp")
            .condition_expression("attribute_not_exists(entities) OR size(entities) < :max")
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":keys", AttributeValue::Ss(texts))
            .expression_attribute_values(":exp", n((day + 3) * 86_400))
            .expression_attribute_values(":max", n(TRACKED_PER_DAY_MAX as u64))
            .send()
            .await;
        match added {
            Ok(_) => Ok(()),
            // The day's list is full: the status counts what it lists.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(port(DynamoError::sdk(e))),
        }
    }

    async fn tracked(&self, client: &str, now: u64) -> Result<Vec<EntityKey>, PortError> {
        let day = now / 86_400;
        let mut keys = Vec::new();
        for d in [day.saturating_sub(1), day] {
            let found = self
                .client()
                .get_item()
                .table_name(&self.tables().meta)
                .set_key(Some(pk(tracked_key(client, d))))
                .send()
                .await
                .map_err(|e| port(DynamoError::sdk(e)))?
                .item
                .unwrap_or_default();
            if let Some(AttributeValue::Ss(texts)) = found.get("entities") {
                keys.extend(texts.iter().filter_map(|t| parse_entity(t)));
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

//! Failed logins in the meta table: one item per key and fixed window
//! (`login#<key>#<window>`), a counter that each failure adds to, and a TTL attribute
//! (`expiresAt`) so DynamoDB removes a window's item once it can no longer count.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use ps_core::login::{Counted, LoginAttempts, WINDOW_SECONDS, window};
use ps_core::ports::PortError;

use crate::DynamoError;
use crate::dynamo::{DynamoStore, n, pk, port};

/// The attribute DynamoDB's time to live reads (the template's `TimeToLiveSpecification`).
pub const EXPIRES_ATTRIBUTE: &str = "expiresAt";

fn item_key(key: &str, window: u64) -> String {
    format!("login#{key}#{window}")
}

#[async_trait]
impl LoginAttempts for DynamoStore {
    async fn counted(&self, keys: &[String], now: u64) -> Result<Vec<Counted>, PortError> {
        let (w, _) = window(now);
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        let mut names = Vec::new();
        for key in keys {
            for at in [w, w.saturating_sub(1)] {
                let name = item_key(key, at);
                if !names.contains(&name) {
                    wanted = wanted.keys(pk(name.clone()));
                    names.push(name);
                }
            }
        }
        let mut found: HashMap<String, u64> = HashMap::new();
        let mut request = Some(HashMap::from([(
            self.tables().meta.clone(),
            wanted.build().map_err(|e| port(DynamoError::sdk(e)))?,
        )]));
        // A batch get may leave keys unprocessed under load: ask again for those.
        while let Some(items) = request.take().filter(|r| !r.is_empty()) {
            let out = self
                .client()
                .batch_get_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(|e| port(DynamoError::sdk(e)))?;
            for item in out.responses.unwrap_or_default().into_values().flatten() {
                let name = item.get("pk").and_then(|v| v.as_s().ok()).cloned();
                let count = item
                    .get("n")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok());
                if let (Some(name), Some(count)) = (name, count) {
                    found.insert(name, count);
                }
            }
            request = out.unprocessed_keys;
        }
        Ok(keys
            .iter()
            .map(|key| Counted {
                current: found.get(&item_key(key, w)).copied().unwrap_or(0),
                previous: found
                    .get(&item_key(key, w.saturating_sub(1)))
                    .copied()
                    .unwrap_or(0),
            })
            .collect())
    }

    async fn failed(&self, keys: &[String], now: u64) -> Result<(), PortError> {
        let (w, _) = window(now);
        for key in keys {
            self.client()
                .update_item()
                .table_name(&self.tables().meta)
                .set_key(Some(pk(item_key(key, w))))
                .update_expression("ADD #n :one SET #exp = :exp")
                .expression_attribute_names("#n", "n")
                .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":exp", n((w + 2) * WINDOW_SECONDS))
                .send()
                .await
                .map_err(|e| port(DynamoError::sdk(e)))?;
        }
        Ok(())
    }

    async fn clear(&self, key: &str, now: u64) -> Result<(), PortError> {
        let (w, _) = window(now);
        for at in [w, w.saturating_sub(1)] {
            self.client()
                .delete_item()
                .table_name(&self.tables().meta)
                .set_key(Some(pk(item_key(key, at))))
                .send()
                .await
                .map_err(|e| port(DynamoError::sdk(e)))?;
        }
        Ok(())
    }
}

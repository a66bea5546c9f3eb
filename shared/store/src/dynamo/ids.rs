//! Ids: an atomic counter per entity kind in the meta table.

use super::{DynamoStore, is_condition_failure, n, pk};
use crate::DynamoError;

/// How many ids a create may skip when it finds an id already taken (only items written
/// outside the counter can cause that) before giving up.
pub(super) const ID_ATTEMPTS: usize = 5;

impl DynamoStore {
    /// The next id of an entity kind, from an atomic counter in the meta table.
    pub(super) async fn next_id(&self, entity: &str) -> Result<u64, DynamoError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.meta)
            .set_key(Some(pk(format!("counter#{entity}"))))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        out.attributes
            .and_then(|a| {
                a.get("value")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .ok_or_else(|| DynamoError::Sdk("counter update returned no value".into()))
    }

    /// Raises an entity kind's id counter to at least `floor` (never lowers it).
    pub async fn raise_id_counter(&self, entity: &str, floor: u64) -> Result<(), DynamoError> {
        self.raise_meta_number(format!("counter#{entity}"), "value", floor)
            .await
    }

    /// Raises a number attribute of a meta-table item to at least `floor` (never lowers it;
    /// creates the item if need be): the id counters, the import's marks.
    pub(crate) async fn raise_meta_number(
        &self,
        key: String,
        attribute: &str,
        floor: u64,
    ) -> Result<(), DynamoError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.meta)
            .set_key(Some(pk(key)))
            .update_expression("SET #v = :floor")
            .condition_expression("attribute_not_exists(#v) OR #v < :floor")
            .expression_attribute_names("#v", attribute)
            .expression_attribute_values(":floor", n(floor))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(DynamoError::sdk(e)),
        }
    }
}

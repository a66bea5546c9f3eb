//! Run reports kept in the meta table, one item per kind of run (the last sync's, the last
//! reconcile's), each a JSON string: a report is bounded (it lists at most 50 of anything),
//! well inside an item's 400 KB.

use crate::DynamoError;
use crate::dynamo::{DynamoStore, pk, s};

impl DynamoStore {
    pub(crate) async fn put_report(
        &self,
        key: &str,
        report: &serde_json::Value,
    ) -> Result<(), DynamoError> {
        self.client()
            .put_item()
            .table_name(&self.tables().meta)
            .item("pk", s(key))
            .item("report", s(report.to_string()))
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        Ok(())
    }

    pub(crate) async fn get_report(
        &self,
        key: &str,
    ) -> Result<Option<serde_json::Value>, DynamoError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.tables().meta)
            .set_key(Some(pk(key.into())))
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        Ok(out
            .item
            .and_then(|i| i.get("report").and_then(|r| r.as_s().ok()).cloned())
            .and_then(|text| serde_json::from_str(&text).ok()))
    }
}

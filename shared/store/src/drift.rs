//! What the reconcile reads and keeps: every sync state, by a scan of the meta table (its
//! states are the items under `sync#`; the scan reads the lease, claims and counters too and
//! drops them, as a scan's filter does), and the last reconcile's report.

use async_trait::async_trait;
use ps_core::ports::{PortError, StatePage, StateScan};

use crate::DynamoError;
use crate::dynamo::{DynamoStore, pk, port, s};
use crate::sync_state::{STATE_PREFIX, decode_state};

const DRIFT_REPORT_KEY: &str = "report#drift";

#[async_trait]
impl StateScan for DynamoStore {
    /// A strongly consistent `Scan` page (at most 1 MB, DynamoDB's own limit, and `limit`
    /// items read). Its cursor is the last key read, whichever item that was.
    async fn scan(&self, cursor: Option<String>, limit: usize) -> Result<StatePage, PortError> {
        let out = self
            .client()
            .scan()
            .table_name(&self.tables().meta)
            .consistent_read(true)
            .filter_expression("begins_with(pk, :state)")
            .expression_attribute_values(":state", s(STATE_PREFIX))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(cursor.map(pk))
            .send()
            .await
            .map_err(|e| port(DynamoError::sdk(e)))?;
        let states = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode_state)
            .collect::<Result<_, _>>()?;
        let next = out
            .last_evaluated_key
            .and_then(|mut k| k.remove("pk"))
            .and_then(|v| v.as_s().ok().cloned());
        Ok(StatePage { states, next })
    }
}

impl DynamoStore {
    pub async fn save_drift_report(&self, report: &serde_json::Value) -> Result<(), DynamoError> {
        self.put_report(DRIFT_REPORT_KEY, report).await
    }

    pub async fn last_drift_report(&self) -> Result<Option<serde_json::Value>, DynamoError> {
        self.get_report(DRIFT_REPORT_KEY).await
    }
}

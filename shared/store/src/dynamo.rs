//! The store over DynamoDB: the client, the table names, and the plumbing every write shares
//! (conditional puts and deletes, batches, reading why a condition failed). Posts, comments,
//! ids and the import each have a module of their own.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, TransactWriteItem, Update, WriteRequest,
};
use ps_core::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DynamoError;
use crate::schema::TableNames;

mod comments;
mod ids;
mod import;
mod once;
mod posts;
mod read;

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit on the items of one TransactWriteItems call.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// How often a transaction cancelled only by a conflict with another one is sent again.
const CONFLICT_RETRIES: u32 = 6;

/// DynamoDB's limit on the requests of one BatchWriteItem call.
const MAX_BATCH_WRITE: usize = 25;

/// The store over DynamoDB. Cheap to clone: the SDK client is shared.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A DynamoDB failure as the domain's ports report it.
pub(crate) fn port(e: impl Into<crate::DynamoError>) -> ps_core::ports::PortError {
    ps_core::ports::PortError(e.into().to_string())
}

pub(crate) fn pk(value: String) -> Item {
    HashMap::from([("pk".to_owned(), s(value))])
}

pub(crate) fn is_condition_failure<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

/// The cancellation reason codes of a failed transaction, one per item, if it was cancelled.
fn cancellation_codes(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match e.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

/// Whether a transaction was cancelled only because another one held one of its items.
fn only_conflicts(e: &SdkError<TransactWriteItemsError>) -> bool {
    cancellation_codes(e).is_some_and(|codes| {
        codes.iter().any(|c| c == "TransactionConflict")
            && codes
                .iter()
                .all(|c| c == "TransactionConflict" || c == "None")
    })
}

impl DynamoStore {
    /// Sends a transaction. Every create and delete changes a list counter that all the
    /// others change too, so two at once can conflict: a transaction cancelled only by such
    /// a conflict is sent again after a short, growing, jittered pause (it changed nothing).
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError>> {
        let mut pause = Duration::from_millis(10);
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match result {
                Err(e) if attempt < CONFLICT_RETRIES && only_conflicts(&e) => {
                    attempt += 1;
                    tokio::time::sleep(pause.mul_f64(rand::random_range(0.5..1.5))).await;
                    pause *= 2;
                }
                other => return other.map(|_| ()),
            }
        }
    }

    pub fn new(client: Client, tables: TableNames) -> Self {
        DynamoStore { client, tables }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    async fn get<T: DeserializeOwned>(&self, key: String) -> Result<Option<T>, DynamoError> {
        // Strongly consistent, so a client reads its own writes (and the ETag it was given).
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.entities)
            .set_key(Some(pk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        Ok(out.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// A transaction item moving a partition's counter by `delta`.
    fn count_change(&self, partition: &str, delta: i64) -> Result<TransactWriteItem, DynamoError> {
        let update = Update::builder()
            .table_name(&self.tables.entities)
            .set_key(Some(pk(crate::items::count_key(partition))))
            .update_expression("ADD #v :d")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(DynamoError::sdk)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn put_new(&self, item: Item) -> Result<Put, DynamoError> {
        Put::builder()
            .table_name(&self.tables.entities)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(DynamoError::sdk)
    }

    /// After a conditional write on `key` failed: was the item gone, or at another version?
    async fn explain_condition_failure(&self, key: String) -> StoreError {
        match self.get::<serde::de::IgnoredAny>(key).await {
            Ok(Some(_)) => StoreError::VersionConflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => e.into(),
        }
    }

    async fn replace<T: Serialize>(
        &self,
        key: String,
        item: &T,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let item: Item = serde_dynamo::to_item(item).map_err(DynamoError::from)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.entities)
            .set_item(Some(item))
            .condition_expression("attribute_exists(pk) AND version = :expected")
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(self.explain_condition_failure(key).await),
            Err(e) => Err(DynamoError::sdk(e).into()),
        }
    }

    fn delete_of(&self, key: String, expected_version: Option<u64>) -> Result<Delete, DynamoError> {
        let mut delete = Delete::builder()
            .table_name(&self.tables.entities)
            .set_key(Some(pk(key)));
        delete = match expected_version {
            Some(v) => delete
                .condition_expression("attribute_exists(pk) AND version = :expected")
                .expression_attribute_values(":expected", n(v)),
            None => delete.condition_expression("attribute_exists(pk)"),
        };
        delete.build().map_err(DynamoError::sdk)
    }

    /// Sends write requests in batches of 25, resending what DynamoDB leaves unprocessed
    /// with a growing pause.
    pub(crate) async fn batch_write(
        &self,
        table: &str,
        requests: impl IntoIterator<Item = WriteRequest>,
    ) -> Result<(), DynamoError> {
        let requests: Vec<WriteRequest> = requests.into_iter().collect();
        for chunk in requests.chunks(MAX_BATCH_WRITE) {
            let mut pending = chunk.to_vec();
            let mut backoff = Duration::from_millis(50);
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(DynamoError::sdk)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn cancelled(codes: &[&str]) -> SdkError<TransactWriteItemsError> {
        let reasons = codes
            .iter()
            .map(|c| CancellationReason::builder().code(*c).build())
            .collect();
        let error = TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .set_cancellation_reasons(Some(reasons))
                .build(),
        );
        let raw = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        SdkError::service_error(error, raw)
    }

    #[test]
    fn only_a_conflict_with_another_transaction_is_sent_again() {
        assert!(only_conflicts(&cancelled(&[
            "None",
            "TransactionConflict",
            "None"
        ])));
        assert!(!only_conflicts(&cancelled(&[
            "ConditionalCheckFailed",
            "TransactionConflict"
        ])));
        assert!(!only_conflicts(&cancelled(&[
            "ConditionalCheckFailed",
            "None"
        ])));
        assert!(!only_conflicts(&cancelled(&["None", "None"])));
    }
}

//! Creates sent with an `Idempotency-Key`: the first answer is kept beside the records, in
//! the create's own transaction (an `idem#<kind>#<key>` item of the entities table: no index
//! holds it and the stream mapping's filter drops its records), with a digest of the request
//! and an `expiresAt` that DynamoDB's time to live reads. So a create and its memory of
//! having been done are one atomic write: a repeat either finds the answer or races the
//! first and loses on the same item.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use ps_core::StoreError;
use ps_core::Versioned;
use ps_core::ports::{ONCE_KEPT_SECONDS, Once};

use super::{DynamoStore, n, pk, s};
use crate::DynamoError;
use crate::items::Stored;
use crate::login::EXPIRES_ATTRIBUTE;

fn once_key(kind: &str, key: &str) -> String {
    format!("idem#{kind}#{key}")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl DynamoStore {
    /// The transaction item that keeps `answer` under `once`: refused if the key holds an
    /// answer that has not expired (DynamoDB's time to live may remove it days late).
    pub(crate) fn remember<T: Stored>(
        &self,
        once: &Once,
        answer: &T::Item,
    ) -> Result<TransactWriteItem, DynamoError> {
        let now = now();
        let put = Put::builder()
            .table_name(&self.tables.entities)
            .item("pk", s(once_key(T::ENTITY, &once.key)))
            .item("requestDigest", s(once.request_digest.clone()))
            .item("answer", AttributeValue::M(serde_dynamo::to_item(answer)?))
            .item(EXPIRES_ATTRIBUTE, n(now + ONCE_KEPT_SECONDS))
            .condition_expression("attribute_not_exists(pk) OR #exp < :now")
            .expression_attribute_names("#exp", EXPIRES_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(DynamoError::sdk)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Whether a create's transaction, with `once`'s item last, was refused on that item
    /// (`codes`: its cancellation reasons, in the transaction's order).
    pub(crate) fn refused_by_key(&self, codes: &[String], once: Option<&Once>) -> bool {
        once.is_some()
            && codes
                .last()
                .is_some_and(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict")
    }

    /// After [`Self::refused_by_key`]: the first answer, if this is the same request;
    /// [`StoreError::KeyReused`] if it is another; [`StoreError::KeyInFlight`] while the first
    /// is still being written (its transaction held the item).
    pub(crate) async fn recall<T: Stored>(
        &self,
        codes: &[String],
        once: Option<&Once>,
    ) -> Result<Versioned<T>, StoreError> {
        let Some(once) = once else {
            return Err(StoreError::Backend("recall without a key".into()));
        };
        if codes.last().is_some_and(|c| c == "TransactionConflict") {
            return Err(StoreError::KeyInFlight);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.entities)
            .set_key(Some(pk(once_key(T::ENTITY, &once.key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(DynamoError::sdk)?;
        // Gone since (expired): the caller's retry will create.
        let Some(item) = out.item else {
            return Err(StoreError::KeyInFlight);
        };
        let digest = item.get("requestDigest").and_then(|v| v.as_s().ok());
        if digest != Some(&once.request_digest) {
            return Err(StoreError::KeyReused);
        }
        let answer = match item.get("answer") {
            Some(AttributeValue::M(answer)) => answer.clone(),
            _ => {
                return Err(StoreError::Backend(
                    "an idempotency item without its answer".into(),
                ));
            }
        };
        let answer: T::Item = serde_dynamo::from_item(answer).map_err(DynamoError::from)?;
        Ok(T::into_versioned(answer))
    }
}

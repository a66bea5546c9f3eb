//! Comments: writes conditional on the version read, each in one transaction with the
//! counters of the partitions it is listed in; a comment is created with a check that its
//! post exists.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use ps_core::model::CommentDraft;
use ps_core::ports::{CommentWrite, Once};
use ps_core::{Comment, StoreError, Versioned};

use super::ids::ID_ATTEMPTS;
use super::{DynamoStore, cancellation_codes, pk};
use crate::DynamoError;
use crate::items::{COMMENT, CommentItem, Stored, comment_key, post_key};

#[async_trait]
impl CommentWrite for DynamoStore {
    async fn create_comment(
        &self,
        draft: CommentDraft,
        once: Option<&Once>,
    ) -> Result<Versioned<Comment>, StoreError> {
        for _ in 0..ID_ATTEMPTS {
            let comment = draft.clone().with_id(self.next_id(COMMENT).await?);
            let stored = CommentItem::new(&comment, 1);
            let item = serde_dynamo::to_item(&stored).map_err(DynamoError::from)?;
            // The post must exist when the comment is written, in the same transaction, so a
            // comment can never outlive a concurrently deleted post.
            let post_exists = ConditionCheck::builder()
                .table_name(&self.tables.entities)
                .set_key(Some(pk(post_key(draft.post_id))))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(DynamoError::sdk)?;
            let mut tx = vec![
                TransactWriteItem::builder()
                    .condition_check(post_exists)
                    .build(),
                TransactWriteItem::builder()
                    .put(self.put_new(item)?)
                    .build(),
                self.count_change(COMMENT, 1)?,
                self.count_change(&Comment::parent(draft.post_id), 1)?,
            ];
            if let Some(once) = once {
                tx.push(self.remember::<Comment>(once, &stored)?);
            }
            let result = self.transact(tx).await;
            match result {
                Ok(_) => {
                    return Ok(Versioned {
                        value: comment,
                        version: 1,
                    });
                }
                Err(e) => match cancellation_codes(&e).as_deref() {
                    // The first answer wins over anything else: its post may be gone since.
                    Some(codes) if self.refused_by_key(codes, once) => {
                        return self.recall::<Comment>(codes, once).await;
                    }
                    Some([parent, ..]) if parent == "ConditionalCheckFailed" => {
                        return Err(StoreError::ParentMissing);
                    }
                    Some([_, own, ..]) if own == "ConditionalCheckFailed" => continue,
                    _ => return Err(DynamoError::sdk(e).into()),
                },
            }
        }
        Err(StoreError::Backend(
            "no free comment id found; is the id counter behind the data?".into(),
        ))
    }

    async fn update_comment(
        &self,
        comment: &Comment,
        expected_version: u64,
    ) -> Result<Versioned<Comment>, StoreError> {
        let version = expected_version + 1;
        self.replace(
            comment_key(comment.id),
            &CommentItem::new(comment, version),
            expected_version,
        )
        .await?;
        Ok(Versioned {
            value: comment.clone(),
            version,
        })
    }

    async fn delete_comment(
        &self,
        comment: &Comment,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let key = comment_key(comment.id);
        let delete = self.delete_of(key.clone(), expected_version)?;
        let result = self
            .transact(vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.count_change(COMMENT, -1)?,
                self.count_change(&Comment::parent(comment.post_id), -1)?,
            ])
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match cancellation_codes(&e).as_deref() {
                Some([own, ..]) if own == "ConditionalCheckFailed" => {
                    Err(self.explain_condition_failure(key).await)
                }
                _ => Err(DynamoError::sdk(e).into()),
            },
        }
    }
}

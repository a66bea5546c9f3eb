//! Posts: writes conditional on the version read, each in one transaction with the
//! counters of the partitions it is listed in; a post's delete takes its comments with it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use ps_core::model::PostDraft;
use ps_core::ports::{Once, PostWrite};
use ps_core::{Post, StoreError, Versioned};

use super::ids::ID_ATTEMPTS;
use super::{DynamoStore, MAX_TRANSACTION_ITEMS, cancellation_codes, n, pk};
use crate::DynamoError;
use crate::items::{BY_PARENT_INDEX, COMMENT, POST, PostItem, Stored, count_key, post_key};

/// Room in a transaction for the comments deleted with their post: the post, the two post
/// counters, the comment counter and the post's comment counter take the rest.
const COMMENTS_WITH_POST: usize = MAX_TRANSACTION_ITEMS - 5;
/// Comments deleted per transaction ahead of the post, with their two counters.
const COMMENTS_PER_CHUNK: usize = MAX_TRANSACTION_ITEMS - 2;
/// How often a post's delete starts again after a comment came or went under it.
const DELETE_ATTEMPTS: usize = 5;

const CONDITION_FAILED: &str = "ConditionalCheckFailed";

impl DynamoStore {
    async fn comment_keys_of(&self, post_id: u64) -> Result<Vec<String>, DynamoError> {
        #[derive(serde::Deserialize)]
        struct Key {
            pk: String,
        }
        let keys: Vec<Key> = self
            .query_window(
                BY_PARENT_INDEX,
                "parent",
                post_key(post_id),
                super::read::EVERYTHING,
                Some("pk"),
            )
            .await?;
        Ok(keys.into_iter().map(|k| k.pk).collect())
    }

    /// Deletes some of a post's comments ahead of the post. `false`: one was already gone
    /// (deleted meanwhile); nothing was deleted.
    async fn delete_comment_chunk(
        &self,
        post_id: u64,
        keys: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = Vec::with_capacity(keys.len() + 2);
        for key in keys {
            tx.push(
                TransactWriteItem::builder()
                    .delete(self.delete_of(key.clone(), None)?)
                    .build(),
            );
        }
        let k = keys.len() as i64;
        tx.push(self.count_change(COMMENT, -k)?);
        tx.push(self.count_change(&post_key(post_id), -k)?);
        match self.transact(tx).await {
            Ok(_) => Ok(true),
            Err(e) if cancellation_codes(&e).is_some() => Ok(false),
            Err(e) => Err(DynamoError::sdk(e).into()),
        }
    }
}

#[async_trait]
impl PostWrite for DynamoStore {
    async fn create_post(
        &self,
        draft: PostDraft,
        once: Option<&Once>,
    ) -> Result<Versioned<Post>, StoreError> {
        for _ in 0..ID_ATTEMPTS {
            let post = draft.clone().with_id(self.next_id(POST).await?);
            let stored = PostItem::new(&post, 1);
            let item = serde_dynamo::to_item(&stored).map_err(DynamoError::from)?;
            let mut tx = vec![
                TransactWriteItem::builder()
                    .put(self.put_new(item)?)
                    .build(),
                self.count_change(POST, 1)?,
                self.count_change(&Post::parent(post.user_id), 1)?,
            ];
            if let Some(once) = once {
                tx.push(self.remember::<Post>(once, &stored)?);
            }
            match self.transact(tx).await {
                Ok(_) => {
                    return Ok(Versioned {
                        value: post,
                        version: 1,
                    });
                }
                Err(e) => match cancellation_codes(&e).as_deref() {
                    Some(codes) if self.refused_by_key(codes, once) => {
                        return self.recall::<Post>(codes, once).await;
                    }
                    Some([own, ..]) if own == CONDITION_FAILED => continue,
                    _ => return Err(DynamoError::sdk(e).into()),
                },
            }
        }
        Err(StoreError::Backend(
            "no free post id found; is the id counter behind the data?".into(),
        ))
    }

    async fn update_post(
        &self,
        post: &Post,
        expected_version: u64,
    ) -> Result<Versioned<Post>, StoreError> {
        let version = expected_version + 1;
        self.replace(
            post_key(post.id),
            &PostItem::new(post, version),
            expected_version,
        )
        .await?;
        Ok(Versioned {
            value: post.clone(),
            version,
        })
    }

    async fn delete_post(
        &self,
        post: &Post,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let id = post.id;
        for _ in 0..DELETE_ATTEMPTS {
            let mut comments = self.comment_keys_of(id).await?;
            if comments.len() > COMMENTS_WITH_POST {
                // More than one transaction holds: comments first, then the post. Check the
                // version before deleting anything, so a stale delete takes nothing.
                if let Some(expected) = expected_version {
                    let current = ps_core::ports::EntityRead::<Post>::get(self, id)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    if current.version != expected {
                        return Err(StoreError::VersionConflict);
                    }
                }
                let ahead = comments.len() - COMMENTS_WITH_POST;
                let mut all_gone = true;
                for chunk in comments[..ahead].chunks(COMMENTS_PER_CHUNK) {
                    all_gone &= self.delete_comment_chunk(id, chunk).await?;
                }
                if !all_gone {
                    continue;
                }
                comments.drain(..ahead);
            }
            // The post, its remaining comments and every counter at once. The post's comment
            // counter must still say how many comments are deleted here: a comment created
            // since the listing (whose create checked the post exists) cancels this, and
            // the next attempt lists it too. No comment outlives its post.
            let mut tx = Vec::with_capacity(comments.len() + 5);
            for key in &comments {
                tx.push(
                    TransactWriteItem::builder()
                        .delete(self.delete_of(key.clone(), None)?)
                        .build(),
                );
            }
            let r = comments.len() as u64;
            let post_delete = self.delete_of(post_key(id), expected_version)?;
            let counter = Delete::builder()
                .table_name(&self.tables.entities)
                .set_key(Some(pk(count_key(&post_key(id)))))
                .condition_expression("attribute_not_exists(pk) OR #v = :r")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(":r", n(r))
                .build()
                .map_err(DynamoError::sdk)?;
            tx.push(TransactWriteItem::builder().delete(post_delete).build());
            tx.push(self.count_change(POST, -1)?);
            tx.push(self.count_change(&Post::parent(post.user_id), -1)?);
            tx.push(TransactWriteItem::builder().delete(counter).build());
            if r > 0 {
                tx.push(self.count_change(COMMENT, -(r as i64))?);
            }
            let Err(e) = self.transact(tx).await else {
                return Ok(());
            };
            let Some(codes) = cancellation_codes(&e) else {
                return Err(DynamoError::sdk(e).into());
            };
            if codes.get(comments.len()).map(String::as_str) == Some(CONDITION_FAILED) {
                return Err(self.explain_condition_failure(post_key(id)).await);
            }
            // A comment came or went meanwhile: list again.
        }
        Err(StoreError::Backend(format!(
            "post {id}'s comments kept changing during its delete"
        )))
    }
}

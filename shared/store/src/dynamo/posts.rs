//! Posts: reads, and writes conditional on the version read; a post's delete takes its
//! comments with it, item by item.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use ps_core::model::PostDraft;
use ps_core::ports::{PostRead, PostWrite};
use ps_core::{Post, StoreError, Versioned};

use super::ids::ID_ATTEMPTS;
use super::{DynamoStore, MAX_TRANSACTION_ITEMS, cancellation_codes, is_condition_failure, pk};
use crate::DynamoError;
use crate::items::{BY_ENTITY_INDEX, BY_PARENT_INDEX, POST, PostItem, post_key};

impl DynamoStore {
    async fn comment_keys_of(&self, post_id: u64) -> Result<Vec<String>, DynamoError> {
        #[derive(serde::Deserialize)]
        struct Key {
            pk: String,
        }
        let keys: Vec<Key> = self
            .query_index(BY_PARENT_INDEX, "parent", post_key(post_id), Some("pk"))
            .await?;
        Ok(keys.into_iter().map(|k| k.pk).collect())
    }
}

#[async_trait]
impl PostRead for DynamoStore {
    async fn get_post(&self, id: u64) -> Result<Option<Versioned<Post>>, StoreError> {
        Ok(self
            .get::<PostItem>(post_key(id))
            .await?
            .map(PostItem::into_versioned))
    }

    async fn list_posts(&self, user_id: Option<u64>) -> Result<Vec<Versioned<Post>>, StoreError> {
        let items: Vec<PostItem> = match user_id {
            Some(u) => {
                self.query_index(BY_PARENT_INDEX, "parent", format!("user#{u}"), None)
                    .await?
            }
            None => {
                self.query_index(BY_ENTITY_INDEX, "entity", POST.into(), None)
                    .await?
            }
        };
        Ok(items.into_iter().map(PostItem::into_versioned).collect())
    }
}

#[async_trait]
impl PostWrite for DynamoStore {
    async fn create_post(&self, draft: PostDraft) -> Result<Versioned<Post>, StoreError> {
        for _ in 0..ID_ATTEMPTS {
            let post = draft.clone().with_id(self.next_id(POST).await?);
            let item = serde_dynamo::to_item(PostItem::new(&post, 1)).map_err(DynamoError::from)?;
            let put = self.put_new(item)?;
            let result = self
                .client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(Versioned {
                        value: post,
                        version: 1,
                    });
                }
                Err(e) if is_condition_failure(&e) => continue,
                Err(e) => return Err(DynamoError::sdk(e).into()),
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

    async fn delete_post(&self, id: u64, expected_version: Option<u64>) -> Result<(), StoreError> {
        let comments = self.comment_keys_of(id).await?;
        if comments.is_empty() {
            // A transaction of one would cost twice the write units of a plain delete.
            self.delete_one(post_key(id), expected_version).await?;
        } else if comments.len() < MAX_TRANSACTION_ITEMS {
            let mut tx = self.client.transact_write_items();
            for key in &comments {
                let delete = Delete::builder()
                    .table_name(&self.tables.entities)
                    .set_key(Some(pk(key.clone())))
                    .build()
                    .map_err(DynamoError::sdk)?;
                tx = tx.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
            let post_delete = self.delete_of(post_key(id), expected_version)?;
            tx = tx.transact_items(TransactWriteItem::builder().delete(post_delete).build());
            if let Err(e) = tx.send().await {
                return match cancellation_codes(&e) {
                    Some(codes)
                        if codes.last().map(String::as_str) == Some("ConditionalCheckFailed") =>
                    {
                        Err(self.explain_condition_failure(post_key(id)).await)
                    }
                    _ => Err(DynamoError::sdk(e).into()),
                };
            }
        } else {
            // Too many for one transaction: comments first, then the post. A retry after a
            // failure part-way finds fewer comments and finishes the job.
            if let Some(expected) = expected_version {
                let current = self.get_post(id).await?.ok_or(StoreError::NotFound)?;
                if current.version != expected {
                    return Err(StoreError::VersionConflict);
                }
            }
            self.batch_delete(&comments).await?;
            self.delete_one(post_key(id), expected_version).await?;
        }
        // A comment created between the listing above and the post's deletion would be
        // left without its post; sweep any such straggler.
        let stragglers = self.comment_keys_of(id).await?;
        self.batch_delete(&stragglers).await?;
        Ok(())
    }
}

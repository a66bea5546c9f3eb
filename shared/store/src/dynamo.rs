use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, Put, TransactWriteItem, WriteRequest,
};
use ps_core::model::{CommentDraft, PostDraft};
use ps_core::ports::{CommentRead, CommentWrite, PostRead, PostWrite};
use ps_core::{Comment, Post, StoreError, Versioned};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::DynamoError;
use crate::items::{
    BY_ENTITY_INDEX, BY_PARENT_INDEX, COMMENT, CommentItem, POST, PostItem, comment_key, post_key,
};
use crate::schema::TableNames;

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit on the items of one TransactWriteItems call.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// DynamoDB's limit on the requests of one BatchWriteItem call.
const MAX_BATCH_WRITE: usize = 25;
/// How many ids a create may skip when it finds an id already taken (only items written
/// outside the counter can cause that) before giving up.
const ID_ATTEMPTS: usize = 5;

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

impl DynamoStore {
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

    /// Every item under one index hash key, in id order, following DynamoDB's pages.
    async fn query_index<T: DeserializeOwned>(
        &self,
        index: &str,
        hash_attribute: &str,
        hash_value: String,
        projection: Option<&str>,
    ) -> Result<Vec<T>, DynamoError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.entities)
                .index_name(index)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", hash_attribute)
                .expression_attribute_values(":h", s(hash_value.clone()))
                .set_projection_expression(projection.map(str::to_owned))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(DynamoError::sdk)?;
            for item in out.items.unwrap_or_default() {
                items.push(serde_dynamo::from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// The next id of an entity kind, from an atomic counter in the meta table.
    async fn next_id(&self, entity: &str) -> Result<u64, DynamoError> {
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
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.meta)
            .set_key(Some(pk(format!("counter#{entity}"))))
            .update_expression("SET #v = :floor")
            .condition_expression("attribute_not_exists(#v) OR #v < :floor")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":floor", n(floor))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(DynamoError::sdk(e)),
        }
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

    async fn delete_one(
        &self,
        key: String,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let delete = self.delete_of(key.clone(), expected_version)?;
        let result = self
            .client
            .delete_item()
            .table_name(delete.table_name)
            .set_key(Some(delete.key))
            .set_condition_expression(delete.condition_expression)
            .set_expression_attribute_values(delete.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(self.explain_condition_failure(key).await),
            Err(e) => Err(DynamoError::sdk(e).into()),
        }
    }

    /// Deletes items, each as its own item delete, so each shows in the stream.
    async fn batch_delete(&self, keys: &[String]) -> Result<(), DynamoError> {
        self.batch_write(
            &self.tables.entities,
            keys.iter().map(|k| {
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(pk(k.clone())))
                            .build()
                            .expect("key is set"),
                    )
                    .build()
            }),
        )
        .await
    }

    /// Writes remote posts and comments as they are (version 0: already on the remote), in
    /// batches of 25, and raises the id counters past the highest ids, so new local ids
    /// continue after them.
    pub async fn import(&self, posts: &[Post], comments: &[Comment]) -> Result<(), DynamoError> {
        let mut items: Vec<Item> = Vec::with_capacity(posts.len() + comments.len());
        for post in posts {
            items.push(serde_dynamo::to_item(PostItem::new(post, 0))?);
        }
        for comment in comments {
            items.push(serde_dynamo::to_item(CommentItem::new(comment, 0))?);
        }
        self.batch_write(
            &self.tables.entities,
            items.into_iter().map(|item| {
                WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item is set"),
                    )
                    .build()
            }),
        )
        .await?;
        if let Some(max) = posts.iter().map(|p| p.id).max() {
            self.raise_id_counter(POST, max).await?;
        }
        if let Some(max) = comments.iter().map(|c| c.id).max() {
            self.raise_id_counter(COMMENT, max).await?;
        }
        Ok(())
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

#[async_trait]
impl CommentRead for DynamoStore {
    async fn get_comment(&self, id: u64) -> Result<Option<Versioned<Comment>>, StoreError> {
        Ok(self
            .get::<CommentItem>(comment_key(id))
            .await?
            .map(CommentItem::into_versioned))
    }

    async fn list_comments(
        &self,
        post_id: Option<u64>,
    ) -> Result<Vec<Versioned<Comment>>, StoreError> {
        let items: Vec<CommentItem> = match post_id {
            Some(p) => {
                self.query_index(BY_PARENT_INDEX, "parent", post_key(p), None)
                    .await?
            }
            None => {
                self.query_index(BY_ENTITY_INDEX, "entity", COMMENT.into(), None)
                    .await?
            }
        };
        Ok(items.into_iter().map(CommentItem::into_versioned).collect())
    }
}

#[async_trait]
impl CommentWrite for DynamoStore {
    async fn create_comment(&self, draft: CommentDraft) -> Result<Versioned<Comment>, StoreError> {
        for _ in 0..ID_ATTEMPTS {
            let comment = draft.clone().with_id(self.next_id(COMMENT).await?);
            let item =
                serde_dynamo::to_item(CommentItem::new(&comment, 1)).map_err(DynamoError::from)?;
            // The post must exist when the comment is written, in the same transaction, so a
            // comment can never outlive a concurrently deleted post.
            let post_exists = ConditionCheck::builder()
                .table_name(&self.tables.entities)
                .set_key(Some(pk(post_key(draft.post_id))))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(DynamoError::sdk)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(post_exists)
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .put(self.put_new(item)?)
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(Versioned {
                        value: comment,
                        version: 1,
                    });
                }
                Err(e) => match cancellation_codes(&e).as_deref() {
                    Some([parent, _]) if parent == "ConditionalCheckFailed" => {
                        return Err(StoreError::ParentMissing);
                    }
                    Some([_, own]) if own == "ConditionalCheckFailed" => continue,
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
        id: u64,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        self.delete_one(comment_key(id), expected_version).await
    }
}

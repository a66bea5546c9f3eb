//! The first load: the remote's posts and comments written as they are.

use ps_core::{Comment, Post};

use super::{DynamoStore, Item};
use crate::DynamoError;
use crate::items::{COMMENT, CommentItem, POST, PostItem};
use aws_sdk_dynamodb::types::WriteRequest;

impl DynamoStore {
    /// Writes remote posts and comments as they are (version 0: already on the remote), in
    /// batches of 25, and raises the id counters past the highest ids, so new local ids
    /// continue after them. The batches keep no counters: they are set from the records
    /// after.
    pub async fn import(&self, posts: &[Post], comments: &[Comment]) -> Result<(), DynamoError> {
        if posts.is_empty() && comments.is_empty() {
            // Nothing changes, so no counter does: write nothing.
            return Ok(());
        }
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
        self.recount::<Post>().await?;
        self.recount::<Comment>().await?;
        if let Some(max) = posts.iter().map(|p| p.id).max() {
            self.raise_id_counter(POST, max).await?;
        }
        if let Some(max) = comments.iter().map(|c| c.id).max() {
            self.raise_id_counter(COMMENT, max).await?;
        }
        Ok(())
    }
}

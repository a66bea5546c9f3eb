//! Change events on an SQS FIFO queue. The message group is the post (so a post and its
//! comments stay in order), the deduplication id the stream record's `eventID` (so a
//! redelivered stream batch is not enqueued twice). The dead-letter queue takes what keeps
//! failing: changes the sync parks there itself, and any message the queue's redrive policy
//! moves after too many receives (one the sync could not even journal).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
pub use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use ps_core::change::{ChangeEvent, EntityKey};
use ps_core::ports::{ChangeSink, ChangeSource, PortError, QueuedChange};
use serde::Serialize;

/// SQS's limit on the entries of one batch call.
pub const MAX_BATCH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS request failed: {0}")]
    Sdk(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl QueueError {
    fn sdk<E: std::error::Error + 'static>(e: E) -> Self {
        QueueError::Sdk(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}

impl From<QueueError> for PortError {
    fn from(e: QueueError) -> Self {
        PortError(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct QueueUrls {
    pub changes: String,
    pub dead_letters: String,
    /// Where the stream's event source mapping reports the batches it gave up on (the
    /// template's on-failure destination); counted by the status when known.
    pub capture_failures: Option<String>,
}

impl QueueUrls {
    /// `CHANGE_QUEUE_URL`, `DEAD_LETTER_QUEUE_URL` and, if set, `CAPTURE_FAILURE_QUEUE_URL`.
    pub fn from_env() -> Result<Self, QueueError> {
        let var =
            |n: &str| std::env::var(n).map_err(|_| QueueError::Config(format!("{n} is not set")));
        Ok(QueueUrls {
            changes: var("CHANGE_QUEUE_URL")?,
            dead_letters: var("DEAD_LETTER_QUEUE_URL")?,
            capture_failures: std::env::var("CAPTURE_FAILURE_QUEUE_URL").ok(),
        })
    }
}

/// Approximate message counts, as SQS reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    pub queued: u64,
    pub in_flight: u64,
    pub dead_lettered: u64,
    /// Stream batches change capture never took (retries exhausted): changes that did not
    /// reach the queue. Anything but 0 needs an operator.
    pub capture_failed: u64,
}

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
    receive_wait_seconds: i32,
}

impl SqsQueue {
    pub fn new(client: Client, urls: QueueUrls) -> Self {
        // Long polling: a short poll samples only some SQS servers and can come back empty
        // while messages wait, which would end a drain early.
        SqsQueue {
            client,
            urls,
            receive_wait_seconds: 1,
        }
    }

    /// How long a receive waits for messages when none are ready (0..=20 s; default 1).
    pub fn with_receive_wait(mut self, seconds: i32) -> Self {
        self.receive_wait_seconds = seconds.clamp(0, 20);
        self
    }

    pub async fn from_env() -> Result<Self, QueueError> {
        let urls = QueueUrls::from_env()?;
        Ok(SqsQueue::new(ps_aws::sqs_from_env().await, urls))
    }

    pub fn urls(&self) -> &QueueUrls {
        &self.urls
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn attribute_counts(&self, url: &str) -> Result<(u64, u64), QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(QueueError::sdk)?;
        let attrs = out.attributes.unwrap_or_default();
        let get =
            |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    pub async fn counts(&self) -> Result<QueueCounts, QueueError> {
        let (queued, in_flight) = self.attribute_counts(&self.urls.changes).await?;
        let (dead, dead_in_flight) = self.attribute_counts(&self.urls.dead_letters).await?;
        let capture_failed = match &self.urls.capture_failures {
            Some(url) => {
                let (waiting, in_flight) = self.attribute_counts(url).await?;
                waiting + in_flight
            }
            None => 0,
        };
        Ok(QueueCounts {
            queued,
            in_flight,
            dead_lettered: dead + dead_in_flight,
            capture_failed,
        })
    }
}

/// The dead-letter queue as a place to put changes: where the sync parks a change that
/// kept failing, in the same shape as a change the redrive policy moved there.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn dead_letters(&self) -> DeadLetterQueue {
        DeadLetterQueue {
            client: self.client.clone(),
            url: self.urls.dead_letters.clone(),
        }
    }
}

#[async_trait]
impl ChangeSink for SqsQueue {
    async fn send(&self, events: &[ChangeEvent]) -> Result<Vec<usize>, PortError> {
        send_batches(&self.client, &self.urls.changes, events, |e| {
            e.event_id.clone()
        })
        .await
    }
}

#[async_trait]
impl ChangeSink for DeadLetterQueue {
    async fn send(&self, events: &[ChangeEvent]) -> Result<Vec<usize>, PortError> {
        // Not the event id: the same change may be parked again after a redrive, and SQS
        // would drop that second copy as a duplicate within its five-minute window.
        let parked_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        send_batches(&self.client, &self.url, events, |e| {
            format!("{}-parked-{parked_at}", e.event_id)
        })
        .await
    }
}

/// What a redrive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redriven {
    /// Parked changes put back on the change queue (and taken off the dead-letter queue).
    pub redriven: u64,
    /// Parked messages left where they are: another entity's, or not a change event.
    pub left: u64,
}

impl SqsQueue {
    /// Moves the parked changes (all, or only `entity`'s) from the dead-letter queue back to
    /// the change queue, where the sync merges each with anything newer for its entity: a
    /// change at or below the newest one the entity took in is a repeat and is ignored, so a
    /// redrive never overwrites a newer change. Each message is sent before it is deleted;
    /// two redrives at once each receive other messages (SQS hides a received one), and a
    /// change sent twice (a delete that failed) is only a repeat the merge skips.
    pub async fn redrive(&self, entity: Option<EntityKey>) -> Result<Redriven, QueueError> {
        let mut done = Redriven::default();
        let mut left_hidden = Vec::new();
        loop {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.urls.dead_letters)
                .max_number_of_messages(MAX_BATCH as i32)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(QueueError::sdk)?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut moving = Vec::new();
            for m in messages {
                let (Some(receipt), Some(body)) = (m.receipt_handle, m.body) else {
                    continue;
                };
                match serde_json::from_str::<ChangeEvent>(&body) {
                    Ok(event) if entity.is_none_or(|k| k == event.key) => {
                        let dedup = format!(
                            "{}-redrive-{}",
                            event.event_id,
                            m.message_id.unwrap_or_default()
                        );
                        moving.push((receipt, event, dedup));
                    }
                    _ => left_hidden.push(receipt),
                }
            }
            if moving.is_empty() {
                continue;
            }
            let events: Vec<ChangeEvent> = moving.iter().map(|(_, e, _)| e.clone()).collect();
            let dedups: HashMap<String, String> = moving
                .iter()
                .map(|(_, e, d)| (e.event_id.clone(), d.clone()))
                .collect();
            let failed = send_batches(&self.client, &self.urls.changes, &events, |e| {
                dedups
                    .get(&e.event_id)
                    .cloned()
                    .unwrap_or_else(|| e.event_id.clone())
            })
            .await
            .map_err(|e| QueueError::Sdk(e.0))?;
            let sent: Vec<String> = moving
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !failed.contains(i))
                .map(|(_, (receipt, _, _))| receipt)
                .collect();
            done.redriven += sent.len() as u64;
            delete_batches(&self.client, &self.urls.dead_letters, &sent).await?;
        }
        // What was received and left is visible again at once, not after the timeout.
        done.left = left_hidden.len() as u64;
        for chunk in left_hidden.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(QueueError::sdk)?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.urls.dead_letters)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(QueueError::sdk)?;
        }
        Ok(done)
    }
}

/// Deletes received messages in batches of ten.
async fn delete_batches(client: &Client, url: &str, receipts: &[String]) -> Result<(), QueueError> {
    for chunk in receipts.chunks(MAX_BATCH) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(QueueError::sdk)?;
        let out = client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(QueueError::sdk)?;
        if let Some(f) = out.failed().first() {
            // The effect is recorded, so a redelivery is only a repeat the merge skips.
            tracing::warn!(
                code = f.code(),
                "a processed message was not deleted; it will be skipped when redelivered"
            );
        }
    }
    Ok(())
}

/// Sends in batches of ten; returns the indexes of the events SQS did not take.
async fn send_batches(
    client: &Client,
    url: &str,
    events: &[ChangeEvent],
    deduplication_id: impl Fn(&ChangeEvent) -> String,
) -> Result<Vec<usize>, PortError> {
    let mut failed = Vec::new();
    for (chunk_no, chunk) in events.chunks(MAX_BATCH).enumerate() {
        let offset = chunk_no * MAX_BATCH;
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, event) in chunk.iter().enumerate() {
            let body = serde_json::to_string(event).map_err(|e| PortError(e.to_string()))?;
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id((offset + i).to_string())
                    .message_body(body)
                    .message_group_id(event.group())
                    .message_deduplication_id(deduplication_id(event))
                    .build()
                    .map_err(|e| PortError(e.to_string()))?,
            );
        }
        let out = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(QueueError::sdk)?;
        for failure in out.failed() {
            tracing::warn!(id = failure.id(), code = failure.code(), message = ?failure.message(), "change not enqueued");
            failed.extend(failure.id().parse::<usize>().ok());
        }
    }
    failed.sort_unstable();
    Ok(failed)
}

#[async_trait]
impl ChangeSource for SqsQueue {
    async fn receive(&self, max: usize) -> Result<Vec<QueuedChange>, PortError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.urls.changes)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .wait_time_seconds(self.receive_wait_seconds)
            .send()
            .await
            .map_err(QueueError::sdk)?;
        let mut changes = Vec::new();
        for message in out.messages.unwrap_or_default() {
            let (Some(receipt), Some(body)) = (message.receipt_handle, message.body) else {
                continue;
            };
            match serde_json::from_str::<ChangeEvent>(&body) {
                Ok(event) => changes.push(QueuedChange { receipt, event }),
                // Not ours to understand: left alone, it reaches the DLQ by the redrive policy.
                Err(e) => tracing::error!(error = %e, "a queued message is not a change event"),
            }
        }
        Ok(changes)
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), PortError> {
        Ok(delete_batches(&self.client, &self.urls.changes, receipts).await?)
    }
}

/// The queues of the local stack and the tests, as the template declares them: a FIFO
/// queue whose redrive policy sends a message to the FIFO dead-letter queue after
/// `max_receive_count` receives, and the standard queue of capture's failures.
pub async fn create_queues(
    client: &Client,
    name_prefix: &str,
    visibility_timeout_seconds: u32,
    max_receive_count: u32,
) -> Result<QueueUrls, QueueError> {
    let fifo = |extra: &[(QueueAttributeName, String)]| {
        let mut attrs = HashMap::from([(QueueAttributeName::FifoQueue, "true".to_owned())]);
        attrs.extend(extra.iter().cloned());
        attrs
    };
    let dlq = client
        .create_queue()
        .queue_name(format!("{name_prefix}changes-dlq.fifo"))
        .set_attributes(Some(fifo(&[(
            QueueAttributeName::MessageRetentionPeriod,
            "1209600".into(),
        )])))
        .send()
        .await
        .map_err(QueueError::sdk)?;
    let dlq_url = dlq.queue_url.unwrap_or_default();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(QueueError::sdk)?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
            .to_string();
    let main = client
        .create_queue()
        .queue_name(format!("{name_prefix}changes.fifo"))
        .set_attributes(Some(fifo(&[
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_seconds.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive),
        ])))
        .send()
        .await
        .map_err(QueueError::sdk)?;
    let capture_failures = client
        .create_queue()
        .queue_name(format!("{name_prefix}capture-failures"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(QueueError::sdk)?;
    Ok(QueueUrls {
        changes: main.queue_url.unwrap_or_default(),
        dead_letters: dlq_url,
        capture_failures: capture_failures.queue_url,
    })
}

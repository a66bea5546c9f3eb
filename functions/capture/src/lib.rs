//! Change capture: every INSERT, MODIFY and REMOVE of a post or comment in the entities
//! table's stream becomes a change event on the queue. On a failure it reports the first
//! record not enqueued, so the stream retries from exactly there; nothing is skipped.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey, SequenceNumber};
use ps_core::ports::ChangeSink;
use ps_store::items::{COMMENT, CommentItem, POST, PostItem};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("record {0} has no sequence number, or not a decimal one")]
    NoSequence(String),
    #[error("record {event_id} has an item that is not a post or comment: {reason}")]
    Undecodable { event_id: String, reason: String },
}

#[derive(Deserialize)]
struct Header {
    entity: Option<String>,
    version: Option<u64>,
}

fn decode(
    image: &serde_dynamo::Item,
    event_id: &str,
) -> Result<Option<(EntityData, u64)>, CaptureError> {
    let undecodable = |e: serde_dynamo::Error| CaptureError::Undecodable {
        event_id: event_id.to_owned(),
        reason: e.to_string(),
    };
    let header: Header = serde_dynamo::from_item(image.clone()).map_err(undecodable)?;
    let (Some(entity), Some(_)) = (header.entity.as_deref(), header.version) else {
        // A keys-only image (some emulators emit one before the full INSERT): no data to sync.
        return Ok(None);
    };
    Ok(Some(match entity {
        POST => {
            let item: PostItem = serde_dynamo::from_item(image.clone()).map_err(undecodable)?;
            let version = item.version;
            (EntityData::Post(item.into_versioned().value), version)
        }
        COMMENT => {
            let item: CommentItem = serde_dynamo::from_item(image.clone()).map_err(undecodable)?;
            let version = item.version;
            (EntityData::Comment(item.into_versioned().value), version)
        }
        other => {
            return Err(CaptureError::Undecodable {
                event_id: event_id.to_owned(),
                reason: format!("entity {other:?}"),
            });
        }
    }))
}

/// The change event for a stream record, or `None` when it carries no change to sync: an
/// import (version 0 is already on the remote), a rewrite of identical data, a keys-only image.
pub fn change_event(record: &EventRecord) -> Result<Option<ChangeEvent>, CaptureError> {
    let sequence: SequenceNumber = record
        .change
        .sequence_number
        .as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CaptureError::NoSequence(record.event_id.clone()))?;
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        _ => return Ok(None),
    };
    let (image, after_image) = match kind {
        ChangeKind::Remove => (&record.change.old_image, None),
        _ => (&record.change.new_image, Some(&record.change.new_image)),
    };
    let Some((data, version)) = decode(image, &record.event_id)? else {
        return Ok(None);
    };
    if kind == ChangeKind::Insert && version == 0 {
        return Ok(None);
    }
    if kind == ChangeKind::Modify {
        if let Some((old, old_version)) = decode(&record.change.old_image, &record.event_id)? {
            if old == data && old_version == version {
                return Ok(None);
            }
        }
    }
    let key: EntityKey = data.key();
    let post_id = match &data {
        EntityData::Post(p) => p.id,
        EntityData::Comment(c) => c.post_id,
    };
    Ok(Some(ChangeEvent {
        key,
        change: kind,
        post_id,
        after: after_image.map(|_| data),
        version,
        sequence,
        event_id: record.event_id.clone(),
    }))
}

fn failure_at(sequence: Option<&String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = sequence.cloned();
    response.batch_item_failures.push(failure);
    response
}

/// Captures a stream batch. The response names the first record that did not reach the
/// queue (if any); the stream redelivers from there, and the queue's deduplication on
/// `eventID` drops whatever of the redelivery was already enqueued.
pub async fn handle(event: Event, sink: &dyn ChangeSink) -> DynamoDbEventResponse {
    let mut events = Vec::new();
    let mut sequences = Vec::new();
    // The first record that cannot be captured, by its sequence number: the point the
    // stream retries from. A record without one is named by none, which Lambda takes as a
    // failure of the whole batch (never as success, which would drop the rest).
    let mut first_bad: Option<Option<&String>> = None;
    for record in &event.records {
        match change_event(record) {
            Ok(Some(e)) => {
                sequences.push(record.change.sequence_number.clone());
                events.push(e);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "stream record not captured");
                first_bad = Some(record.change.sequence_number.as_ref());
                break;
            }
        }
    }
    let response = match sink.send(&events).await {
        Ok(failed) => match (failed.first(), first_bad) {
            (Some(&i), _) => failure_at(sequences[i].as_ref()),
            (None, Some(seq)) => failure_at(seq),
            (None, None) => DynamoDbEventResponse::default(),
        },
        Err(e) => {
            tracing::error!(error = %e, "changes not enqueued");
            failure_at(
                event
                    .records
                    .first()
                    .and_then(|r| r.change.sequence_number.as_ref()),
            )
        }
    };
    tracing::info!(
        records = event.records.len(),
        enqueued = events.len(),
        failed = !response.batch_item_failures.is_empty(),
        "captured"
    );
    response
}

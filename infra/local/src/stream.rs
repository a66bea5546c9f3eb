//! Reading a table's DynamoDB stream as the Lambda event source mapping does: shard by shard,
//! from the start (TRIM_HORIZON), each record handed on once it is accepted.
//!
//! Every read takes a fresh shard iterator from the last accepted position
//! (`AFTER_SEQUENCE_NUMBER`) instead of following `NextShardIterator`. On AWS iterators expire
//! after 15 minutes; on moto a cancelled `TransactWriteItems` swaps the table (stream
//! included) for a copy, and an iterator taken before reads the discarded copy for ever: the
//! rolled-back write as a phantom record, then nothing (see the README's notes on moto). A
//! fresh iterator per read is right on both.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::LocalError;

/// How long after a read the confirming read comes (see [`StreamReader::read_shard`]).
const CONFIRM_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// GetRecords' largest page.
pub const MAX_RECORDS: i32 = 1000;

pub(crate) fn sdk<E: std::error::Error + 'static>(e: E) -> LocalError {
    LocalError::Config(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())
}

/// The Lambda event record for a stream record.
pub fn event_record(record: &Record, stream_arn: &str, region: &str) -> Value {
    let change = record.dynamodb();
    let image = |m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        m.map(|m| serde_json::to_value(serde_dynamo::Item::from(m.clone())).unwrap_or(Value::Null))
            .unwrap_or(Value::Null)
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time()).map(|t| t.secs()).unwrap_or(0),
        "Keys": image(change.and_then(|c| c.keys.as_ref())),
        "SequenceNumber": change.and_then(|c| c.sequence_number()),
        "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or(0),
        "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|v| v.as_str().to_owned()),
    });
    let new_image = image(change.and_then(|c| c.new_image.as_ref()));
    if !new_image.is_null() {
        dynamodb["NewImage"] = new_image;
    }
    let old_image = image(change.and_then(|c| c.old_image.as_ref()));
    if !old_image.is_null() {
        dynamodb["OldImage"] = old_image;
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str().to_owned()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

/// The sequence number of a stream record.
pub fn sequence_of(record: &Record) -> Option<&str> {
    record.dynamodb().and_then(|d| d.sequence_number())
}

/// Where reading a shard goes on from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Position {
    /// The last record accepted; `None` before the first (read from TRIM_HORIZON).
    after: Option<String>,
    /// A closed shard read to its end: nothing more will come.
    finished: bool,
}

/// A table's stream, with the position reached in each shard.
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    shards: BTreeMap<String, Position>,
    /// Positions to resume from, applied to each shard when it is discovered.
    resume_from: HashMap<String, String>,
}

impl StreamReader {
    pub async fn open(client: Client, table: &str) -> Result<Self, LocalError> {
        let streams = client
            .list_streams()
            .table_name(table)
            .send()
            .await
            .map_err(sdk)?;
        let stream_arn = streams
            .streams()
            .first()
            .and_then(|s| s.stream_arn())
            .ok_or_else(|| LocalError::Config(format!("table {table} has no stream")))?
            .to_owned();
        Ok(StreamReader {
            client,
            stream_arn,
            shards: BTreeMap::new(),
            resume_from: HashMap::new(),
        })
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// The shards known now (newly split ones included), in id order.
    pub async fn shard_ids(&mut self) -> Result<Vec<String>, LocalError> {
        let description = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(sdk)?;
        for shard in description
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
        {
            if let Some(id) = shard.shard_id() {
                if !self.shards.contains_key(id) {
                    let after = self.resume_from.remove(id);
                    self.shards.insert(
                        id.to_owned(),
                        Position {
                            after,
                            finished: false,
                        },
                    );
                }
            }
        }
        Ok(self.shards.keys().cloned().collect())
    }

    /// Up to `limit` records of `shard` after its position, through a fresh iterator. Does
    /// not move the position: [`StreamReader::accept`] does, once they are handed on.
    ///
    /// Records are handed on only once a second read, a moment later, returns them too: a
    /// read that races moto's roll-back of a cancelled transaction can return the
    /// rolled-back write (a phantom record, gone from the real stream), and taking its
    /// sequence number as the position would skip the real record that reuses it.
    pub async fn read_shard(&mut self, shard: &str, limit: i32) -> Result<Vec<Record>, LocalError> {
        let Some(position) = self.shards.get(shard).cloned() else {
            return Ok(Vec::new());
        };
        if position.finished {
            return Ok(Vec::new());
        }
        let (first, closed) = self.read_once(shard, &position, limit).await?;
        if first.is_empty() {
            if closed {
                // A closed shard with nothing after the position.
                if let Some(p) = self.shards.get_mut(shard) {
                    p.finished = true;
                }
            }
            return Ok(first);
        }
        tokio::time::sleep(CONFIRM_AFTER).await;
        let (second, _) = self.read_once(shard, &position, limit).await?;
        let agreed = first
            .iter()
            .zip(&second)
            .take_while(|(a, b)| a.event_id() == b.event_id() && sequence_of(a) == sequence_of(b))
            .count();
        if agreed < first.len() {
            tracing::warn!(
                shard,
                read = first.len(),
                confirmed = agreed,
                "records that a second read did not return were not handed on"
            );
        }
        Ok(first.into_iter().take(agreed).collect())
    }

    /// One read after `position` through a fresh iterator, and whether the shard is closed.
    async fn read_once(
        &self,
        shard: &str,
        position: &Position,
        limit: i32,
    ) -> Result<(Vec<Record>, bool), LocalError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard);
        let request = match &position.after {
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
        };
        let Some(iterator) = request.send().await.map_err(sdk)?.shard_iterator else {
            return Ok((Vec::new(), false));
        };
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit.clamp(1, MAX_RECORDS))
            .send()
            .await
            .map_err(sdk)?;
        let records = out.records.unwrap_or_default();
        let closed = records.is_empty() && out.next_shard_iterator.is_none();
        Ok((records, closed))
    }

    /// The last record accepted in each shard that has one.
    pub fn positions(&self) -> BTreeMap<String, String> {
        self.shards
            .iter()
            .filter_map(|(shard, p)| Some((shard.clone(), p.after.clone()?)))
            .collect()
    }

    /// Goes on after these positions (from [`StreamReader::positions`]), in the shards the
    /// stream still has.
    pub fn resume(&mut self, positions: BTreeMap<String, String>) {
        self.resume_from.extend(positions);
    }

    /// Moves the shard's position past the record with `sequence`: it was handed on.
    pub fn accept(&mut self, shard: &str, sequence: &str) {
        if let Some(p) = self.shards.get_mut(shard) {
            p.after = Some(sequence.to_owned());
        }
    }

    /// Everything new on the stream, accepted at once, as a Lambda DynamoDB stream event
    /// (`{"Records": [...]}`).
    pub async fn read_event(&mut self, region: &str) -> Result<Value, LocalError> {
        let mut records = Vec::new();
        for shard in self.shard_ids().await? {
            loop {
                let batch = self.read_shard(&shard, MAX_RECORDS).await?;
                let Some(last) = batch.last().and_then(sequence_of) else {
                    break;
                };
                self.accept(&shard, last);
                records.extend(
                    batch
                        .iter()
                        .map(|r| event_record(r, &self.stream_arn, region)),
                );
            }
        }
        Ok(json!({ "Records": records }))
    }
}

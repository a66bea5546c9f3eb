//! A local stand-in for the Lambda event source mapping on the entities table's stream:
//! polls DynamoDB Streams, hands each batch to the capture function (through the Lambda
//! Invoke API) in the DynamoDB stream event shape, and, like the mapping with
//! `ReportBatchItemFailures`, retries from the first record the function reports as failed.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::LocalError;

const POLL: Duration = Duration::from_millis(500);

fn sdk<E: std::error::Error + 'static>(e: E) -> LocalError {
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

/// Reads a table's stream, shard by shard, from the start (TRIM_HORIZON).
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    /// Shard id → the iterator to read next (`None` once a closed shard is read out).
    shards: HashMap<String, Option<String>>,
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
            shards: HashMap::new(),
        })
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    async fn discover_shards(&mut self) -> Result<(), LocalError> {
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
            let Some(id) = shard.shard_id() else { continue };
            if self.shards.contains_key(id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(sdk)?
                .shard_iterator;
            self.shards.insert(id.to_owned(), iterator);
        }
        Ok(())
    }

    /// The next records of one shard (up to 100), if it has any.
    pub async fn read_shard(&mut self, shard: &str) -> Result<Vec<Record>, LocalError> {
        let Some(Some(iterator)) = self.shards.get(shard).cloned() else {
            return Ok(Vec::new());
        };
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(100)
            .send()
            .await
            .map_err(sdk)?;
        self.shards
            .insert(shard.to_owned(), out.next_shard_iterator);
        Ok(out.records.unwrap_or_default())
    }

    /// The shards known now (newly split ones included).
    pub async fn shard_ids(&mut self) -> Result<Vec<String>, LocalError> {
        self.discover_shards().await?;
        let mut ids: Vec<String> = self.shards.keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }

    /// Everything new on the stream, as a Lambda DynamoDB stream event (`{"Records": [...]}`).
    pub async fn read_event(&mut self, region: &str) -> Result<Value, LocalError> {
        let mut records = Vec::new();
        for shard in self.shard_ids().await? {
            loop {
                let batch = self.read_shard(&shard).await?;
                if batch.is_empty() {
                    break;
                }
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

/// Polls the table's stream for ever, invoking `function` at `invoke_base`.
pub async fn run(
    client: Client,
    table: &str,
    invoke_base: &str,
    function: &str,
    region: &str,
) -> Result<(), LocalError> {
    let mut reader = StreamReader::open(client, table).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| LocalError::Config(e.to_string()))?;
    let url = format!("{invoke_base}/2015-03-31/functions/{function}/invocations");
    // Records handed over but not yet accepted by the function, per shard.
    let mut pending: HashMap<String, Vec<Record>> = HashMap::new();
    tracing::info!(stream_arn = %reader.stream_arn(), "pumping the stream");
    loop {
        for shard in reader.shard_ids().await? {
            let batch = pending.entry(shard.clone()).or_default();
            if batch.is_empty() {
                *batch = reader.read_shard(&shard).await?;
            }
            if batch.is_empty() {
                continue;
            }
            let records: Vec<Value> = batch
                .iter()
                .map(|r| event_record(r, reader.stream_arn(), region))
                .collect();
            match http
                .post(&url)
                .json(&json!({ "Records": records }))
                .send()
                .await
            {
                Ok(r)
                    if r.status().is_success()
                        && !r.headers().contains_key("x-amz-function-error") =>
                {
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    match body["batchItemFailures"][0]["itemIdentifier"].as_str() {
                        None => batch.clear(),
                        Some(sequence) => {
                            tracing::warn!(%sequence, "capture reported a failure; retrying from there");
                            let from = batch.iter().position(|r| {
                                r.dynamodb().and_then(|d| d.sequence_number()) == Some(sequence)
                            });
                            batch.drain(..from.unwrap_or(0));
                        }
                    }
                }
                Ok(r) => tracing::warn!(status = %r.status(), "capture failed; retrying the batch"),
                Err(e) => tracing::warn!(error = %e, "capture not reachable; retrying the batch"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A local stand-in for the EventBridge schedule: invokes `function` every `interval` with
/// the scheduled event shape.
pub async fn schedule(
    invoke_base: &str,
    function: &str,
    interval: Duration,
    region: &str,
) -> Result<(), LocalError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .map_err(|e| LocalError::Config(e.to_string()))?;
    let url = format!("{invoke_base}/2015-03-31/functions/{function}/invocations");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let event = json!({
            "version": "0",
            "id": format!("local-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": "1970-01-01T00:00:00Z",
            "region": region,
            "resources": [format!("arn:aws:events:{region}:000000000000:rule/placeholder-sync-local")],
            "detail": {}
        });
        match http.post(&url).json(&event).send().await {
            Ok(r) => {
                tracing::info!(status = %r.status(), reply = %r.text().await.unwrap_or_default(), "scheduled sync")
            }
            Err(e) => tracing::warn!(error = %e, "scheduled sync not reachable"),
        }
    }
}

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

struct Shard {
    iterator: Option<String>,
    /// Records handed over but not yet accepted by the function.
    pending: Vec<Record>,
}

/// Polls the table's stream for ever, invoking `function` at `invoke_base`.
pub async fn run(
    client: Client,
    table: &str,
    invoke_base: &str,
    function: &str,
    region: &str,
) -> Result<(), LocalError> {
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
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| LocalError::Config(e.to_string()))?;
    let url = format!("{invoke_base}/2015-03-31/functions/{function}/invocations");
    let mut shards: HashMap<String, Shard> = HashMap::new();
    tracing::info!(%stream_arn, "pumping the stream");
    loop {
        let description = client
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .map_err(sdk)?;
        for shard in description
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
        {
            let Some(id) = shard.shard_id() else { continue };
            if shards.contains_key(id) {
                continue;
            }
            let iterator = client
                .get_shard_iterator()
                .stream_arn(&stream_arn)
                .shard_id(id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(sdk)?
                .shard_iterator;
            shards.insert(
                id.to_owned(),
                Shard {
                    iterator,
                    pending: Vec::new(),
                },
            );
        }
        for shard in shards.values_mut() {
            if shard.pending.is_empty() {
                let Some(iterator) = shard.iterator.clone() else {
                    continue;
                };
                let out = client
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(100)
                    .send()
                    .await
                    .map_err(sdk)?;
                shard.iterator = out.next_shard_iterator;
                shard.pending = out.records.unwrap_or_default();
            }
            if shard.pending.is_empty() {
                continue;
            }
            let records: Vec<Value> = shard
                .pending
                .iter()
                .map(|r| event_record(r, &stream_arn, region))
                .collect();
            let reply = http
                .post(&url)
                .json(&json!({ "Records": records }))
                .send()
                .await;
            match reply {
                Ok(r)
                    if r.status().is_success()
                        && !r.headers().contains_key("x-amz-function-error") =>
                {
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    let failed_at = body["batchItemFailures"][0]["itemIdentifier"]
                        .as_str()
                        .map(str::to_owned);
                    match failed_at {
                        None => shard.pending.clear(),
                        Some(sequence) => {
                            tracing::warn!(%sequence, "capture reported a failure; retrying from there");
                            let from = shard.pending.iter().position(|r| {
                                r.dynamodb().and_then(|d| d.sequence_number())
                                    == Some(sequence.as_str())
                            });
                            shard.pending.drain(..from.unwrap_or(0));
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

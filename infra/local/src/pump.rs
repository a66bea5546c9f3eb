//! A local stand-in for the Lambda event source mapping on the entities table's stream, as
//! the template configures it (`ReportBatchItemFailures`, `BisectBatchOnFunctionError`,
//! `MaximumRetryAttempts`, an on-failure queue): polls the stream, hands each batch to the
//! capture function through the Lambda Invoke API, goes on after the records it accepted,
//! retries from the first record it reports as failed, and after the last retry sends the
//! batch's description to the on-failure queue and moves past it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodbstreams::Client;
use serde_json::{Value, json};

use crate::LocalError;
use crate::stream::{StreamReader, event_record, sequence_of};

const POLL: Duration = Duration::from_millis(500);
/// The template's `BatchSize`.
pub const BATCH_SIZE: i32 = 100;
/// The template's `MaximumRetryAttempts`: retries of a failing batch before it is given up.
pub const MAX_RETRY_ATTEMPTS: u32 = 10;

/// What the function answered for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// No batch item failures.
    Accepted,
    /// A batch item failure naming this record (`None`: no usable identifier, which Lambda
    /// takes as a failure of the whole batch).
    FailedFrom(Option<String>),
    /// The function returned an error (or an answer that is not a response).
    Error,
    /// The function could not be invoked (not started yet): not an attempt.
    Unreachable,
}

/// What the mapping does with a shard after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first `n` records are done: read on after them.
    Advance(usize),
    /// Read again from the same record.
    Retry,
    /// Retries are exhausted: the first `n` records go to the on-failure destination and
    /// reading goes on after them.
    GiveUp(usize),
}

/// A shard's failures at its current record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrying {
    /// Failed invocations starting at the current record.
    pub attempts: u32,
    /// The batch size now (halved on each whole-batch failure, as bisecting does).
    pub limit: i32,
}

impl Default for Retrying {
    fn default() -> Self {
        Retrying {
            attempts: 0,
            limit: BATCH_SIZE,
        }
    }
}

/// The mapping's rule: given the batch's sequence numbers and the function's answer, what
/// happens next, and the shard's retry state after it.
pub fn decide(sequences: &[&str], answer: &Answer, state: &mut Retrying) -> Step {
    let failed_at = match answer {
        Answer::Unreachable => return Step::Retry,
        Answer::Accepted => {
            *state = Retrying::default();
            return Step::Advance(sequences.len());
        }
        Answer::FailedFrom(Some(id)) => sequences.iter().position(|s| s == id),
        Answer::FailedFrom(None) | Answer::Error => None,
    };
    match failed_at {
        // Progress: the records before the failed one are done; it starts the next batch,
        // having failed once.
        Some(i) if i > 0 => {
            *state = Retrying {
                attempts: 1,
                limit: BATCH_SIZE,
            };
            Step::Advance(i)
        }
        // The first record failed: it alone is given up when retries run out.
        Some(_) => {
            state.attempts += 1;
            if state.attempts > MAX_RETRY_ATTEMPTS {
                *state = Retrying::default();
                Step::GiveUp(1)
            } else {
                Step::Retry
            }
        }
        // The whole batch failed: bisect, so the bad record ends up alone.
        None => {
            state.attempts += 1;
            state.limit = (state.limit / 2).max(1);
            if state.attempts > MAX_RETRY_ATTEMPTS {
                *state = Retrying::default();
                Step::GiveUp(sequences.len())
            } else {
                Step::Retry
            }
        }
    }
}

/// The function's answer, from the Invoke API's response.
async fn answer_of(response: Result<reqwest::Response, reqwest::Error>) -> Answer {
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "capture not reachable; retrying the batch");
            return Answer::Unreachable;
        }
    };
    if !response.status().is_success() || response.headers().contains_key("x-amz-function-error") {
        tracing::warn!(status = %response.status(), "capture failed; retrying the batch");
        return Answer::Error;
    }
    let Ok(body) = response.json::<Value>().await else {
        return Answer::Error;
    };
    match body.get("batchItemFailures").and_then(Value::as_array) {
        None => Answer::Accepted,
        Some(failures) if failures.is_empty() => Answer::Accepted,
        Some(failures) => Answer::FailedFrom(
            failures[0]["itemIdentifier"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        ),
    }
}

/// The on-failure record Lambda sends for a stream batch it gave up on.
fn on_failure_record(
    stream_arn: &str,
    shard: &str,
    first: Option<&str>,
    last: Option<&str>,
    size: usize,
) -> Value {
    json!({
        "requestContext": {
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": MAX_RETRY_ATTEMPTS + 1,
        },
        "version": "1.0",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": first,
            "endSequenceNumber": last,
            "batchSize": size,
            "streamArn": stream_arn,
        }
    })
}

/// Where the mapping sends what it gave up on.
pub struct OnFailure {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// Where the mapping keeps its positions, so that a restarted pump goes on where it was (as
/// the event source mapping's checkpoint survives its function) instead of from the start.
pub struct Checkpoint {
    pub file: std::path::PathBuf,
}

impl Checkpoint {
    fn load(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Written whole or not at all (a temporary file renamed over it).
    fn save(&self, positions: &BTreeMap<String, String>) -> Result<(), LocalError> {
        let partial = self.file.with_extension("partial");
        std::fs::write(&partial, serde_json::to_vec(positions).unwrap_or_default())?;
        std::fs::rename(&partial, &self.file)?;
        Ok(())
    }
}

/// Polls the table's stream for ever, invoking `function` at `invoke_base`.
pub async fn run(
    client: Client,
    table: &str,
    invoke_base: &str,
    function: &str,
    region: &str,
    on_failure: Option<OnFailure>,
    checkpoint: Option<Checkpoint>,
) -> Result<(), LocalError> {
    let mut reader = StreamReader::open(client, table).await?;
    if let Some(checkpoint) = &checkpoint {
        reader.resume(checkpoint.load());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| LocalError::Config(e.to_string()))?;
    let url = format!("{invoke_base}/2015-03-31/functions/{function}/invocations");
    let mut retrying: HashMap<String, Retrying> = HashMap::new();
    tracing::info!(stream_arn = %reader.stream_arn(), "pumping the stream");
    loop {
        for shard in reader.shard_ids().await? {
            let state = retrying.entry(shard.clone()).or_default();
            let batch = reader.read_shard(&shard, state.limit).await?;
            if batch.is_empty() {
                continue;
            }
            let records: Vec<Value> = batch
                .iter()
                .map(|r| event_record(r, reader.stream_arn(), region))
                .collect();
            let answer = answer_of(
                http.post(&url)
                    .json(&json!({ "Records": records }))
                    .send()
                    .await,
            )
            .await;
            let sequences: Vec<&str> = batch.iter().filter_map(sequence_of).collect();
            match decide(&sequences, &answer, state) {
                Step::Retry => {
                    tracing::warn!(
                        ?answer,
                        attempts = state.attempts,
                        "capture did not take the batch; retrying"
                    )
                }
                Step::Advance(n) => {
                    if let Some(last) = sequences.get(n.wrapping_sub(1)) {
                        reader.accept(&shard, last);
                    }
                }
                Step::GiveUp(n) => {
                    let (first, last) = (sequences.first().copied(), sequences.get(n - 1).copied());
                    tracing::error!(
                        ?first,
                        ?last,
                        records = n,
                        "retries exhausted: the batch goes to the on-failure queue"
                    );
                    if let Some(dest) = &on_failure {
                        let record = on_failure_record(reader.stream_arn(), &shard, first, last, n);
                        let sent = dest
                            .client
                            .send_message()
                            .queue_url(&dest.queue_url)
                            .message_body(record.to_string())
                            .send()
                            .await;
                        if let Err(e) = sent {
                            // As Lambda does when its destination fails: the batch is retried.
                            tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "on-failure queue refused the record; retrying the batch");
                            continue;
                        }
                    }
                    if let Some(last) = last {
                        reader.accept(&shard, last);
                    }
                }
            }
        }
        if let Some(checkpoint) = &checkpoint {
            checkpoint.save(&reader.positions())?;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: [&str; 4] = ["1", "2", "3", "4"];

    #[test]
    fn an_accepted_batch_advances_past_its_last_record() {
        let mut state = Retrying::default();
        assert_eq!(
            decide(&SEQ, &Answer::Accepted, &mut state),
            Step::Advance(4)
        );
        assert_eq!(state, Retrying::default());
    }

    #[test]
    fn a_failure_in_the_middle_accepts_the_records_before_it() {
        let mut state = Retrying::default();
        let answer = Answer::FailedFrom(Some("3".into()));
        assert_eq!(decide(&SEQ, &answer, &mut state), Step::Advance(2));
        assert_eq!(state.attempts, 1);
    }

    #[test]
    fn a_failure_without_identifier_fails_the_whole_batch_and_bisects() {
        for answer in [
            Answer::FailedFrom(None),
            Answer::FailedFrom(Some("unknown".into())),
            Answer::Error,
        ] {
            let mut state = Retrying::default();
            assert_eq!(decide(&SEQ, &answer, &mut state), Step::Retry, "{answer:?}");
            assert_eq!((state.attempts, state.limit), (1, BATCH_SIZE / 2));
        }
    }

    #[test]
    fn a_record_that_keeps_failing_is_given_up_alone_after_the_last_retry() {
        let mut state = Retrying::default();
        let answer = Answer::FailedFrom(Some("1".into()));
        for _ in 0..MAX_RETRY_ATTEMPTS {
            assert_eq!(decide(&SEQ, &answer, &mut state), Step::Retry);
        }
        assert_eq!(decide(&SEQ, &answer, &mut state), Step::GiveUp(1));
        assert_eq!(state, Retrying::default());
    }

    #[test]
    fn an_unreachable_function_is_no_attempt() {
        let mut state = Retrying::default();
        for _ in 0..100 {
            assert_eq!(decide(&SEQ, &Answer::Unreachable, &mut state), Step::Retry);
        }
        assert_eq!(state.attempts, 0);
    }
}

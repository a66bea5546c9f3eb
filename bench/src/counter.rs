//! Counts and times the AWS requests a client sends, per service and operation, through an
//! SDK interceptor: the project's own count, not the emulator's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Default)]
struct Tally {
    requests: BTreeMap<String, u64>,
    in_flight: Duration,
    /// Attempts sent and not yet answered, since when at least one has been, and the time
    /// during which at least one was (the union of their times in flight).
    outstanding: u32,
    busy_since: Option<Instant>,
    busy: Duration,
    /// DynamoDB items read (a query's scanned count, a get's item, a batch get's items).
    items_read: u64,
}

/// How many items a DynamoDB answer read.
fn items_read(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> u64 {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
        scan::ScanOutput,
    };
    if let Some(q) = output.downcast_ref::<QueryOutput>() {
        return q.scanned_count().max(0) as u64;
    }
    if let Some(s) = output.downcast_ref::<ScanOutput>() {
        return s.scanned_count().max(0) as u64;
    }
    if let Some(g) = output.downcast_ref::<GetItemOutput>() {
        return u64::from(g.item().is_some());
    }
    if let Some(b) = output.downcast_ref::<BatchGetItemOutput>() {
        return b
            .responses()
            .map(|r| r.values().map(|items| items.len() as u64).sum())
            .unwrap_or(0);
    }
    0
}

/// Shared by every client it is installed on.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<Tally>>);

#[derive(Debug, Clone)]
struct Sent(Instant);

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

impl RequestCounter {
    /// Requests per `Service.Operation` since the last reset.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("tally").requests.clone()
    }

    /// Wall time spent waiting on the service (summed over requests).
    pub fn time_in_service(&self) -> Duration {
        self.0.lock().expect("tally").in_flight
    }

    /// Wall time during which at least one request was waiting on the service: against an
    /// emulator that answers one request at a time, the time it was never idle.
    pub fn time_busy(&self) -> Duration {
        let tally = self.0.lock().expect("tally");
        tally.busy
            + tally
                .busy_since
                .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// DynamoDB items read since the last reset.
    pub fn items_read(&self) -> u64 {
        self.0.lock().expect("tally").items_read
    }

    pub fn reset(&self) {
        *self.0.lock().expect("tally") = Tally::default();
    }

    pub fn total(&self, service_prefix: &str) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(k, _)| k.starts_with(service_prefix))
            .map(|(_, v)| v)
            .sum()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        *self
            .0
            .lock()
            .expect("tally")
            .requests
            .entry(name)
            .or_default() += 1;
        cfg.interceptor_state().store_put(Sent(Instant::now()));
        let mut tally = self.0.lock().expect("tally");
        if tally.outstanding == 0 {
            tally.busy_since = Some(Instant::now());
        }
        tally.outstanding += 1;
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Sent>().is_none() {
            return Ok(()); // never transmitted
        }
        let mut tally = self.0.lock().expect("tally");
        tally.outstanding = tally.outstanding.saturating_sub(1);
        if tally.outstanding == 0 {
            if let Some(since) = tally.busy_since.take() {
                tally.busy += since.elapsed();
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let read = match context.output_or_error() {
            Some(Ok(output)) => items_read(output),
            _ => 0,
        };
        let mut tally = self.0.lock().expect("tally");
        tally.items_read += read;
        if let Some(Sent(at)) = cfg.load::<Sent>() {
            tally.in_flight += at.elapsed();
        }
        Ok(())
    }
}

/// Fresh tables on the emulator `sdk` points at, whose DynamoDB requests `counter` counts.
pub async fn counted_store(
    sdk: &aws_config::SdkConfig,
    counter: &RequestCounter,
) -> ps_store::DynamoStore {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(counter.clone())
        .build();
    placeholder_sync_tests::fresh_store_with(aws_sdk_dynamodb::Client::from_conf(config)).await
}

/// Fresh queues named from `prefix`, whose SQS requests `counter` counts; receives do not wait.
pub async fn counted_sqs(
    sdk: &aws_config::SdkConfig,
    counter: &RequestCounter,
    prefix: &str,
) -> ps_queue::SqsQueue {
    let config = aws_sdk_sqs::config::Builder::from(sdk)
        .interceptor(counter.clone())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(config);
    let urls = ps_queue::create_queues(&client, prefix, 60, 5)
        .await
        .expect("queues");
    ps_queue::SqsQueue::new(client, urls).with_receive_wait(0)
}

/// A DynamoDB Streams client whose requests `counter` counts.
pub fn counted_streams(
    sdk: &aws_config::SdkConfig,
    counter: &RequestCounter,
) -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::config::Builder::from(sdk)
        .interceptor(counter.clone())
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

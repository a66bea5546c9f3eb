//! The stream's event source mapping in the simulation, in front of the real capture
//! function: batches from a checkpoint, retried from the first record capture reports as
//! failed, and a queue in front of it that fails as SQS can.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use ps_core::change::ChangeEvent;
use ps_core::ports::{ChangeSink, PortError};
use ps_memory::MemoryQueue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The change queue as capture sees it: now and then a send fails outright, takes only the
/// first messages, or takes them all and loses the answer.
pub struct FaultySink<'a> {
    queue: &'a MemoryQueue,
    rng: Mutex<StdRng>,
    probability: Mutex<f64>,
    met: Mutex<BTreeMap<&'static str, u64>>,
}

impl<'a> FaultySink<'a> {
    pub fn new(queue: &'a MemoryQueue, seed: u64, probability: f64) -> Self {
        FaultySink {
            queue,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            probability: Mutex::new(probability),
            met: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn stop_failing(&self) {
        *self.probability.lock().expect("lock") = 0.0;
    }

    pub fn faults_met(&self) -> BTreeMap<&'static str, u64> {
        self.met.lock().expect("lock").clone()
    }

    fn count(&self, kind: &'static str) {
        *self.met.lock().expect("lock").entry(kind).or_default() += 1;
    }
}

#[async_trait]
impl ChangeSink for FaultySink<'_> {
    async fn send(&self, events: &[ChangeEvent]) -> Result<Vec<usize>, PortError> {
        let (roll, kind, cut) = {
            let mut rng = self.rng.lock().expect("lock");
            (
                rng.random::<f64>(),
                rng.random_range(0..3),
                rng.random_range(0..=events.len()),
            )
        };
        let result = if roll >= *self.probability.lock().expect("lock") {
            self.queue.send(events).await
        } else {
            match kind {
                0 => {
                    self.count("queue_send_failed");
                    Err(PortError("SQS unavailable".into()))
                }
                1 => {
                    self.count("queue_send_partial");
                    self.queue.send(&events[..cut]).await?;
                    Ok((cut..events.len()).collect())
                }
                _ => {
                    self.count("queue_answer_lost");
                    self.queue.send(events).await?;
                    Err(PortError("the answer was lost".into()))
                }
            }
        };
        // The answer takes a moment: a crash now leaves the messages sent, unacknowledged.
        tokio::time::sleep(Duration::from_millis(1)).await;
        result
    }
}

/// Where the mapping is in the stream (one shard).
#[derive(Default)]
pub struct Mapping {
    pub checkpoint: usize,
}

impl Mapping {
    /// Hands up to `max` records after the checkpoint to capture and moves the checkpoint as
    /// its answer says. Dropped mid-way (a crash), the checkpoint stays: the batch comes again.
    pub async fn step(&mut self, stream: &[Value], sink: &dyn ChangeSink, max: usize) {
        let end = (self.checkpoint + max.max(1)).min(stream.len());
        if end == self.checkpoint {
            return;
        }
        let batch = &stream[self.checkpoint..end];
        let event: Event =
            serde_json::from_value(json!({ "Records": batch })).expect("a stream event");
        let response = capture::handle(event, sink).await;
        match response.batch_item_failures.first() {
            None => self.checkpoint = end,
            Some(failure) => {
                let at = failure.item_identifier.as_deref().and_then(|id| {
                    batch
                        .iter()
                        .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(id))
                });
                // Unnamed or unknown: the whole batch again.
                self.checkpoint += at.unwrap_or(0);
            }
        }
    }

    pub fn drained(&self, stream: &[Value]) -> bool {
        self.checkpoint == stream.len()
    }
}

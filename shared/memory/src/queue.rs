//! The FIFO change queue and the dead-letter queue in memory: message groups (a group with a
//! message in flight hands out no other), visibility timeouts, deduplication on the event id
//! while a copy is queued.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ps_core::change::ChangeEvent;
use ps_core::ports::{ChangeSink, ChangeSource, PortError, QueuedChange};
use tokio::time::Instant;

struct Message {
    event: ChangeEvent,
    /// The receipt of its latest receive; only that one deletes it.
    receipt: Option<String>,
    visible_at: Instant,
}

struct Inner {
    messages: Vec<Message>,
    receipts: u64,
    visibility: Duration,
}

pub struct MemoryQueue {
    inner: Mutex<Inner>,
}

impl MemoryQueue {
    /// A queue whose received messages come back after `visibility` unless deleted.
    pub fn new(visibility: Duration) -> Self {
        MemoryQueue {
            inner: Mutex::new(Inner {
                messages: Vec::new(),
                receipts: 0,
                visibility,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("not poisoned")
    }

    /// Messages in the queue, visible or in flight.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ChangeSink for MemoryQueue {
    async fn send(&self, events: &[ChangeEvent]) -> Result<Vec<usize>, PortError> {
        let mut inner = self.lock();
        let now = Instant::now();
        for event in events {
            if inner
                .messages
                .iter()
                .any(|m| m.event.event_id == event.event_id)
            {
                continue;
            }
            inner.messages.push(Message {
                event: event.clone(),
                receipt: None,
                visible_at: now,
            });
        }
        Ok(Vec::new())
    }
}

#[async_trait]
impl ChangeSource for MemoryQueue {
    async fn receive(&self, max: usize) -> Result<Vec<QueuedChange>, PortError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let visibility = inner.visibility;
        let busy: Vec<String> = inner
            .messages
            .iter()
            .filter(|m| m.visible_at > now)
            .map(|m| m.event.group())
            .collect();
        let mut taken = Vec::new();
        let mut receipts = inner.receipts;
        for message in inner.messages.iter_mut() {
            if taken.len() >= max.min(10) {
                break;
            }
            if message.visible_at > now || busy.contains(&message.event.group()) {
                continue;
            }
            receipts += 1;
            let receipt = format!("r{receipts}");
            message.receipt = Some(receipt.clone());
            message.visible_at = now + visibility;
            taken.push(QueuedChange {
                receipt,
                event: message.event.clone(),
            });
        }
        inner.receipts = receipts;
        Ok(taken)
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), PortError> {
        self.lock()
            .messages
            .retain(|m| !m.receipt.as_ref().is_some_and(|r| receipts.contains(r)));
        Ok(())
    }
}

/// The dead-letter queue: what the sync parked.
#[derive(Default)]
pub struct MemoryDeadLetters {
    parked: Mutex<Vec<ChangeEvent>>,
}

impl MemoryDeadLetters {
    pub fn parked(&self) -> Vec<ChangeEvent> {
        self.parked.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl ChangeSink for MemoryDeadLetters {
    async fn send(&self, events: &[ChangeEvent]) -> Result<Vec<usize>, PortError> {
        self.parked
            .lock()
            .expect("not poisoned")
            .extend_from_slice(events);
        Ok(Vec::new())
    }
}

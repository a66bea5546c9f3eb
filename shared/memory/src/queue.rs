//! The FIFO change queue and the dead-letter queue in memory: message groups (a group with a
//! message in flight hands out no other), visibility timeouts, deduplication on the event id
//! while a copy is queued. With chaos it also delivers a message twice, hands groups out in
//! any order, and (as moto does after a visibility timeout) redelivers a group out of order.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ps_core::change::ChangeEvent;
use ps_core::ports::{ChangeSink, ChangeSource, PortError, QueuedChange};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

struct Message {
    event: ChangeEvent,
    /// The receipt of its latest receive; only that one deletes it.
    receipt: Option<String>,
    visible_at: Instant,
}

/// Seeded misbehaviour, each a probability per occasion.
struct Chaos {
    rng: StdRng,
    duplicate: f64,
    reorder: f64,
    duplicated: u64,
    reordered: u64,
}

struct Inner {
    messages: Vec<Message>,
    receipts: u64,
    visibility: Duration,
    chaos: Option<Chaos>,
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
                chaos: None,
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

    /// From now on: a sent message is delivered twice with probability `duplicate`, and a
    /// receive hands groups out in a random order and, with probability `reorder`, a group
    /// whose message came back after its visibility timeout out of order.
    pub fn set_chaos(&self, seed: u64, duplicate: f64, reorder: f64) {
        self.lock().chaos = Some(Chaos {
            rng: StdRng::seed_from_u64(seed),
            duplicate,
            reorder,
            duplicated: 0,
            reordered: 0,
        });
    }

    pub fn clear_chaos(&self) {
        self.lock().chaos = None;
    }

    /// (messages delivered twice, groups redelivered out of order) so far.
    pub fn chaos_met(&self) -> (u64, u64) {
        self.lock()
            .chaos
            .as_ref()
            .map_or((0, 0), |c| (c.duplicated, c.reordered))
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
            let mut copies = 1;
            if let Some(c) = &mut inner.chaos {
                if c.rng.random_bool(c.duplicate) {
                    c.duplicated += 1;
                    copies = 2;
                }
            }
            for _ in 0..copies {
                inner.messages.push(Message {
                    event: event.clone(),
                    receipt: None,
                    visible_at: now,
                });
            }
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
        let Inner {
            messages,
            receipts: issued,
            chaos,
            ..
        } = &mut *inner;
        if let Some(chaos) = chaos {
            // Groups in any order (FIFO orders only within a group).
            if !messages.is_empty() {
                let start = chaos.rng.random_range(0..messages.len());
                messages.rotate_left(start);
            }
            // moto: a group back from a visibility timeout may come back out of order.
            if messages.len() > 1 && chaos.rng.random_bool(chaos.reorder) {
                let i = chaos.rng.random_range(0..messages.len() - 1);
                let (a, b) = (&messages[i], &messages[i + 1]);
                if a.receipt.is_some() && a.event.group() == b.event.group() {
                    messages.swap(i, i + 1);
                    chaos.reordered += 1;
                }
            }
        }
        let mut taken = Vec::new();
        let mut receipts = *issued;
        for message in messages.iter_mut() {
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
        *issued = receipts;
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

//! The rate limit as the remote counts it: never more than `rate` requests in any one-second
//! window of the remote's clock.
//!
//! Spacing calls evenly (`governor`, one every 1/rate s) is not enough on its own: the remote
//! stamps a request when it arrives, and the time from our send to its stamp varies (a busy
//! runtime, a new connection, the network). One call held up 20 ms lets the window after it
//! catch one call more. We cannot see when a request arrived, only that it arrived between
//! our send and its answer. So a call also waits until one second has passed since the answer
//! to every call `rate` calls back ([`Window`]): then any `rate + 1` calls hold two that
//! arrived at least a second apart, whatever the delays. It costs one round trip per window
//! (a remote answering in 1 ms is used at 0.999 of its limit, one in 50 ms at 0.95).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The span the remote counts calls in.
const SECOND: Duration = Duration::from_secs(1);

/// The calls of the last window, in the order they were let go.
#[derive(Debug)]
pub(crate) struct Window {
    rate: usize,
    /// The sequence number of the first call in `answers`.
    first: u64,
    /// When each of the last `rate` calls was answered (`None`: still in flight).
    answers: VecDeque<Option<Instant>>,
    /// The latest answer among the calls let go before `first`.
    settled: Option<Instant>,
}

/// Why a call cannot go yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Until(Instant),
    /// The call `rate` calls back is in flight: its answer sets the time.
    ForAnswer,
}

impl Window {
    pub(crate) fn new(rate: NonZeroU32) -> Self {
        let rate = rate.get() as usize;
        Window {
            rate,
            first: 0,
            answers: VecDeque::with_capacity(rate),
            settled: None,
        }
    }

    /// Whether a call may go at `now`.
    pub(crate) fn wait(&self, now: Instant) -> Option<Wait> {
        if self.answers.len() < self.rate {
            return None;
        }
        let Some(Some(oldest)) = self.answers.front().copied() else {
            return Some(Wait::ForAnswer);
        };
        let free = self.settled.map_or(oldest, |s| s.max(oldest)) + SECOND;
        (now < free).then_some(Wait::Until(free))
    }

    /// Lets a call go at `now` if it may, and returns its sequence number.
    pub(crate) fn take(&mut self, now: Instant) -> Result<u64, Wait> {
        if let Some(wait) = self.wait(now) {
            return Err(wait);
        }
        if self.answers.len() == self.rate {
            let oldest = self.answers.pop_front().flatten();
            self.settled = self.settled.max(oldest);
            self.first += 1;
        }
        self.answers.push_back(None);
        Ok(self.first + self.answers.len() as u64 - 1)
    }

    /// Call `sequence` was answered (or given up) at `now`.
    pub(crate) fn answered(&mut self, sequence: u64, now: Instant) {
        let slot = sequence
            .checked_sub(self.first)
            .and_then(|i| self.answers.get_mut(usize::try_from(i).ok()?));
        if let Some(slot) = slot {
            *slot = Some(now);
        }
    }
}

/// Even spacing and the answered window together; a call holds its [`Turn`] until answered.
pub(crate) struct RateLimit {
    even: DefaultDirectRateLimiter,
    window: Mutex<Window>,
    answered: Notify,
}

impl RateLimit {
    pub(crate) fn new(rate: NonZeroU32) -> Option<Self> {
        // Burst of one: calls are spread evenly.
        let quota = Quota::with_period(SECOND / rate.get())?.allow_burst(NonZeroU32::MIN);
        Some(RateLimit {
            even: RateLimiter::direct(quota),
            window: Mutex::new(Window::new(rate)),
            answered: Notify::new(),
        })
    }

    /// Waits until a call may go; the call counts as answered when the turn is dropped.
    pub(crate) async fn turn(&self) -> Turn<'_> {
        loop {
            // Made before looking, so an answer given in between is not missed.
            let answered = self.answered.notified();
            let wait = self.lock().wait(Instant::now());
            match wait {
                Some(Wait::Until(at)) => {
                    tokio::time::sleep_until(at).await;
                    continue;
                }
                Some(Wait::ForAnswer) => {
                    answered.await;
                    continue;
                }
                None => {}
            }
            self.even.until_ready().await;
            // Another call may have taken the window's last place meanwhile.
            if let Ok(sequence) = self.lock().take(Instant::now()) {
                return Turn {
                    limit: self,
                    sequence,
                };
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // The window's state is whole after every method; a panic elsewhere cannot tear it.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A call let go; dropping it records the call as answered.
pub(crate) struct Turn<'a> {
    limit: &'a RateLimit,
    sequence: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.limit.lock().answered(self.sequence, Instant::now());
        self.limit.answered.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The most arrivals in any window shorter than a second.
    fn busiest_second(arrivals: &mut [Duration]) -> usize {
        arrivals.sort_unstable();
        let mut most = 0;
        let mut end = 0;
        for (start, at) in arrivals.iter().enumerate() {
            while end < arrivals.len() && arrivals[end] - *at < Duration::from_secs(1) {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    /// Calls as fast as the window lets them go, at most `parallel` in flight, each answered
    /// after its latency and stamped by the remote at a point of its round trip (`where_`, 0
    /// at the send to 1 at the answer). Returns when each was let go and when it arrived.
    fn run(rate: u32, parallel: usize, calls: &[(u64, f64)]) -> (Vec<Duration>, Vec<Duration>) {
        let start = Instant::now();
        let mut window = Window::new(NonZeroU32::new(rate).unwrap());
        let mut now = start;
        let mut in_flight: Vec<(Instant, u64)> = Vec::new();
        let (mut sent, mut arrived) = (Vec::new(), Vec::new());
        let mut next = 0;
        while next < calls.len() {
            let take = if in_flight.len() < parallel {
                window.take(now)
            } else {
                Err(Wait::ForAnswer)
            };
            let until = match take {
                Ok(sequence) => {
                    let (latency, where_) = calls[next];
                    let latency = Duration::from_millis(latency);
                    in_flight.push((now + latency, sequence));
                    sent.push(now - start);
                    arrived.push(now - start + latency.mul_f64(where_));
                    next += 1;
                    continue;
                }
                Err(Wait::Until(at)) => Some(at),
                Err(Wait::ForAnswer) => None,
            };
            // Move on to the next answer, or to `until` if sooner.
            in_flight.sort_unstable();
            match (in_flight.first().copied(), until) {
                (Some((end, _)), Some(until)) if until < end => now = until,
                (Some((end, sequence)), _) => {
                    in_flight.remove(0);
                    now = now.max(end);
                    window.answered(sequence, end);
                }
                (None, Some(until)) => now = until,
                (None, None) => panic!("waiting for an answer with nothing in flight"),
            }
        }
        (sent, arrived)
    }

    proptest! {
        /// Whatever the delays between our send and the remote's stamp, no window of the
        /// remote's clock holds more calls than the rate.
        #[test]
        fn no_second_of_the_remote_holds_more_than_the_rate(
            rate in 1u32..30,
            parallel in 1usize..20,
            calls in prop::collection::vec((0u64..400, 0.0f64..=1.0), 1..200),
        ) {
            let (_, mut arrived) = run(rate, parallel, &calls);
            prop_assert!(busiest_second(&mut arrived) <= rate as usize);
        }

        /// Calls answered at once go as the rate allows: `rate` every second.
        #[test]
        fn instant_answers_use_the_whole_rate(rate in 1u32..30, n in 1usize..200) {
            let (sent, _) = run(rate, usize::MAX, &vec![(0, 0.0); n]);
            for (i, at) in sent.iter().enumerate() {
                prop_assert_eq!(*at, Duration::from_secs((i / rate as usize) as u64));
            }
        }
    }

    #[test]
    fn a_call_waits_for_the_answer_a_window_back_then_a_second() {
        let t0 = Instant::now();
        let mut window = Window::new(NonZeroU32::new(2).unwrap());
        assert_eq!(window.take(t0), Ok(0));
        assert_eq!(window.take(t0), Ok(1));
        assert_eq!(window.take(t0), Err(Wait::ForAnswer));
        // The second answered first: the first still holds the window.
        window.answered(1, t0 + Duration::from_millis(300));
        assert_eq!(window.take(t0), Err(Wait::ForAnswer));
        window.answered(0, t0 + Duration::from_millis(100));
        let free = t0 + Duration::from_millis(1100);
        assert_eq!(window.take(t0), Err(Wait::Until(free)));
        assert_eq!(window.take(free), Ok(2));
        // Call 3 waits for the later of calls 0 and 1: a second after 300 ms.
        assert_eq!(
            window.take(free),
            Err(Wait::Until(t0 + Duration::from_millis(1300)))
        );
    }
}

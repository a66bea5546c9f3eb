//! Failed logins, counted so that a password cannot be guessed by trying many: past
//! [`LIMIT`] failures within [`WINDOW_SECONDS`] for one user name, or from one source address,
//! further attempts are refused until the count has fallen back, without checking the
//! password (so refusing costs nothing, and an attacker learns nothing more).
//!
//! The count is a sliding-window estimate over two fixed windows (the current one and the
//! one before, weighted by how much of it still lies within the last window's length), as
//! rate limiters at scale count: two counters per key, no list of attempts.

use async_trait::async_trait;

use crate::ports::PortError;

/// Failures allowed within a window; the next attempt is refused.
pub const LIMIT: u64 = 10;
/// The window's length.
pub const WINDOW_SECONDS: u64 = 300;

/// Failures counted for one key: in the current fixed window and in the one before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub current: u64,
    pub previous: u64,
}

/// The fixed window `now` (Unix seconds) falls in, and how far into it.
pub fn window(now: u64) -> (u64, u64) {
    (now / WINDOW_SECONDS, now % WINDOW_SECONDS)
}

/// The estimated failures within the last window's length, at `elapsed` seconds into the
/// current window.
pub fn estimate(c: Counted, elapsed: u64) -> f64 {
    let left_of_previous = 1.0 - elapsed as f64 / WINDOW_SECONDS as f64;
    c.current as f64 + c.previous as f64 * left_of_previous
}

impl Counted {
    /// The same failures seen from `later` windows on: each window's ending moves them along.
    pub fn aged(self, later: u64) -> Counted {
        match later {
            0 => self,
            1 => Counted {
                current: 0,
                previous: self.current,
            },
            _ => Counted::default(),
        }
    }
}

fn refused(c: Counted, now: u64) -> bool {
    estimate(c, window(now).1) >= LIMIT as f64
}

/// `None` if an attempt may go ahead, else the seconds after which one may (the first
/// second at which the estimate, with no new failure, is below the limit again).
pub fn refused_for(c: Counted, now: u64) -> Option<u64> {
    if !refused(c, now) {
        return None;
    }
    // At most two windows on, both counts have aged out; a second at a time is exact and
    // costs nothing next to a password check.
    (1..=2 * WINDOW_SECONDS)
        .find(|wait| !refused(c.aged(window(now + wait).0 - window(now).0), now + wait))
        .or(Some(2 * WINDOW_SECONDS))
}

/// Where failed logins are counted (DynamoDB items with a TTL on AWS, memory in tests). A key
/// names what is counted: a user name or a source address, as the caller makes it.
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// The failures counted for each key around `now`, in order.
    async fn counted(&self, keys: &[String], now: u64) -> Result<Vec<Counted>, PortError>;
    /// One more failure for each key.
    async fn failed(&self, keys: &[String], now: u64) -> Result<(), PortError>;
    /// Forgets a key's failures (a successful login clears its user name).
    async fn clear(&self, key: &str, now: u64) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ten_failures_are_allowed_and_the_eleventh_attempt_is_refused() {
        let now = 1_000 * WINDOW_SECONDS + 10;
        for n in 0..LIMIT {
            assert_eq!(
                refused_for(
                    Counted {
                        current: n,
                        previous: 0
                    },
                    now
                ),
                None
            );
        }
        let wait = refused_for(
            Counted {
                current: LIMIT,
                previous: 0,
            },
            now,
        )
        .unwrap();
        assert!(wait > 0 && wait <= 2 * WINDOW_SECONDS, "{wait}");
    }

    #[test]
    fn the_previous_window_counts_for_what_of_it_lies_within_the_last_five_minutes() {
        let start = 1_000 * WINDOW_SECONDS;
        let c = Counted {
            current: 0,
            previous: LIMIT,
        };
        assert!(refused_for(c, start).is_some(), "just after ten failures");
        assert_eq!(
            refused_for(c, start + WINDOW_SECONDS - 1),
            None,
            "nearly all aged out"
        );
    }

    proptest! {
        /// Waiting as long as told is enough, and a second less is not (to the second).
        #[test]
        fn retry_after_is_when_an_attempt_is_allowed_again(
            current in 0u64..40, previous in 0u64..40, elapsed in 0..WINDOW_SECONDS,
        ) {
            let start = 1_000 * WINDOW_SECONDS;
            let now = start + elapsed;
            let c = Counted { current, previous };
            if let Some(wait) = refused_for(c, now) {
                let at = |t: u64| c.aged(window(t).0 - window(now).0);
                let (then, before) = (now + wait, now + wait - 1);
                prop_assert_eq!(refused_for(at(then), then), None, "after {} s", wait);
                prop_assert!(refused_for(at(before), before).is_some(), "a second earlier");
                prop_assert!(wait <= 2 * WINDOW_SECONDS);
            }
        }
    }
}

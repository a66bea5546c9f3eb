//! The engine's settings, read once from the environment.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Start no work after this long. Intake gets at most half of it, so a busy queue cannot
    /// starve the remote.
    pub budget: Duration,
    /// Any one remote call, its retries included, ends by then: a run ends at most this long
    /// after its budget.
    pub call_deadline: Duration,
    /// How long a run's lease lasts. Never shorter than the function's timeout (the
    /// template's test checks it), so a run that is still alive always holds its lease; and
    /// longer than budget + call deadline (checked here).
    pub lease: Duration,
    /// Post groups synced at once; within a group calls stay in order.
    pub concurrency: usize,
    /// Failed attempts (rejections, never an unavailable remote) after which a pending
    /// change is parked in the dead-letter queue.
    pub max_attempts: u32,
    /// Receives in flight at once while the queue keeps filling whole batches.
    pub max_parallel_receives: usize,
    /// Entities read and synced per page of the backlog: what bounds a run's memory.
    pub page_size: usize,
    /// How long a change the remote failed (a server error, no answer) waits before its next
    /// try; doubled after each further failure, at most an hour.
    pub backoff: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            budget: Duration::from_secs(50),
            call_deadline: Duration::from_secs(20),
            lease: Duration::from_secs(120),
            // Enough calls in flight to keep a 100/s limit busy at 150 ms per call; the rate
            // limiter, not this, bounds the pace.
            concurrency: 16,
            max_attempts: 5,
            max_parallel_receives: 10,
            page_size: 500,
            backoff: Duration::from_secs(60),
        }
    }
}

impl SyncConfig {
    /// `SYNC_BUDGET_SECONDS` (default 50), `SYNC_CALL_DEADLINE_SECONDS` (20),
    /// `SYNC_LEASE_SECONDS` (budget + call deadline + 30), `SYNC_CONCURRENCY` (16),
    /// `SYNC_MAX_ATTEMPTS` (5), `SYNC_PAGE_SIZE` (500), `SYNC_BACKOFF_SECONDS` (60).
    pub fn from_env() -> Result<Self, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name} must be a whole number")),
                Err(_) => Ok(None),
            }
        };
        let at_least_one = |name: &str| -> Result<Option<u64>, String> {
            match number(name)? {
                Some(0) => Err(format!("{name} must be at least 1")),
                other => Ok(other),
            }
        };
        let mut config = SyncConfig::default();
        if let Some(v) = number("SYNC_BUDGET_SECONDS")? {
            config.budget = Duration::from_secs(v);
        }
        if let Some(v) = at_least_one("SYNC_CALL_DEADLINE_SECONDS")? {
            config.call_deadline = Duration::from_secs(v);
        }
        config.lease = match number("SYNC_LEASE_SECONDS")? {
            Some(v) => Duration::from_secs(v),
            None => config.budget + config.call_deadline + Duration::from_secs(30),
        };
        if let Some(v) = at_least_one("SYNC_CONCURRENCY")? {
            config.concurrency = v as usize;
        }
        if let Some(v) = at_least_one("SYNC_MAX_ATTEMPTS")? {
            config.max_attempts = u32::try_from(v).map_err(|_| "SYNC_MAX_ATTEMPTS is too large")?;
        }
        if let Some(v) = at_least_one("SYNC_PAGE_SIZE")? {
            config.page_size = v as usize;
        }
        if let Some(v) = number("SYNC_BACKOFF_SECONDS")? {
            config.backoff = Duration::from_secs(v);
        }
        config.check()?;
        Ok(config)
    }

    /// A run must end before its lease does.
    pub fn check(&self) -> Result<(), String> {
        if self.lease <= self.budget + self.call_deadline {
            return Err(format!(
                "the sync lease ({}s) must outlast the budget plus the call deadline ({}s + {}s)",
                self.lease.as_secs(),
                self.budget.as_secs(),
                self.call_deadline.as_secs()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_that_a_run_could_outlive_is_refused() {
        let config = SyncConfig {
            budget: Duration::from_secs(90),
            call_deadline: Duration::from_secs(20),
            lease: Duration::from_secs(100),
            ..SyncConfig::default()
        };
        assert!(config.check().is_err());
        assert!(SyncConfig::default().check().is_ok());
    }
}

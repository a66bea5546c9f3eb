//! The reconcile's settings, read once from the environment.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Start no page and no repair after this long: how long a reconcile keeps the sync
    /// waiting, at most (it holds the sync's lease).
    pub budget: Duration,
    /// Any one remote call (a page, an orphan's delete), its retries included, ends by then.
    pub call_deadline: Duration,
    /// The lease it holds: longer than budget + call deadline, so it never outlives it.
    pub lease: Duration,
    /// Records per remote page.
    pub page_size: usize,
    /// States per page of the scan.
    pub state_page: usize,
    /// How long to wait for the lease while a sync holds it (0: give up at once, as
    /// `POST /sync/reconcile` does; the scheduled run waits for a gap between sync runs).
    pub lease_wait: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            budget: Duration::from_secs(60),
            call_deadline: Duration::from_secs(20),
            lease: Duration::from_secs(110),
            page_size: 1000,
            state_page: 1000,
            lease_wait: Duration::ZERO,
        }
    }
}

impl ReconcileConfig {
    /// `RECONCILE_BUDGET_SECONDS` (default 60), `RECONCILE_PAGE_SIZE` (1000),
    /// `RECONCILE_LEASE_WAIT_SECONDS` (0), and the sync's
    /// `SYNC_CALL_DEADLINE_SECONDS` (20); the lease is budget + call deadline + 30 s.
    pub fn from_env() -> Result<Self, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("{name} must be a whole number from 1")),
                Err(_) => Ok(None),
            }
        };
        let mut config = ReconcileConfig::default();
        if let Some(v) = number("RECONCILE_BUDGET_SECONDS")? {
            config.budget = Duration::from_secs(v);
        }
        if let Some(v) = number("SYNC_CALL_DEADLINE_SECONDS")? {
            config.call_deadline = Duration::from_secs(v);
        }
        if let Some(v) = number("RECONCILE_PAGE_SIZE")? {
            config.page_size = v as usize;
        }
        if let Ok(v) = std::env::var("RECONCILE_LEASE_WAIT_SECONDS") {
            let seconds: u64 = v
                .parse()
                .map_err(|_| "RECONCILE_LEASE_WAIT_SECONDS must be whole seconds".to_owned())?;
            config.lease_wait = Duration::from_secs(seconds);
        }
        config.lease = config.budget + config.call_deadline + Duration::from_secs(30);
        config.check()?;
        Ok(config)
    }

    /// A run must end before its lease does.
    pub fn check(&self) -> Result<(), String> {
        if self.lease <= self.budget + self.call_deadline {
            return Err(format!(
                "the reconcile's lease ({}s) must outlast its budget plus the call deadline ({}s + {}s)",
                self.lease.as_secs(),
                self.budget.as_secs(),
                self.call_deadline.as_secs()
            ));
        }
        if self.page_size == 0 || self.state_page == 0 {
            return Err("page sizes must be at least 1".into());
        }
        Ok(())
    }
}

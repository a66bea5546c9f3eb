//! Failed logins in memory: one counter per key and fixed window, as the meta table keeps
//! them.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use ps_core::login::{Counted, LoginAttempts, window};
use ps_core::ports::PortError;

#[derive(Debug, Default)]
pub struct MemoryLoginAttempts {
    counts: Mutex<HashMap<(String, u64), u64>>,
}

#[async_trait]
impl LoginAttempts for MemoryLoginAttempts {
    async fn counted(&self, keys: &[String], now: u64) -> Result<Vec<Counted>, PortError> {
        let (w, _) = window(now);
        let counts = self.counts.lock().expect("counts");
        let get = |key: &String, at: u64| counts.get(&(key.clone(), at)).copied().unwrap_or(0);
        Ok(keys
            .iter()
            .map(|key| Counted {
                current: get(key, w),
                previous: w.checked_sub(1).map_or(0, |p| get(key, p)),
            })
            .collect())
    }

    async fn failed(&self, keys: &[String], now: u64) -> Result<(), PortError> {
        let (w, _) = window(now);
        let mut counts = self.counts.lock().expect("counts");
        for key in keys {
            *counts.entry((key.clone(), w)).or_default() += 1;
        }
        Ok(())
    }

    async fn clear(&self, key: &str, now: u64) -> Result<(), PortError> {
        let (w, _) = window(now);
        let mut counts = self.counts.lock().expect("counts");
        counts.retain(|(k, at), _| !(k == key && (*at == w || Some(*at) == w.checked_sub(1))));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ps_core::login::{LIMIT, WINDOW_SECONDS, refused_for};

    #[tokio::test]
    async fn failures_count_per_key_age_by_window_and_clear() {
        let m = MemoryLoginAttempts::default();
        let now = 100 * WINDOW_SECONDS + 5;
        let keys = vec!["name#a".to_owned(), "addr#x".to_owned()];
        for _ in 0..LIMIT {
            m.failed(&keys, now).await.unwrap();
        }
        let c = m.counted(&keys, now).await.unwrap();
        assert!(refused_for(c[0], now).is_some() && refused_for(c[1], now).is_some());
        let next = m.counted(&keys, now + WINDOW_SECONDS).await.unwrap();
        assert_eq!(
            next[0],
            Counted {
                current: 0,
                previous: LIMIT
            }
        );
        m.clear("name#a", now).await.unwrap();
        let c = m.counted(&keys, now).await.unwrap();
        assert_eq!(
            (c[0].current, c[1].current),
            (0, LIMIT),
            "only the name is cleared"
        );
    }
}

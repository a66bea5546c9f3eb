//! The rate limit against a real HTTP remote that stamps each request late by a varying
//! delay (as a remote's queue, a proxy or the network would): no second of its clock holds
//! more calls than the limit.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ps_core::change::EntityKind;
use ps_core::ports::RemoteApi;
use ps_remote::{HttpRemote, RemoteConfig};
use rand::{Rng, SeedableRng};

/// A remote that stamps each request 0–`jitter` ms after it arrives, then answers.
async fn late_stamping_remote(jitter: u64) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let stamps: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(7)));
    let log = stamps.clone();
    let app = axum::Router::new().fallback(move || {
        let (log, rng) = (log.clone(), rng.clone());
        async move {
            let late = rng.lock().unwrap().random_range(0..=jitter);
            tokio::time::sleep(Duration::from_millis(late)).await;
            log.lock().unwrap().push(Instant::now());
            axum::Json(serde_json::json!({}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, stamps)
}

fn busiest_second(stamps: &[Instant]) -> usize {
    let mut stamps = stamps.to_vec();
    stamps.sort_unstable();
    let mut most = 0;
    let mut end = 0;
    for (start, at) in stamps.iter().enumerate() {
        while end < stamps.len() && stamps[end].duration_since(*at) < Duration::from_secs(1) {
            end += 1;
        }
        most = most.max(end - start);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_second_of_a_late_stamping_remote_holds_more_than_the_limit() {
    let limit = 20;
    let (url, stamps) = late_stamping_remote(60).await;
    let mut config = RemoteConfig::new(url);
    config.rate_per_second = NonZeroU32::new(limit).unwrap();
    let remote = Arc::new(HttpRemote::new(config).unwrap());
    // Sixteen callers at once, as the sync's groups are.
    let calls = 3 * limit as u64;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let (remote, next) = (remote.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if id > calls {
                        break;
                    }
                    remote.delete(EntityKind::Post, id).await.expect("delete");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let stamps = stamps.lock().unwrap().clone();
    assert_eq!(stamps.len() as u64, calls);
    let busiest = busiest_second(&stamps);
    assert!(
        busiest <= limit as usize,
        "{busiest} calls in one second of the remote's clock at a limit of {limit}"
    );
}

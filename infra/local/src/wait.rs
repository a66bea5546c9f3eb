//! Readiness checks for the processes of the local stack and the test harness.

use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(200);

/// Whether `url` answers a GET with a 2xx before `timeout`.
pub async fn http_ok(url: &str, timeout: Duration) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    false
}

/// Whether `addr` (host:port) accepts a TCP connection before `timeout`.
pub async fn port_open(addr: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    false
}

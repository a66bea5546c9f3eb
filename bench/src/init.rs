//! Cold start: the time from starting a function's process to its first
//! `GET /2018-06-01/runtime/invocation/next`, the moment it is ready for an event, measured
//! against a minimal local stand-in of the Lambda Runtime API.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// Serves `next` by reporting the request and never answering (the process is killed).
async fn runtime_api() -> (u16, mpsc::UnboundedReceiver<Instant>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        axum::routing::get(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                std::future::pending::<()>().await;
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, rx)
}

/// Milliseconds from spawn to ready, for the binary at `path`, with `env` as its configuration.
pub async fn init_ms(path: &Path, env: &[(&str, String)]) -> Result<f64, String> {
    let (port, mut ready) = runtime_api().await;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(path)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let ready_at = tokio::time::timeout(Duration::from_secs(10), ready.recv()).await;
    let _ = child.kill().await;
    match ready_at {
        Ok(Some(at)) => Ok(at.duration_since(started).as_secs_f64() * 1000.0),
        _ => Err(format!("{} never asked for an event", path.display())),
    }
}

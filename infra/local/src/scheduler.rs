//! A local stand-in for the EventBridge schedule, which moto accepts but never fires.

use std::time::Duration;

use serde_json::json;

use crate::LocalError;

/// Invokes `function` every `interval` with the scheduled event shape.
pub async fn schedule(
    invoke_base: &str,
    function: &str,
    interval: Duration,
    region: &str,
) -> Result<(), LocalError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .map_err(|e| LocalError::Config(e.to_string()))?;
    let url = format!("{invoke_base}/2015-03-31/functions/{function}/invocations");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let event = json!({
            "version": "0",
            "id": format!("local-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": "1970-01-01T00:00:00Z",
            "region": region,
            "resources": [format!("arn:aws:events:{region}:000000000000:rule/placeholder-sync-local")],
            "detail": {}
        });
        match http.post(&url).json(&event).send().await {
            Ok(r) => {
                tracing::info!(status = %r.status(), reply = %r.text().await.unwrap_or_default(), "scheduled sync")
            }
            Err(e) => tracing::warn!(error = %e, "scheduled sync not reachable"),
        }
    }
}

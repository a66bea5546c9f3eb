use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sync::{SyncDeps, run_and_record};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let deps = SyncDeps::from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<CloudWatchEvent>| async move {
            match run_and_record(deps).await {
                Ok(report) => Ok(serde_json::to_value(report)?),
                // Not an error for the scheduler: the running sync will take these changes.
                Err(ps_sync::SyncError::LeaseHeld) => {
                    Ok(serde_json::json!({"skipped": "another sync holds the lease"}))
                }
                Err(e) => Err(Error::from(e.to_string())),
            }
        },
    ))
    .await
}

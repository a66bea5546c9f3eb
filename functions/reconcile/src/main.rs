use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use reconcile::{run_and_record, scheduled_options};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let store = ps_store::connect_from_env().await?;
    let remote = ps_remote::HttpRemote::new(ps_remote::RemoteConfig::from_env()?)?;
    let config = ps_reconcile::ReconcileConfig::from_env()?;
    let options = scheduled_options()?;
    let (store, remote, config) = (&store, &remote, &config);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<CloudWatchEvent>| async move {
            match run_and_record(store, remote, config, options).await {
                Ok(report) => Ok(serde_json::to_value(report)?),
                // Not an error for the scheduler: the next day's run will compare.
                Err(ps_reconcile::ReconcileError::LeaseHeld) => Ok(serde_json::json!(
                    {"skipped": "a sync or another reconcile holds the lease"}
                )),
                Err(e) => Err(Error::from(e.to_string())),
            }
        },
    ))
    .await
}

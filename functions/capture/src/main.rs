use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let queue = ps_queue::SqsQueue::from_env().await?;
    let queue = &queue;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let response = capture::handle(event.payload, queue).await;
        if !response.batch_item_failures.is_empty() {
            // The stream retries from the first failed record; after its retries the batch
            // goes to the on-failure queue (which has an alarm of its own).
            ps_http::telemetry::put_metrics(&[(
                "CaptureFailures",
                1.0,
                ps_http::telemetry::Unit::Count,
            )]);
        }
        Ok::<_, Error>(response)
    }))
    .await
}

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let queue = ps_queue::SqsQueue::from_env().await?;
    let queue = &queue;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(capture::handle(event.payload, queue).await)
    }))
    .await
}

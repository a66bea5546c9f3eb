use ingest_api::{IngestApi, clients::FromSecret, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ps_http::telemetry::init();
    let api = IngestApi {
        store: ps_store::connect_from_env().await?,
        clients: Box::new(FromSecret::from_env().await?),
        per_minute: IngestApi::<()>::per_minute_from_env()?,
    };
    ps_http::run(|req| handle(req, &api)).await
}

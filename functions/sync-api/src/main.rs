use lambda_http::{Error, service_fn};
use sync_api::{SyncApi, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let api = SyncApi {
        deps: sync::SyncDeps::from_env().await?,
        keys: ps_http::auth::TokenKeys::from_env()?,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(req, api).await)
    }))
    .await
}

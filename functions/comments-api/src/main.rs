use comments_api::{CommentsApi, handle};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let api = CommentsApi {
        store: ps_store::connect_from_env().await?,
        keys: ps_http::auth::TokenKeys::from_env()?,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(req, api).await)
    }))
    .await
}

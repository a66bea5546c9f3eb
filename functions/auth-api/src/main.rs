use auth_api::{AuthApi, handle};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    ps_http::telemetry::init();
    let api = AuthApi {
        users: ps_http::auth::UserDirectory::from_env()?,
        keys: ps_http::auth::TokenKeys::from_env()?,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handle(req, api).await)
    }))
    .await
}

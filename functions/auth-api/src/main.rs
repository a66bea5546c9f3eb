use auth_api::{AuthApi, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ps_http::telemetry::init();
    let api = AuthApi {
        users: ps_http::auth::UserDirectory::from_env().await?,
        keys: ps_http::auth::TokenKeys::from_env().await?,
        attempts: std::sync::Arc::new(ps_store::connect_from_env().await?),
    };
    ps_http::run(|req| handle(req, &api)).await
}

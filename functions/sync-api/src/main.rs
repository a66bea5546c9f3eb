use sync_api::{SyncApi, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    ps_http::telemetry::init();
    let api = SyncApi {
        deps: sync::SyncDeps::from_env().await?,
        keys: ps_http::auth::TokenKeys::from_env().await?,
        reconcile: ps_reconcile::ReconcileConfig::from_env()?,
    };
    ps_http::run(|req| handle(req, &api)).await
}

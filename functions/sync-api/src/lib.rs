//! `GET /sync/status` (public) and `POST /sync/run` (needs a token).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_http::auth::TokenKeys;
use ps_http::error::ServiceError;
use ps_http::route::route_key;
use ps_http::{ApiError, response};
use ps_sync::SyncError;
use serde_json::json;
use sync::{SyncDeps, run_and_record};

pub struct SyncApi {
    pub deps: SyncDeps,
    pub keys: TokenKeys,
}

pub async fn handle(req: Request, api: &SyncApi) -> Response<Body> {
    ps_http::answer(req, |req| route(req, api)).await
}

async fn route(req: Request, api: &SyncApi) -> Result<Response<Body>, ApiError> {
    let route = route_key(&req);
    match route.as_str() {
        "GET /sync/status" => status(&api.deps).await,
        "POST /sync/run" => match api.keys.authorize(&req) {
            Ok(_) => run(&api.deps).await,
            Err(e) => Err(e),
        },
        _ => Err(ApiError::NoRoute(route)),
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Service(ServiceError::Unavailable(e.to_string()))
}

async fn status(deps: &SyncDeps) -> Result<Response<Body>, ApiError> {
    let queue = deps.queue.counts().await.map_err(unavailable)?;
    let entities = deps.store.state_summary().await.map_err(unavailable)?;
    let last_run = deps.store.last_report().await.map_err(unavailable)?;
    Ok(response::json(
        StatusCode::OK,
        &json!({ "queue": queue, "entities": entities, "lastRun": last_run }),
    ))
}

async fn run(deps: &SyncDeps) -> Result<Response<Body>, ApiError> {
    match run_and_record(deps).await {
        Ok(report) => {
            let left = deps.queue.counts().await.ok();
            let mut body = serde_json::to_value(&report).unwrap_or_default();
            body["messagesLeft"] = json!(left.map(|c| c.queued + c.in_flight));
            Ok(response::json(StatusCode::OK, &body))
        }
        Err(SyncError::LeaseHeld) => Err(ApiError::Conflict(
            "another sync is running; try again when it ends".into(),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

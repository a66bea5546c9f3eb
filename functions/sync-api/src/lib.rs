//! `GET /sync/status` (public), `GET /sync/entities/{entity}/{id}`, `POST /sync/run`,
//! `POST /sync/redrive` and `POST /sync/reconcile` (each needs a token).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use ps_core::change::{EntityKey, EntityKind};
use ps_core::merge::SyncStatus;
use ps_core::ports::SyncStateStore;
use ps_http::auth::TokenKeys;
use ps_http::error::ServiceError;
use ps_http::route::route_key;
use ps_http::{ApiError, response};
use ps_reconcile::{Options, ReconcileConfig, ReconcileError};
use ps_sync::SyncError;
use serde::Serialize;
use serde_json::json;
use sync::{SyncDeps, run_and_record};

pub struct SyncApi {
    pub deps: SyncDeps,
    pub keys: TokenKeys,
    pub reconcile: ReconcileConfig,
}

pub async fn handle(req: Request, api: &SyncApi) -> Response<Body> {
    ps_http::answer(req, |req| route(req, api)).await
}

async fn route(req: Request, api: &SyncApi) -> Result<Response<Body>, ApiError> {
    let route = route_key(&req);
    match route.as_str() {
        "GET /sync/status" => {
            // Counts and health are public; what the remote answered, entity by entity, is
            // not (it can echo the data): a caller who sends a token must send a good one.
            let detailed =
                match ps_http::request::header(&req, lambda_http::http::header::AUTHORIZATION) {
                    None => false,
                    Some(_) => api.keys.authorize(&req).map(|_| true)?,
                };
            status(&api.deps, detailed).await
        }
        "GET /sync/entities/{entity}/{id}" => {
            // What the remote last answered can echo the data: behind the token.
            api.keys.authorize(&req)?;
            let key = entity_path(&req)?;
            entity_state(&api.deps, key).await
        }
        "POST /sync/run" => match api.keys.authorize(&req) {
            Ok(_) => run(&api.deps).await,
            Err(e) => Err(e),
        },
        "POST /sync/reconcile" => {
            api.keys.authorize(&req)?;
            let options = reconcile_options(&req)?;
            reconcile(api, options).await
        }
        "POST /sync/redrive" => {
            api.keys.authorize(&req)?;
            let only = redrive_target(&req)?;
            let done = api.deps.queue.redrive(only).await.map_err(unavailable)?;
            tracing::info!(
                redriven = done.redriven,
                left = done.left,
                "parked changes redriven"
            );
            Ok(response::json(StatusCode::OK, &done))
        }
        _ => Err(ApiError::NoRoute(route)),
    }
}

/// `?entity=post&id=5`: one entity's parked change; no parameters: all of them.
fn redrive_target(req: &Request) -> Result<Option<EntityKey>, ApiError> {
    let query = req.query_string_parameters();
    for (name, _) in query.iter() {
        if name != "entity" && name != "id" {
            return Err(ApiError::BadRequest(format!(
                "unknown parameter {name}: POST /sync/redrive takes entity (post or comment) and id, or nothing"
            )));
        }
    }
    let kind = match query.all("entity").as_deref() {
        None => None,
        Some(["post"]) => Some(EntityKind::Post),
        Some(["comment"]) => Some(EntityKind::Comment),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "entity must be post or comment, given once".into(),
            ));
        }
    };
    let id = match query.all("id").as_deref() {
        None => None,
        Some([id]) => Some(
            id.parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ApiError::BadRequest("id must be a whole number from 1".into()))?,
        ),
        Some(_) => return Err(ApiError::BadRequest("id is given once".into())),
    };
    match (kind, id) {
        (Some(kind), Some(id)) => Ok(Some(EntityKey { kind, id })),
        (None, None) => Ok(None),
        _ => Err(ApiError::BadRequest(
            "entity and id go together: ?entity=post&id=5".into(),
        )),
    }
}

/// `?repair=true` and `?deleteOrphans=duplicates|all`: what a reconcile may change.
fn reconcile_options(req: &Request) -> Result<Options, ApiError> {
    let query = req.query_string_parameters();
    for (name, _) in query.iter() {
        if name != "repair" && name != "deleteOrphans" {
            return Err(ApiError::BadRequest(format!(
                "unknown parameter {name}: POST /sync/reconcile takes repair (true or false) and deleteOrphans (none, duplicates or all)"
            )));
        }
    }
    let repair = match query.all("repair").as_deref() {
        None | Some(["false"]) => false,
        Some(["true"]) => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "repair must be true or false, given once".into(),
            ));
        }
    };
    let delete_orphans = match query.all("deleteOrphans").as_deref() {
        None => ps_reconcile::OrphanChoice::Keep,
        Some([choice]) => reconcile::orphan_choice(choice).map_err(ApiError::BadRequest)?,
        Some(_) => {
            return Err(ApiError::BadRequest("deleteOrphans is given once".into()));
        }
    };
    Ok(Options {
        repair,
        delete_orphans,
    })
}

async fn reconcile(api: &SyncApi, options: Options) -> Result<Response<Body>, ApiError> {
    match reconcile::run_and_record(&api.deps.store, &api.deps.remote, &api.reconcile, options)
        .await
    {
        Ok(report) => Ok(response::json(StatusCode::OK, &report)),
        Err(ReconcileError::LeaseHeld) => Err(ApiError::Conflict(
            "a sync or another reconcile is running; try again when it ends".into(),
        )),
        // The remote could not be read: nothing was changed, and the gateway says so.
        Err(e @ ReconcileError::Remote(_)) => Err(ApiError::BadGateway(e.to_string())),
        Err(e) => Err(unavailable(e)),
    }
}

/// `/sync/entities/posts/5`: the collection's name, as in the API's own paths.
fn entity_path(req: &Request) -> Result<EntityKey, ApiError> {
    let kind = match req.path_parameters().first("entity") {
        Some("posts") => EntityKind::Post,
        Some("comments") => EntityKind::Comment,
        other => {
            return Err(ApiError::BadRequest(format!(
                "entity must be posts or comments, got {:?}",
                other.unwrap_or_default()
            )));
        }
    };
    Ok(EntityKey {
        kind,
        id: ps_http::route::path_id(req, "id")?,
    })
}

/// One entity's place in the sync, as the console shows it beside the entity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EntitySyncView {
    entity: EntityKind,
    id: u64,
    /// `queued` when the sync has not taken in any change of it yet (its change is still
    /// in the queue, or there is no such entity); else the sync's own status.
    status: String,
    /// The id the remote knows it by.
    remote_id: Option<u64>,
    on_remote: bool,
    /// A change of it is journaled and not yet on the remote.
    pending: bool,
    /// Its last change was parked in the dead-letter queue (`POST /sync/redrive` retries it).
    parked: bool,
    attempts: u32,
    last_error: Option<String>,
}

async fn entity_state(deps: &SyncDeps, key: EntityKey) -> Result<Response<Body>, ApiError> {
    let mut states = deps.store.load(&[key]).await.map_err(unavailable)?;
    let view = match states.remove(&key) {
        None => EntitySyncView {
            entity: key.kind,
            id: key.id,
            status: "queued".into(),
            remote_id: None,
            on_remote: false,
            pending: false,
            parked: false,
            attempts: 0,
            last_error: None,
        },
        Some(state) => EntitySyncView {
            entity: key.kind,
            id: key.id,
            status: serde_json::to_value(state.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            remote_id: state.remote_id,
            on_remote: state.remote_exists,
            pending: state.pending.is_some(),
            // As the status counts it: failed with nothing left pending here.
            parked: state.status == SyncStatus::Failed && state.pending.is_none(),
            attempts: state.attempts,
            last_error: state.last_error,
        },
    };
    Ok(response::json(StatusCode::OK, &view))
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Service(ServiceError::Unavailable(e.to_string()))
}

async fn status(deps: &SyncDeps, detailed: bool) -> Result<Response<Body>, ApiError> {
    let queue = deps.queue.counts().await.map_err(unavailable)?;
    let entities = deps.store.state_summary().await.map_err(unavailable)?;
    let mut last_run = deps.store.last_report().await.map_err(unavailable)?;
    let running_until = deps.store.lease_held_until().await.map_err(unavailable)?;
    let mut drift = deps.store.last_drift_report().await.map_err(unavailable)?;
    let mut entities = serde_json::to_value(entities).unwrap_or_default();
    if !detailed {
        if let Some(e) = entities.as_object_mut() {
            e.remove("problems");
        }
        if let Some(run) = last_run.as_mut().and_then(|r| r.as_object_mut()) {
            run.remove("failures");
        }
        // Which entities drifted, and how, can echo the data: the counts are public.
        if let Some(found) = drift.as_mut().and_then(|r| r.as_object_mut()) {
            for listed in ["differs", "missing", "orphans", "pending"] {
                found.remove(listed);
            }
        }
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "queue": queue,
            "entities": entities,
            "lastRun": last_run,
            // The last reconcile: when, and what it found (see POST /sync/reconcile).
            "drift": drift,
            // A run holds the lease (until then, at the latest): the console follows it.
            "running": running_until.is_some(),
            "runningUntil": running_until,
            "detailed": detailed,
        }),
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

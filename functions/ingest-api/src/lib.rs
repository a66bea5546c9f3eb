//! `POST /ingest`: a signed batch of writes from a machine client, checked whole, then
//! applied in order through the API's own use-cases; `GET /ingest/status`: how far that
//! client's writes have got to the remote. The request flow, in order:
//! signature (401) → the client's rate (429) → form and fields (400, nothing written) →
//! the ledger: a batch taken before is answered, not applied (409) → the targets exist
//! (400, nothing written) → apply (202) and remember the answer.

pub mod clients;

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_http::http::{HeaderName, StatusCode};
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;

use ps_core::change::{EntityData, EntityKey, EntityKind};
use ps_core::ingest::{self, IngestLedger, Taken};
use ps_core::merge::SyncStatus;
use ps_core::ports::EntityRead;
use ps_core::ports::{CommentWrite, Once, PostWrite, SyncStateStore};
use ps_core::{Comment, Post};
use ps_http::error::ServiceError;
use ps_http::request::{header, raw_body};
use ps_http::route::route_key;
use ps_http::{ApiError, response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clients::ClientSource;
use ps_http::signature::{self, SignatureError};

/// A batch's body at most: 100 items of the largest posts and comments fit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the function holds between invocations, read once.
pub struct IngestApi<S> {
    pub store: S,
    pub clients: Box<dyn ClientSource>,
    /// Requests per client and minute (`INGEST_REQUESTS_PER_MINUTE`).
    pub per_minute: u64,
}

impl<S> IngestApi<S> {
    /// `INGEST_REQUESTS_PER_MINUTE` (default 60).
    pub fn per_minute_from_env() -> Result<u64, String> {
        match std::env::var("INGEST_REQUESTS_PER_MINUTE") {
            Err(_) => Ok(60),
            Ok(v) => v.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                format!("INGEST_REQUESTS_PER_MINUTE must be a whole number from 1, got {v:?}")
            }),
        }
    }
}

pub trait IngestStore: PostWrite + CommentWrite + IngestLedger + SyncStateStore {}
impl<S: PostWrite + CommentWrite + IngestLedger + SyncStateStore> IngestStore for S {}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub async fn handle<S: IngestStore>(req: Request, api: &IngestApi<S>) -> Response<Body> {
    ps_http::answer(req, |req| route(req, api)).await
}

async fn route<S: IngestStore>(
    req: Request,
    api: &IngestApi<S>,
) -> Result<Response<Body>, ApiError> {
    match route_key(&req).as_str() {
        "POST /ingest" => take(&req, api).await,
        "GET /ingest/status" => status(&req, api).await,
        other => Err(ApiError::NoRoute(other.to_owned())),
    }
}

fn refused(e: SignatureError) -> ApiError {
    ApiError::InvalidSignature(e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Service(ServiceError::Unavailable(e.to_string()))
}

/// The client the request is signed by, and the request counted against its rate.
async fn signed_by<S: IngestStore>(
    req: &Request,
    body: &[u8],
    api: &IngestApi<S>,
) -> Result<String, ApiError> {
    let now = now();
    let signed = signature::parse(header(req, HeaderName::from_static(signature::HEADER)))
        .map_err(refused)?;
    let clients = api.clients.clients().await.map_err(unavailable)?;
    let client = clients.verify(&signed, body, now).map_err(refused)?;
    let count = api
        .store
        .count_request(&client, now)
        .await
        .map_err(unavailable)?;
    if count > api.per_minute {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "client {client} sent more than {} requests this minute",
                api.per_minute
            ),
            retry_after: 60 - now % 60,
        });
    }
    Ok(client)
}

async fn take<S: IngestStore>(
    req: &Request,
    api: &IngestApi<S>,
) -> Result<Response<Body>, ApiError> {
    let body = raw_body(req, MAX_BODY_BYTES)?;
    let client = signed_by(req, body, api).await?;
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))?;
    let batch = ingest::parse(&json)?;
    // A repeat is the same client with the same Idempotency-Key, or else the same body.
    let digest = ps_http::digest::hex(&[body], 16);
    let key = match header(req, HeaderName::from_static("idempotency-key")) {
        Some(k) if !k.is_empty() && k.len() <= 255 => {
            format!("k:{}", ps_http::digest::hex(&[k.as_bytes()], 16))
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "Idempotency-Key must be 1 to 255 characters".into(),
            ));
        }
        None => format!("b:{digest}"),
    };
    let now = now();
    match api
        .store
        .take(&client, &key, &digest, now)
        .await
        .map_err(unavailable)?
    {
        Taken::New => {}
        Taken::Done(answer) => {
            return Ok(response::json(
                StatusCode::CONFLICT,
                &json!({
                    "message": "this batch was taken before; nothing was applied again",
                    "original": answer,
                }),
            ));
        }
        Taken::InFlight => {
            return Err(ApiError::Conflict(
                "this batch is being applied by another request; ask again in a minute for its answer".into(),
            ));
        }
        Taken::KeyReused => {
            return Err(ApiError::Service(ServiceError::Unprocessable(
                "this Idempotency-Key was used with another body".into(),
            )));
        }
    }
    let applied = apply(&api.store, &client, &key, &batch).await;
    let results = match applied {
        Ok(results) => results,
        Err(e) => {
            // Nothing of a refused batch was written; a batch that failed part-way is let
            // go, so that the client's retry applies it again (its items are idempotent).
            if let Err(release) = api.store.release(&client, &key).await {
                tracing::error!(%release, "an ingest batch could not be let go");
            }
            return Err(e);
        }
    };
    let written: Vec<EntityKey> = results
        .iter()
        .map(|r| EntityKey {
            kind: r.entity,
            id: r.id,
        })
        .collect();
    let answer = json!({ "accepted": results.len(), "results": results });
    api.store
        .track(&client, &written, now)
        .await
        .map_err(unavailable)?;
    api.store
        .finish(&client, &key, &answer, now)
        .await
        .map_err(unavailable)?;
    tracing::info!(client = %client, items = results.len(), "ingest batch applied");
    Ok(response::json(StatusCode::ACCEPTED, &answer))
}

async fn apply<S: IngestStore>(
    store: &S,
    client: &str,
    key: &str,
    batch: &ingest::Batch,
) -> Result<Vec<ingest::ItemResult>, ApiError> {
    ingest::check_targets(batch, store, store).await?;
    let once = |index: usize, item: &ingest::Item| Once {
        key: format!("ingest:{client}:{key}:{index}"),
        request_digest: ps_http::digest::hex(&[item.data.to_string().as_bytes()], 16),
    };
    ingest::apply(batch, store, &once)
        .await
        .map_err(|(index, e)| match e {
            ServiceError::Invalid(_) | ServiceError::NotFound(_) | ServiceError::BadRequest(_) => {
                ApiError::BadRequest(format!("item {index}: {e}"))
            }
            other => ApiError::Service(other),
        })
}

/// The posts and comments among `keys` as they are now (absent: deleted).
async fn current_data<S: IngestStore>(
    store: &S,
    keys: &[EntityKey],
) -> Result<HashMap<EntityKey, EntityData>, ApiError> {
    let ids = |kind: EntityKind| -> Vec<u64> {
        keys.iter()
            .filter(|k| k.kind == kind)
            .map(|k| k.id)
            .collect()
    };
    let mut found = HashMap::new();
    for chunk in ids(EntityKind::Post).chunks(100) {
        for post in EntityRead::<Post>::get_many(store, chunk)
            .await
            .map_err(unavailable)?
        {
            found.insert(EntityKey::post(post.id), EntityData::Post(post));
        }
    }
    for chunk in ids(EntityKind::Comment).chunks(100) {
        for comment in EntityRead::<Comment>::get_many(store, chunk)
            .await
            .map_err(unavailable)?
        {
            found.insert(EntityKey::comment(comment.id), EntityData::Comment(comment));
        }
    }
    Ok(found)
}

/// How far a client's writes of today and yesterday have got.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientStatus {
    client: String,
    /// Entities it wrote (created, replaced or deleted) today and yesterday, UTC.
    written: u64,
    /// On the remote as they are now (a deleted one: gone from it).
    synced: u64,
    /// Not on the remote as they are now yet: a change still in the queue or journaled.
    queued: u64,
    /// Refused by the remote (parked ones included) or waiting for their post.
    failed: u64,
    waiting: u64,
    /// The day's list of written entities was full: the figures count what it lists.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

async fn status<S: IngestStore>(
    req: &Request,
    api: &IngestApi<S>,
) -> Result<Response<Body>, ApiError> {
    let client = signed_by(req, raw_body(req, MAX_BODY_BYTES)?, api).await?;
    let keys = api
        .store
        .tracked(&client, now())
        .await
        .map_err(unavailable)?;
    let states = api.store.load(&keys).await.map_err(unavailable)?;
    let mut figures = ClientStatus {
        client,
        written: keys.len() as u64,
        truncated: keys.len() >= 2 * ps_store::TRACKED_PER_DAY_MAX,
        ..ClientStatus::default()
    };
    let current = current_data(&api.store, &keys).await?;
    for key in &keys {
        let Some(state) = states.get(key) else {
            // The sync has taken in no change of it yet.
            figures.queued += 1;
            continue;
        };
        match state.status {
            SyncStatus::Failed => figures.failed += 1,
            SyncStatus::Waiting => figures.waiting += 1,
            SyncStatus::Pending => figures.queued += 1,
            // Synced as of its last change taken in: in line only if that is what the
            // entity is now (a newer write may still be in the queue).
            SyncStatus::Synced => {
                let in_line = state.pending.is_none()
                    && match current.get(key) {
                        Some(data) => state.remote_exists && state.synced.as_ref() == Some(data),
                        None => !state.remote_exists,
                    };
                if in_line {
                    figures.synced += 1;
                } else {
                    figures.queued += 1;
                }
            }
        }
    }
    Ok(response::json(StatusCode::OK, &figures))
}

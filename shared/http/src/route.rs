//! Which route a request took, as a type. API Gateway has already matched it against the
//! template's routes; its route key (`GET /posts/{id}`) is parsed once, here, into what the
//! function does, with the path's id checked.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::ApiError;

/// API Gateway's route key, e.g. `GET /posts/{id}`; empty outside API Gateway.
pub fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
}

/// The numeric `{name}` path parameter.
pub fn path_id(req: &Request, name: &str) -> Result<u64, ApiError> {
    let params = req.path_parameters();
    let raw = params
        .first(name)
        .ok_or_else(|| ApiError::BadRequest(format!("missing path parameter {name}")))?;
    match raw.parse::<u64>() {
        Ok(id) if id >= 1 => Ok(id),
        _ => Err(ApiError::BadRequest(format!(
            "{name} must be a positive integer, got {raw:?}"
        ))),
    }
}

/// What a request does to a collection (`/posts`) or one of its members (`/posts/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    List,
    Create,
    Get(u64),
    Replace(u64),
    Patch(u64),
    Delete(u64),
}

impl Action {
    /// The action on `collection` (e.g. `/posts`) the request's route names; `None` if the
    /// route is not one of the collection's.
    pub fn on(collection: &str, req: &Request) -> Option<Result<Action, ApiError>> {
        let key = route_key(req);
        let (method, path) = key.split_once(' ')?;
        if path == collection {
            return match method {
                "GET" => Some(Ok(Action::List)),
                "POST" => Some(Ok(Action::Create)),
                _ => None,
            };
        }
        if path.strip_prefix(collection) != Some("/{id}") {
            return None;
        }
        let member: fn(u64) -> Action = match method {
            "GET" => Action::Get,
            "PUT" => Action::Replace,
            "PATCH" => Action::Patch,
            "DELETE" => Action::Delete,
            _ => return None,
        };
        Some(path_id(req, "id").map(member))
    }

    /// Whether it writes (and so needs a bearer token).
    pub fn writes(&self) -> bool {
        !matches!(self, Action::List | Action::Get(_))
    }
}

/// A route no function here serves: a 404 naming it.
pub fn no_route(req: &Request) -> ApiError {
    ApiError::NoRoute(route_key(req))
}

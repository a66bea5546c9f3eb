//! Reading what a route needs from a `lambda_http` request, rejecting anything malformed
//! with a 400 (or 413) before the domain sees it.

use lambda_http::http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use ps_core::etag::Precondition;
use serde_json::Value;

use crate::ApiError;

/// Larger bodies are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The API Gateway route this request matched, e.g. `GET /posts/{id}`. Routing on it (rather
/// than re-parsing the path) keeps each function's routes exactly the template's.
pub fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
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

/// The query string as ordered pairs, repeated keys kept (so the domain can refuse them).
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .filter(|q| !q.is_empty())
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_else(|| {
            req.query_string_parameters()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
}

pub fn header(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn precondition(req: &Request) -> Precondition {
    Precondition::parse(header(req, header::IF_MATCH))
}

fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    Ok(bytes)
}

fn media_type(req: &Request) -> Option<String> {
    header(req, header::CONTENT_TYPE).map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// The body as JSON. A missing `Content-Type` is taken as JSON; any other type is refused.
pub fn json_body(req: &Request) -> Result<Value, ApiError> {
    let bytes = body_bytes(req)?;
    if let Some(mt) = media_type(req) {
        if !is_json(&mt) {
            return Err(ApiError::BadRequest(format!(
                "Content-Type must be application/json, got {mt}"
            )));
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

/// The body as JSON or as an HTML form (`application/x-www-form-urlencoded`), for the
/// token endpoint, which OAuth-style clients call with a form.
pub fn json_or_form_body(req: &Request) -> Result<Value, ApiError> {
    if media_type(req).as_deref() == Some("application/x-www-form-urlencoded") {
        let bytes = body_bytes(req)?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
            .map_err(|e| ApiError::BadRequest(format!("invalid form body: {e}")))?;
        return Ok(Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ));
    }
    json_body(req)
}

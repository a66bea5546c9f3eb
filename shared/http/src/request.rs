//! Reading what a route needs from a `lambda_http` request, rejecting anything malformed
//! with a 400 (or 413) before the domain sees it.

use lambda_http::http::header;
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

use crate::ApiError;

/// Larger bodies are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The query string as ordered pairs, repeated keys kept (`id=1&id=2` means either).
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

/// Longest `Idempotency-Key` taken.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The create's `Idempotency-Key`, if sent (as the IETF draft's quoted string, or bare as
/// most clients send it): 1 to 255 visible ASCII characters, else a 400. The request's
/// digest covers its path and exact body, so the same key on another route or with another
/// body is another request.
pub fn once(req: &Request) -> Result<Option<ps_core::ports::Once>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))
    };
    let raw = raw.to_str().map_err(|_| bad())?.trim();
    let key = raw
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(raw);
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
        || key.contains('"')
    {
        return Err(bad());
    }
    let digest = crate::digest::hex(&[req.uri().path().as_bytes(), body_bytes(req)?], 16);
    Ok(Some(ps_core::ports::Once {
        key: key.to_owned(),
        request_digest: digest,
    }))
}

fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    raw_body(req, MAX_BODY_BYTES)
}

/// The body's exact bytes (what a signature covers), at most `max` of them.
pub fn raw_body(req: &Request, max: usize) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > max {
        return Err(ApiError::PayloadTooLarge(max));
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

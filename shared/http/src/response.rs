use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use ps_core::Versioned;
use ps_core::query::Page;
use serde::Serialize;

use crate::ApiError;

pub fn json_text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => json_text(status, body),
        Err(e) => ApiError::Internal(format!("response did not serialise: {e}")).into_response(),
    }
}

/// A single resource, with its ETag.
pub fn resource<T: Serialize>(status: StatusCode, value: &Versioned<T>) -> Response<Body> {
    let mut response = json(status, &value.value);
    if let Ok(tag) = HeaderValue::from_str(&crate::etag::of_version(value.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// 201 with `Location` and the created resource.
pub fn created<T: Serialize>(location: String, value: &Versioned<T>) -> Response<Body> {
    let mut response = resource(StatusCode::CREATED, value);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A list page with `X-Total-Count` and, when paginated, `Link`.
pub fn page<T: Serialize>(
    page: &Page<T>,
    path: &str,
    params: &[(String, String)],
) -> Response<Body> {
    let mut response = json(StatusCode::OK, &page.items);
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(page.total));
    if let Some(link) =
        crate::link::header(page, path, params).and_then(|l| HeaderValue::from_str(&l).ok())
    {
        headers.insert(header::LINK, link);
    }
    response
}

/// A delete's answer: 200 with `{}`, as JSONPlaceholder answers (clients such as
/// react-admin's `deleteMany` read the body; a 204 breaks them).
pub fn deleted() -> Response<Body> {
    json_text(StatusCode::OK, "{}".to_owned())
}

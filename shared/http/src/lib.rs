//! The HTTP edge shared by the API functions: reading a `lambda_http` request into a typed
//! route, checking a bearer token, the wire formats (entity tags, `Link`), conditional
//! reads, and turning every error into one JSON shape with the right status, in one place.

pub mod auth;
pub mod digest;
pub mod error;
pub mod etag;
pub mod link;
pub mod request;
pub mod response;
pub mod route;
pub mod signature;
pub mod telemetry;

use std::convert::Infallible;

pub use error::ApiError;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response, service_fn};

/// Answers one request: `route` does the work; this maps its error, tags a read that
/// carries no tag of its own with one of its body, and answers 304 when `If-None-Match`
/// names the tag. A malformed `If-None-Match` is a 400 before anything runs.
pub async fn answer<F, Fut>(req: Request, route: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let if_none_match = match etag::IfNoneMatch::from_request(&req) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut response = route(req).await.unwrap_or_else(ApiError::into_response);
    if !read || response.status() != StatusCode::OK {
        return response;
    }
    if !response.headers().contains_key(header::ETAG) {
        let tag = match response.body() {
            Body::Text(t) => etag::of_body(t.as_bytes()),
            Body::Binary(b) => etag::of_body(b),
            _ => etag::of_body(&[]),
        };
        if let Ok(tag) = HeaderValue::from_str(&tag) {
            response.headers_mut().insert(header::ETAG, tag);
        }
    }
    let current = response
        .headers()
        .get(header::ETAG)
        .map(HeaderValue::as_bytes);
    if current.is_some_and(|tag| if_none_match.matches(tag)) {
        let mut not_modified = Response::new(Body::Empty);
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        if let Some(tag) = response.headers_mut().remove(header::ETAG) {
            not_modified.headers_mut().insert(header::ETAG, tag);
        }
        return not_modified;
    }
    response
}

/// Runs an HTTP function under the Lambda runtime: `handle` answers each request.
pub async fn run<H, Fut>(handle: H) -> Result<(), lambda_http::Error>
where
    H: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    let handle = &handle;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Infallible>(handle(req).await)
    }))
    .await
}

//! `GET /openapi.json`: the API's contract, the repository's `openapi.json`, compiled in. A
//! test checks it names exactly the template's routes; CI fuzzes the running stack with it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_http::route::route_key;
use ps_http::{ApiError, response};

/// The document, as committed.
pub const DOCUMENT: &str = include_str!("../../../openapi.json");

pub async fn handle(req: Request) -> Response<Body> {
    ps_http::answer(req, |req| async move {
        match route_key(&req).as_str() {
            "GET /openapi.json" => {
                let mut answer = response::json_text(StatusCode::OK, DOCUMENT.to_owned());
                answer.headers_mut().insert(
                    "cache-control",
                    lambda_http::http::HeaderValue::from_static("public, max-age=300"),
                );
                Ok(answer)
            }
            _ => Err(ApiError::NoRoute(route_key(&req))),
        }
    })
    .await
}

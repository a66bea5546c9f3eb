//! `/posts` and `/posts/{id}`: parse the request, call the domain, map the error.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_core::ports::{PostRead, PostWrite};
use ps_core::query::post_query;
use ps_core::service::posts;
use ps_core::validation::WriteMode;
use ps_http::auth::TokenKeys;
use ps_http::request::{json_body, path_id, precondition, query_pairs, route_key};
use ps_http::{ApiError, response};

/// What the function holds between invocations.
pub struct PostsApi<S> {
    pub store: S,
    pub keys: TokenKeys,
}

pub async fn handle<S: PostWrite>(req: Request, api: &PostsApi<S>) -> Response<Body> {
    let route = route_key(&req);
    let result = match route.as_str() {
        "GET /posts" => list(&api.store, &req).await,
        "GET /posts/{id}" => get(&api.store, &req).await,
        "POST /posts" | "PUT /posts/{id}" | "PATCH /posts/{id}" | "DELETE /posts/{id}" => {
            match api.keys.authorize(&req) {
                Ok(_) => write(&api.store, &route, &req).await,
                Err(e) => Err(e),
            }
        }
        _ => Err(ApiError::NoRoute(route)),
    };
    result.unwrap_or_else(ApiError::into_response)
}

async fn list(store: &dyn PostRead, req: &Request) -> Result<Response<Body>, ApiError> {
    let params = query_pairs(req);
    let page = posts::list(store, &post_query(&params)?).await?;
    Ok(response::page(&page, "/posts", &params))
}

async fn get(store: &dyn PostRead, req: &Request) -> Result<Response<Body>, ApiError> {
    let post = posts::get(store, path_id(req, "id")?).await?;
    Ok(response::resource(StatusCode::OK, &post))
}

async fn write(
    store: &dyn PostWrite,
    route: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    match route {
        "POST /posts" => {
            let post = posts::create(store, &json_body(req)?).await?;
            Ok(response::created(
                format!("/posts/{}", post.value.id),
                &post,
            ))
        }
        "DELETE /posts/{id}" => {
            posts::delete(store, path_id(req, "id")?, &precondition(req)).await?;
            Ok(response::no_content())
        }
        _ => {
            let mode = if route.starts_with("PUT") {
                WriteMode::Replace
            } else {
                WriteMode::Patch
            };
            let id = path_id(req, "id")?;
            let post = posts::update(store, id, &json_body(req)?, mode, &precondition(req)).await?;
            Ok(response::resource(StatusCode::OK, &post))
        }
    }
}

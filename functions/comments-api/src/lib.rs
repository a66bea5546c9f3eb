//! `/comments`, `/comments/{id}` and `/posts/{id}/comments`: parse the request, call the
//! domain, map the error.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_core::ServiceError;
use ps_core::ports::{CommentRead, CommentWrite, PostRead};
use ps_core::query::comment_query;
use ps_core::service::comments;
use ps_core::validation::WriteMode;
use ps_http::auth::TokenKeys;
use ps_http::request::{json_body, path_id, precondition, query_pairs, route_key};
use ps_http::{ApiError, response};

/// What the function holds between invocations.
pub struct CommentsApi<S> {
    pub store: S,
    pub keys: TokenKeys,
}

pub async fn handle<S: PostRead + CommentWrite>(
    req: Request,
    api: &CommentsApi<S>,
) -> Response<Body> {
    let route = route_key(&req);
    let result = match route.as_str() {
        "GET /comments" => list(&api.store, &req).await,
        "GET /comments/{id}" => get(&api.store, &req).await,
        "GET /posts/{id}/comments" => list_of_post(&api.store, &api.store, &req).await,
        "POST /comments"
        | "POST /posts/{id}/comments"
        | "PUT /comments/{id}"
        | "PATCH /comments/{id}"
        | "DELETE /comments/{id}" => match api.keys.authorize(&req) {
            Ok(_) => write(&api.store, &route, &req).await,
            Err(e) => Err(e),
        },
        _ => Err(ApiError::NoRoute(route)),
    };
    result.unwrap_or_else(ApiError::into_response)
}

async fn list(store: &dyn CommentRead, req: &Request) -> Result<Response<Body>, ApiError> {
    let params = query_pairs(req);
    let page = comments::list(store, &comment_query(&params)?).await?;
    Ok(response::page(&page, "/comments", &params))
}

async fn get(store: &dyn CommentRead, req: &Request) -> Result<Response<Body>, ApiError> {
    let comment = comments::get(store, path_id(req, "id")?).await?;
    Ok(response::resource(StatusCode::OK, &comment))
}

async fn list_of_post(
    posts: &dyn PostRead,
    store: &dyn CommentRead,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let post_id = path_id(req, "id")?;
    let params = query_pairs(req);
    let query = comment_query(&params)?;
    if query.filter.post_id.is_some() {
        return Err(ServiceError::BadRequest("postId is given by the path here".into()).into());
    }
    let page = comments::list_of_post(posts, store, post_id, query.pagination).await?;
    Ok(response::page(
        &page,
        &format!("/posts/{post_id}/comments"),
        &params,
    ))
}

async fn write(
    store: &dyn CommentWrite,
    route: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    match route {
        "POST /comments" | "POST /posts/{id}/comments" => {
            let from_path = if route == "POST /comments" {
                None
            } else {
                Some(path_id(req, "id")?)
            };
            let comment = comments::create(store, &json_body(req)?, from_path).await?;
            Ok(response::created(
                format!("/comments/{}", comment.value.id),
                &comment,
            ))
        }
        "DELETE /comments/{id}" => {
            comments::delete(store, path_id(req, "id")?, &precondition(req)).await?;
            Ok(response::no_content())
        }
        _ => {
            let mode = if route.starts_with("PUT") {
                WriteMode::Replace
            } else {
                WriteMode::Patch
            };
            let id = path_id(req, "id")?;
            let comment =
                comments::update(store, id, &json_body(req)?, mode, &precondition(req)).await?;
            Ok(response::resource(StatusCode::OK, &comment))
        }
    }
}

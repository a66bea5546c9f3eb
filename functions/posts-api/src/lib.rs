//! `/posts` and `/posts/{id}`: parse the request into a typed route, call the domain, and
//! let the edge map errors.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_core::Post;
use ps_core::ports::{CommentRead, PostRead, PostWrite};
use ps_core::query::{ListQuery, parse_read};
use ps_core::service::{self, posts};
use ps_core::validation::WriteMode;
use ps_http::auth::TokenKeys;
use ps_http::etag::if_match;
use ps_http::request::{json_body, once, query_pairs};
use ps_http::route::{Action, no_route};
use ps_http::{ApiError, response};

/// What the function holds between invocations.
pub struct PostsApi<S> {
    pub store: S,
    pub keys: TokenKeys,
}

pub async fn handle<S: PostWrite + CommentRead>(req: Request, api: &PostsApi<S>) -> Response<Body> {
    ps_http::answer(req, |req| route(req, api)).await
}

async fn route<S: PostWrite + CommentRead>(
    req: Request,
    api: &PostsApi<S>,
) -> Result<Response<Body>, ApiError> {
    let action = Action::on("/posts", &req).ok_or_else(|| no_route(&req))??;
    if action.writes() {
        api.keys.authorize(&req)?;
    }
    let store = &api.store;
    match action {
        Action::List => list(store, store, &req).await,
        Action::Get(id) => get(store, store, id, &req).await,
        Action::Create => {
            let post = posts::create(store, &json_body(&req)?, once(&req)?.as_ref()).await?;
            Ok(response::created(
                format!("/posts/{}", post.value.id),
                &post,
            ))
        }
        Action::Replace(id) => update(store, id, WriteMode::Replace, &req).await,
        Action::Patch(id) => update(store, id, WriteMode::Patch, &req).await,
        Action::Delete(id) => {
            posts::delete(store, id, &if_match(&req)?).await?;
            Ok(response::deleted())
        }
    }
}

async fn list(
    store: &dyn PostRead,
    comments: &dyn CommentRead,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let params = query_pairs(req);
    let query = ListQuery::parse::<Post>(&params)?;
    let page = service::list(store, &query).await?;
    if query.include_related {
        let items = service::embed_comments(comments, &page.items).await?;
        let page = page.with_items(items);
        return Ok(response::page(&page, "/posts", &params));
    }
    Ok(response::page(&page, "/posts", &params))
}

async fn get(
    store: &dyn PostRead,
    comments: &dyn CommentRead,
    id: u64,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let embed = parse_read::<Post>(&query_pairs(req))?;
    let post = posts::get(store, id).await?;
    if embed {
        let mut with = service::embed_comments(comments, std::slice::from_ref(&post.value)).await?;
        return Ok(response::json(StatusCode::OK, &with.remove(0)));
    }
    Ok(response::resource(StatusCode::OK, &post))
}

async fn update(
    store: &dyn PostWrite,
    id: u64,
    mode: WriteMode,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let post = posts::update(store, id, &json_body(req)?, mode, &if_match(req)?).await?;
    Ok(response::resource(StatusCode::OK, &post))
}

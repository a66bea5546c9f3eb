//! `/comments`, `/comments/{id}` and `/posts/{id}/comments`: parse the request into a typed
//! route, call the domain, and let the edge map errors.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_core::Comment;
use ps_core::ports::{CommentRead, CommentWrite, PostRead};
use ps_core::query::{ListQuery, Page, parse_read};
use ps_core::service::{self, comments};
use ps_core::validation::WriteMode;
use ps_http::auth::TokenKeys;
use ps_http::etag::if_match;
use ps_http::request::{json_body, once, query_pairs};
use ps_http::route::{Action, no_route, path_id, route_key};
use ps_http::{ApiError, response};

/// What the function holds between invocations.
pub struct CommentsApi<S> {
    pub store: S,
    pub keys: TokenKeys,
}

/// The comments of one post: `/posts/{id}/comments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OfPost {
    List(u64),
    Create(u64),
}

impl OfPost {
    fn parse(req: &Request) -> Option<Result<OfPost, ApiError>> {
        let make: fn(u64) -> OfPost = match route_key(req).as_str() {
            "GET /posts/{id}/comments" => OfPost::List,
            "POST /posts/{id}/comments" => OfPost::Create,
            _ => return None,
        };
        Some(path_id(req, "id").map(make))
    }
}

pub async fn handle<S: PostRead + CommentWrite>(
    req: Request,
    api: &CommentsApi<S>,
) -> Response<Body> {
    ps_http::answer(req, |req| route(req, api)).await
}

async fn route<S: PostRead + CommentWrite>(
    req: Request,
    api: &CommentsApi<S>,
) -> Result<Response<Body>, ApiError> {
    let store = &api.store;
    if let Some(of_post) = OfPost::parse(&req) {
        return match of_post? {
            OfPost::List(post_id) => list_of_post(store, store, post_id, &req).await,
            OfPost::Create(post_id) => {
                api.keys.authorize(&req)?;
                create(store, Some(post_id), &req).await
            }
        };
    }
    let action = Action::on("/comments", &req).ok_or_else(|| no_route(&req))??;
    if action.writes() {
        api.keys.authorize(&req)?;
    }
    match action {
        Action::List => {
            let params = query_pairs(&req);
            let query = ListQuery::parse::<Comment>(&params)?;
            let page = service::list(store, &query).await?;
            answer_list(store, &query, page, "/comments", &params).await
        }
        Action::Get(id) => get(store, store, id, &req).await,
        Action::Create => create(store, None, &req).await,
        Action::Replace(id) => update(store, id, WriteMode::Replace, &req).await,
        Action::Patch(id) => update(store, id, WriteMode::Patch, &req).await,
        Action::Delete(id) => {
            comments::delete(store, id, &if_match(&req)?).await?;
            Ok(response::deleted())
        }
    }
}

async fn answer_list(
    posts: &dyn PostRead,
    query: &ListQuery,
    page: Page<Comment>,
    path: &str,
    params: &[(String, String)],
) -> Result<Response<Body>, ApiError> {
    if query.include_related {
        let items = service::expand_posts(posts, &page.items).await?;
        let page = page.with_items(items);
        return Ok(response::page(&page, path, params));
    }
    Ok(response::page(&page, path, params))
}

async fn list_of_post(
    posts: &dyn PostRead,
    store: &dyn CommentRead,
    post_id: u64,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let params = query_pairs(req);
    let (query, page) = comments::list_of_post(posts, store, post_id, &params).await?;
    answer_list(
        posts,
        &query,
        page,
        &format!("/posts/{post_id}/comments"),
        &params,
    )
    .await
}

async fn get(
    store: &dyn CommentRead,
    posts: &dyn PostRead,
    id: u64,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let expand = parse_read::<Comment>(&query_pairs(req))?;
    let comment = comments::get(store, id).await?;
    if expand {
        let mut with = service::expand_posts(posts, std::slice::from_ref(&comment.value)).await?;
        return Ok(response::json(StatusCode::OK, &with.remove(0)));
    }
    Ok(response::resource(StatusCode::OK, &comment))
}

async fn create(
    store: &dyn CommentWrite,
    post_id_from_path: Option<u64>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let comment = comments::create(
        store,
        &json_body(req)?,
        post_id_from_path,
        once(req)?.as_ref(),
    )
    .await?;
    Ok(response::created(
        format!("/comments/{}", comment.value.id),
        &comment,
    ))
}

async fn update(
    store: &dyn CommentWrite,
    id: u64,
    mode: WriteMode,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let comment = comments::update(store, id, &json_body(req)?, mode, &if_match(req)?).await?;
    Ok(response::resource(StatusCode::OK, &comment))
}

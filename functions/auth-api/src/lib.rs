//! `POST /auth/token`: trades a username and password for a short-lived bearer token.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_http::auth::{TokenKeys, UserDirectory};
use ps_http::request::json_or_form_body;
use ps_http::route::route_key;
use ps_http::{ApiError, response};
use serde::Serialize;
use serde_json::Value;

pub struct AuthApi {
    pub users: UserDirectory,
    pub keys: TokenKeys,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

pub async fn handle(req: Request, api: &AuthApi) -> Response<Body> {
    ps_http::answer(req, |req| route(req, api)).await
}

async fn route(req: Request, api: &AuthApi) -> Result<Response<Body>, ApiError> {
    let route = route_key(&req);
    match route.as_str() {
        "POST /auth/token" => issue_token(api, &req),
        _ => Err(ApiError::NoRoute(route)),
    }
}

fn credential(body: &Value, field: &str) -> Result<String, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::BadRequest(format!(
            "{field} is required and must be a non-empty string"
        ))),
    }
}

fn issue_token(api: &AuthApi, req: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_or_form_body(req)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("request body must be a JSON object".into()))?;
    // OAuth 2.0 password-grant clients also send grant_type; anything else is a typo.
    if let Some(unknown) = object
        .keys()
        .find(|k| !["username", "password", "grant_type"].contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!("unknown field {unknown}")));
    }
    if object.get("grant_type").is_some_and(|g| g != "password") {
        return Err(ApiError::BadRequest(
            "grant_type must be \"password\"".into(),
        ));
    }
    let username = credential(&body, "username")?;
    let password = credential(&body, "password")?;
    if !api.users.verify(&username, &password) {
        tracing::info!(%username, "login refused");
        return Err(ApiError::BadCredentials);
    }
    let token = TokenResponse {
        access_token: api.keys.issue(&username)?,
        token_type: "Bearer",
        expires_in: api.keys.ttl().as_secs(),
    };
    Ok(response::json(StatusCode::OK, &token))
}

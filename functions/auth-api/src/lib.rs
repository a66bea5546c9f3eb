//! `POST /auth/token`: trades a username and password for a short-lived bearer token.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use ps_core::login::{self, LoginAttempts};
use ps_http::auth::{TokenKeys, UserDirectory};
use ps_http::request::json_or_form_body;
use ps_http::route::{route_key, source_ip};
use ps_http::{ApiError, response};
use serde::Serialize;
use serde_json::Value;

pub struct AuthApi {
    pub users: UserDirectory,
    pub keys: TokenKeys,
    /// Where failed logins are counted (the meta table on AWS).
    pub attempts: std::sync::Arc<dyn LoginAttempts>,
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
        "POST /auth/token" => issue_token(api, &req).await,
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

/// What failed logins are counted under: the user name (as a digest, so no attacker-chosen
/// text is stored or logged) and the source address, each judged alone.
fn attempt_keys(username: &str, source_ip: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("name#{}", digest(username))];
    keys.extend(source_ip.map(|ip| format!("addr#{ip}")));
    keys
}

/// A short digest of a user name: stable, bounded, and not the name.
fn digest(username: &str) -> String {
    ps_http::digest::hex(&[username.to_lowercase().as_bytes()], 12)
}

/// A user name as the logs show it: its first characters (at most 3) and its digest, never
/// the whole of what an attacker typed.
fn for_logs(username: &str) -> String {
    let head: String = username.chars().take(3).collect();
    format!("{head}…#{}", &digest(username)[..8])
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

async fn issue_token(api: &AuthApi, req: &Request) -> Result<Response<Body>, ApiError> {
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
    let unavailable = |e: ps_core::ports::PortError| {
        ApiError::Service(ps_core::ServiceError::Unavailable(e.to_string()))
    };
    let now = now();
    let keys = attempt_keys(&username, source_ip(req).as_deref());
    let counted = api
        .attempts
        .counted(&keys, now)
        .await
        .map_err(unavailable)?;
    // Past the limit the password is not even checked: refusing costs nothing, and the
    // answer says nothing about it.
    if let Some(wait) = counted
        .iter()
        .filter_map(|c| login::refused_for(*c, now))
        .max()
    {
        tracing::warn!(user = %for_logs(&username), retry_after = wait, "login throttled");
        return Err(ApiError::TooManyRequests {
            message: "too many failed logins; try again later".into(),
            retry_after: wait,
        });
    }
    if !api.users.verify(&username, &password) {
        tracing::info!(user = %for_logs(&username), "login refused");
        api.attempts.failed(&keys, now).await.map_err(unavailable)?;
        return Err(ApiError::BadCredentials);
    }
    api.attempts
        .clear(&keys[0], now)
        .await
        .map_err(unavailable)?;
    let token = TokenResponse {
        access_token: api.keys.issue(&username)?,
        token_type: "Bearer",
        expires_in: api.keys.ttl().as_secs(),
    };
    Ok(response::json(StatusCode::OK, &token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_is_counted_and_logged_by_a_digest_never_in_full() {
        let long = "attacker-chosen-".repeat(100);
        let logged = for_logs(&long);
        assert!(logged.len() < 20, "{logged}");
        assert!(!logged.contains("attacker-chosen"));
        let keys = attempt_keys("Alice", Some("203.0.113.9"));
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0],
            attempt_keys("alice", None)[0],
            "names compare without case"
        );
        assert_ne!(keys[0], attempt_keys("bob", None)[0]);
        assert_eq!(keys[1], "addr#203.0.113.9");
        assert!(keys[0].len() < 40);
    }
}

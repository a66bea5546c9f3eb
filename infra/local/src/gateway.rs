//! A local stand-in for API Gateway (HTTP API): resolves the route from the template, builds
//! the payload format 2.0 event, invokes the function through the Lambda Invoke API that
//! `cargo lambda watch` serves, and turns the function's response back into HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::LocalError;
use crate::cors::Cors;
use crate::routes::{Route, Routes};

/// API Gateway's own payload limit for HTTP APIs.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The parts of an HTTP request that go into the event.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    /// Lower-case names; repeated headers joined with commas, as API Gateway does.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
}

fn is_text(headers: &[(String, String)]) -> bool {
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    match content_type {
        None => true,
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("text/")
                || ct.contains("json")
                || ct.contains("x-www-form-urlencoded")
                || ct.contains("xml")
        }
    }
}

/// The API Gateway HTTP API (payload format 2.0) event for a request on `route`.
pub fn api_gateway_event(
    route: &Route,
    path_parameters: &HashMap<String, String>,
    req: &HttpRequest,
) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(req.raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let headers: HashMap<&str, &str> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (body, is_base64) = if req.body.is_empty() {
        (Value::Null, false)
    } else if is_text(&req.headers) && std::str::from_utf8(&req.body).is_ok() {
        (
            Value::String(String::from_utf8_lossy(&req.body).into_owned()),
            false,
        )
    } else {
        (Value::String(BASE64.encode(&req.body)), true)
    };
    let request_id = format!("local-{}", now.as_nanos());
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": req.path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").copied().unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": headers.get("user-agent").copied().unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route.key(),
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": is_base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// A function's reply in payload format 2.0.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    pub status_code: u16,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    #[serde(default)]
    pub multi_value_headers: HashMap<String, Vec<String>>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

impl FunctionResponse {
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            None => Vec::new(),
            Some(b) if self.is_base64_encoded => BASE64.decode(b).unwrap_or_default(),
            Some(b) => b.clone().into_bytes(),
        }
    }
}

struct Gateway {
    routes: Routes,
    cors: Option<Cors>,
    invoke_base: String,
    client: reqwest::Client,
}

/// Serves the API on `listen`, invoking functions at `invoke_base` (e.g. `http://127.0.0.1:9000`).
pub async fn serve(
    listen: SocketAddr,
    routes: Routes,
    cors: Option<Cors>,
    invoke_base: String,
) -> Result<(), LocalError> {
    let state = Arc::new(Gateway {
        routes,
        cors,
        invoke_base,
        client: reqwest::Client::new(),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "gateway listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(json!({ "message": message }).to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let Some(cors) = &gw.cors else {
        return route(&gw, peer, method, uri, &headers, body).await;
    };
    if let Some(preflight) = cors.preflight(&method, &headers) {
        return preflight;
    }
    let mut response = route(&gw, peer, method, uri, &headers, body).await;
    cors.decorate(headers.get("origin"), &mut response);
    response
}

async fn route(
    gw: &Gateway,
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let Some((route, params)) = gw.routes.resolve(method.as_str(), uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let mut joined: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match joined.iter_mut().find(|(k, _)| k == name.as_str()) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => joined.push((name.as_str().to_owned(), value)),
        }
    }
    let request = HttpRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        raw_query: uri.query().unwrap_or_default().to_owned(),
        headers: joined,
        body: body.to_vec(),
        source_ip: peer.ip().to_string(),
    };
    let event = api_gateway_event(route, &params, &request);
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        gw.invoke_base, route.function
    );
    let reply = match gw.client.post(&url).json(&event).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, function = %route.function, "invoke failed");
            return plain(StatusCode::BAD_GATEWAY, "Bad Gateway");
        }
    };
    let failed =
        reply.headers().contains_key("x-amz-function-error") || !reply.status().is_success();
    let text = reply.text().await.unwrap_or_default();
    let parsed: Option<FunctionResponse> = if failed {
        None
    } else {
        serde_json::from_str(&text).ok()
    };
    let Some(fr) = parsed else {
        tracing::error!(function = %route.function, reply = %text, "function failed");
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    to_http(fr)
}

fn to_http(fr: FunctionResponse) -> Response<Body> {
    let mut response = Response::new(Body::from(fr.body_bytes()));
    *response.status_mut() =
        StatusCode::from_u16(fr.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    let singles = fr.headers.iter().map(|(k, v)| (k, vec![v.clone()]));
    for (name, values) in singles.chain(fr.multi_value_headers.iter().map(|(k, v)| (k, v.clone())))
    {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        headers.remove(&name);
        for value in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name.clone(), value);
            }
        }
    }
    response
}

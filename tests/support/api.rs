use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use auth_api::AuthApi;
use comments_api::CommentsApi;
use lambda_http::Body;
use lambda_http::http::HeaderMap;
use local_stack::gateway::{HttpRequest, api_gateway_event};
use local_stack::routes::Routes;
use posts_api::PostsApi;
use ps_http::auth::{TokenKeys, UserDirectory, hash_password};
use ps_store::DynamoStore;
use serde_json::Value;

use crate::{fresh_store, workspace_root};

pub const TEST_SECRET: &[u8] = b"a-test-only-secret-of-at-least-32-bytes";
pub const USER: &str = "demo";
pub const PASSWORD: &str = "demo-password";

fn demo_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD)).clone()
}

pub fn test_keys() -> TokenKeys {
    TokenKeys::new(TEST_SECRET, Duration::from_secs(900)).expect("test secret is long enough")
}

/// The ingest clients' secrets in tests: `acme`'s is this.
pub const INGEST_SECRET: &str = "acme-test-secret";

fn ingest_clients() -> ps_http::signature::Clients {
    use ps_http::signature::{Client, ClientSecret, Clients};
    let client = |value: &str| Client {
        secrets: vec![ClientSecret {
            value: value.to_owned(),
            until: None,
        }],
    };
    Clients(HashMap::from([
        ("acme".to_owned(), client(INGEST_SECRET)),
        ("other".to_owned(), client("other-test-secret")),
    ]))
}

/// The API as API Gateway would drive it: each request is resolved against template.yaml's
/// routes, turned into the payload 2.0 event, parsed by `lambda_http`, and handled by the
/// function the template names, over a real (emulated) DynamoDB.
pub struct Api {
    routes: Routes,
    posts: PostsApi<DynamoStore>,
    comments: CommentsApi<DynamoStore>,
    auth: AuthApi,
    /// Machine clients `acme` ([`INGEST_SECRET`]) and `other`; its rate may be changed.
    pub ingest: ingest_api::IngestApi<DynamoStore>,
    /// Only pipelines (tests/support/sync.rs) have the queue and remote it needs.
    pub sync: Option<sync_api::SyncApi>,
    pub store: DynamoStore,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag header")
    }
}

impl Api {
    pub async fn new() -> Api {
        Api::with_store(fresh_store().await)
    }

    pub fn with_store(store: DynamoStore) -> Api {
        let routes = Routes::from_template_file(&workspace_root().join("template.yaml"))
            .expect("template routes");
        let users =
            UserDirectory::new(HashMap::from([(USER.to_owned(), demo_hash())])).expect("users");
        Api {
            routes,
            posts: PostsApi {
                store: store.clone(),
                keys: test_keys(),
            },
            comments: CommentsApi {
                store: store.clone(),
                keys: test_keys(),
            },
            auth: AuthApi {
                users,
                keys: test_keys(),
                attempts: std::sync::Arc::new(store.clone()),
            },
            ingest: ingest_api::IngestApi {
                store: store.clone(),
                clients: Box::new(ingest_api::clients::Fixed(std::sync::Arc::new(
                    ingest_clients(),
                ))),
                per_minute: 1_000,
            },
            sync: None,
            store,
        }
    }

    pub fn token(&self) -> String {
        test_keys().issue(USER).expect("token")
    }

    pub async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> TestResponse {
        self.request_from("127.0.0.1", method, path_and_query, headers, body)
            .await
    }

    /// [`Api::request`] as if from `source_ip` (API Gateway's `sourceIp`).
    pub async fn request_from(
        &self,
        source_ip: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> TestResponse {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let Some((route, params)) = self.routes.resolve(method, path) else {
            return TestResponse {
                status: 404,
                headers: HeaderMap::new(),
                body: br#"{"message":"Not Found"}"#.to_vec(),
            };
        };
        let request = HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            raw_query: query.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: body.unwrap_or_default().to_vec(),
            source_ip: source_ip.to_owned(),
        };
        let event = api_gateway_event(route, &params, &request);
        let req = lambda_http::request::from_str(&event.to_string())
            .expect("lambda_http parses the event");
        let response = match route.function.as_str() {
            "posts-api" => posts_api::handle(req, &self.posts).await,
            "comments-api" => comments_api::handle(req, &self.comments).await,
            "auth-api" => auth_api::handle(req, &self.auth).await,
            "openapi" => openapi::handle(req).await,
            "console" => console::handle(req).await,
            "ingest-api" => ingest_api::handle(req, &self.ingest).await,
            "sync-api" => {
                let sync = self
                    .sync
                    .as_ref()
                    .expect("sync-api needs a Pipeline (tests/support/sync.rs)");
                sync_api::handle(req, sync).await
            }
            other => panic!("no in-process handler for function {other}"),
        };
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(t) => t.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request("GET", path, &[], None).await
    }

    /// An authorised JSON write.
    pub async fn write(&self, method: &str, path: &str, body: Value) -> TestResponse {
        self.write_with(method, path, body, &[]).await
    }

    pub async fn write_with(
        &self,
        method: &str,
        path: &str,
        body: Value,
        extra: &[(&str, &str)],
    ) -> TestResponse {
        let auth = format!("Bearer {}", self.token());
        let mut headers = vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let body = if body.is_null() {
            None
        } else {
            Some(body.to_string().into_bytes())
        };
        self.request(method, path, &headers, body.as_deref()).await
    }

    pub async fn delete(&self, path: &str, extra: &[(&str, &str)]) -> TestResponse {
        let auth = format!("Bearer {}", self.token());
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        self.request("DELETE", path, &headers, None).await
    }

    /// Creates a post and returns its id.
    pub async fn create_post(&self, title: &str) -> u64 {
        let r = self
            .write(
                "POST",
                "/posts",
                serde_json::json!({"title": title, "body": "body"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["id"].as_u64().expect("id")
    }

    /// Creates a comment on a post and returns its id.
    pub async fn create_comment(&self, post_id: u64, name: &str) -> u64 {
        let body = serde_json::json!({"postId": post_id, "name": name, "email": "a@example.com", "body": "b"});
        let r = self.write("POST", "/comments", body).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["id"].as_u64().expect("id")
    }
}

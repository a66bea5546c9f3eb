//! The remote REST API (JSONPlaceholder, or anything with its routes), behind the domain's
//! `RemoteApi` port. Every request waits for its turn under the rate limit (`limit`). A
//! failure that certainly did nothing (connection refused, 408, 429, 503) is retried with
//! exponential backoff and jitter, honouring `Retry-After` (seconds or an HTTP date); one
//! that may have done something (a timeout, a broken connection, another 5xx) is retried
//! only for calls that are safe to repeat, never for a create; anything else fails at once.

use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use ps_core::change::{EntityData, EntityKind};
use ps_core::ports::{RemoteApi, RemoteError, RemoteListing, RemotePage};
use ps_core::{Comment, Post};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod limit;
use limit::RateLimit;

#[derive(Debug, thiserror::Error)]
#[error("remote configuration: {0}")]
pub struct ConfigError(String);

#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub base_url: String,
    /// Requests per second, spread evenly: never more than this in any one-second window of
    /// the remote's clock, however late it stamps them (see `limit`).
    pub rate_per_second: NonZeroU32,
    pub timeout: Duration,
    /// Retries of one call within a run; after that the change waits for the next run.
    pub max_retries: usize,
    pub min_delay: Duration,
    /// A `Retry-After` longer than this is not waited for within the run.
    pub max_delay: Duration,
    /// Whether deleting a post deletes its comments on the remote too, as json-server and
    /// JSONPlaceholder do: then a deleted post's comments need no call of their own.
    pub deletes_cascade: bool,
}

impl RemoteConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        RemoteConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            rate_per_second: NonZeroU32::new(10).expect("non-zero"),
            timeout: Duration::from_secs(10),
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            deletes_cascade: true,
        }
    }

    /// `REMOTE_BASE_URL` (required), `REMOTE_RATE_LIMIT` (requests/s, default 10),
    /// `REMOTE_TIMEOUT_MS` (default 10000), `REMOTE_MAX_RETRIES` (default 3),
    /// `REMOTE_DELETES_CASCADE` (`true` or `false`, default `true`: json-server's behaviour).
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = std::env::var("REMOTE_BASE_URL")
            .map_err(|_| ConfigError("REMOTE_BASE_URL is not set".into()))?;
        let mut config = RemoteConfig::new(base);
        let number = |name: &str| -> Result<Option<u64>, ConfigError> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| ConfigError(format!("{name} must be a whole number"))),
                Err(_) => Ok(None),
            }
        };
        if let Some(rate) = number("REMOTE_RATE_LIMIT")? {
            config.rate_per_second = u32::try_from(rate)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| ConfigError("REMOTE_RATE_LIMIT must be at least 1".into()))?;
        }
        if let Some(ms) = number("REMOTE_TIMEOUT_MS")? {
            config.timeout = Duration::from_millis(ms);
        }
        if let Some(n) = number("REMOTE_MAX_RETRIES")? {
            config.max_retries = n as usize;
        }
        match std::env::var("REMOTE_DELETES_CASCADE").as_deref() {
            Err(_) | Ok("true") => {}
            Ok("false") => config.deletes_cascade = false,
            Ok(_) => {
                return Err(ConfigError(
                    "REMOTE_DELETES_CASCADE must be true or false".into(),
                ));
            }
        }
        Ok(config)
    }
}

/// What a failed attempt says about the call's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Certainly not done: the request never went out, or the remote said it did not
    /// take it (429, 503, 408).
    NotDone,
    /// Perhaps done: a timeout or broken connection after the request went out, or a
    /// server error other than 503.
    Unknown,
    /// Refused (any other 4xx): doing it again changes nothing.
    Refused,
}

/// A failed attempt, before the retry policy decides.
#[derive(Debug)]
struct Attempt {
    effect: Effect,
    retry_after: Option<Duration>,
    message: String,
}

/// `Retry-After`: whole seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// A successful answer: its JSON (`null` when empty or not JSON) and its `X-Total-Count`.
struct Answer {
    value: Value,
    total: Option<u64>,
}

pub struct HttpRemote {
    client: reqwest::Client,
    config: RemoteConfig,
    limit: RateLimit,
}

impl HttpRemote {
    pub fn new(config: RemoteConfig) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("placeholder-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError(e.to_string()))?;
        let limit = RateLimit::new(config.rate_per_second)
            .ok_or_else(|| ConfigError("rate limit too high".into()))?;
        Ok(HttpRemote {
            client,
            limit,
            config,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Attempt> {
        // Held until the answer is read: the remote counted the call by then.
        let _turn = self.limit.turn().await;
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.config.base_url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Attempt {
            // A refused or failed connection sent nothing; anything later may have been
            // acted on.
            effect: if e.is_connect() {
                Effect::NotDone
            } else {
                Effect::Unknown
            },
            retry_after: None,
            message: format!("{method} {path}: {e}"),
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let total = response
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let text = response.text().await.map_err(|e| Attempt {
            effect: Effect::Unknown,
            retry_after: None,
            message: format!("{method} {path}: {status}, body lost: {e}"),
        })?;
        // A 404 answers a DELETE (gone already) and a GET (not there); for the rest it is a
        // refusal.
        let not_found_answers = method == Method::DELETE || method == Method::GET;
        if status.is_success() || (status == StatusCode::NOT_FOUND && not_found_answers) {
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::Null)
            };
            return Ok(Answer { value, total });
        }
        let effect = if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Effect::NotDone
        } else if status.is_server_error() {
            Effect::Unknown
        } else {
            Effect::Refused
        };
        let snippet: String = text.chars().take(200).collect();
        Err(Attempt {
            effect,
            retry_after,
            message: format!("{method} {path}: {status} {snippet}"),
        })
    }

    /// One call, retried while the policy allows: a failure that certainly did nothing is
    /// retried for every method; one that may have done something only for methods that
    /// are safe to repeat (a POST's is returned as [`RemoteError::Unknown`], never repeated).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        self.call_answered(method, path, body)
            .await
            .map(|answer| answer.value)
    }

    async fn call_answered(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, RemoteError> {
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.config.min_delay)
            .with_max_delay(self.config.max_delay)
            .with_max_times(self.config.max_retries);
        let max_delay = self.config.max_delay;
        let repeatable = method != Method::POST;
        let result = (|| self.once(method.clone(), path, body))
            .retry(backoff)
            .when(|a: &Attempt| match a.effect {
                Effect::NotDone => true,
                Effect::Unknown => repeatable,
                Effect::Refused => false,
            })
            .adjust(move |a: &Attempt, planned| match (a.retry_after, planned) {
                // The remote said when: wait that long, unless it is longer than a run
                // should wait, in which case stop now and leave the change pending.
                (Some(after), Some(_)) if after <= max_delay => Some(after),
                (Some(_), _) | (None, None) => None,
                (None, planned) => planned,
            })
            .notify(|a: &Attempt, d: Duration| tracing::warn!(error = %a.message, retry_in_ms = d.as_millis() as u64, "remote call failed; retrying"))
            .await;
        match result {
            Ok(answer) => Ok(answer),
            Err(a) => Err(match a.effect {
                Effect::Refused => RemoteError::Rejected(a.message),
                Effect::Unknown if !repeatable => RemoteError::Unknown(a.message),
                Effect::NotDone | Effect::Unknown => RemoteError::Transient {
                    message: a.message,
                    retry_after: a.retry_after,
                },
            }),
        }
    }
}

fn collection(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Post => "posts",
        EntityKind::Comment => "comments",
    }
}

/// The JSON the remote gets: its own field names, without the id on create.
fn remote_body(data: &EntityData, remote_id: Option<u64>) -> Value {
    let mut body = match data {
        EntityData::Post(Post {
            user_id,
            title,
            body,
            ..
        }) => json!({"userId": user_id, "title": title, "body": body}),
        EntityData::Comment(Comment {
            post_id,
            name,
            email,
            body,
            ..
        }) => {
            json!({"postId": post_id, "name": name, "email": email, "body": body})
        }
    };
    if let Some(id) = remote_id {
        body["id"] = json!(id);
    }
    body
}

fn encode(value: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", value)])
        .map(|u| {
            u.query()
                .unwrap_or_default()
                .trim_start_matches("v=")
                .to_owned()
        })
        .unwrap_or_default()
}

#[async_trait]
impl RemoteApi for HttpRemote {
    async fn create(&self, data: &EntityData) -> Result<u64, RemoteError> {
        let path = format!("/{}", collection(data.key().kind));
        let answer = self
            .call(Method::POST, &path, Some(&remote_body(data, None)))
            .await?;
        answer["id"].as_u64().ok_or_else(|| {
            RemoteError::Rejected(format!(
                "POST {path}: the answer has no numeric id: {answer}"
            ))
        })
    }

    async fn replace(&self, remote_id: u64, data: &EntityData) -> Result<(), RemoteError> {
        let path = format!("/{}/{remote_id}", collection(data.key().kind));
        self.call(
            Method::PUT,
            &path,
            Some(&remote_body(data, Some(remote_id))),
        )
        .await
        .map(drop)
    }

    async fn delete(&self, kind: EntityKind, remote_id: u64) -> Result<(), RemoteError> {
        self.call(
            Method::DELETE,
            &format!("/{}/{remote_id}", collection(kind)),
            None,
        )
        .await
        .map(drop)
    }

    async fn find(&self, data: &EntityData) -> Result<Vec<u64>, RemoteError> {
        let path = match data {
            EntityData::Post(p) => {
                format!("/posts?userId={}&title={}", p.user_id, encode(&p.title))
            }
            EntityData::Comment(c) => {
                format!("/comments?postId={}&email={}", c.post_id, encode(&c.email))
            }
        };
        let found = self.call(Method::GET, &path, None).await?;
        let wanted = remote_body(data, None);
        let mut ids: Vec<u64> = found
            .as_array()
            .into_iter()
            .flatten()
            .filter(|candidate| {
                wanted
                    .as_object()
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| candidate.get(k) == Some(v))
            })
            .filter_map(|candidate| candidate["id"].as_u64())
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    fn deletes_cascade(&self) -> bool {
        self.config.deletes_cascade
    }

    async fn comments_of(&self, post_remote_id: u64) -> Result<Vec<u64>, RemoteError> {
        let path = format!("/comments?postId={post_remote_id}");
        let answer = self.call(Method::GET, &path, None).await?;
        let Some(comments) = answer.as_array() else {
            return Err(RemoteError::Rejected(format!(
                "GET {path}: the answer is not a list"
            )));
        };
        comments
            .iter()
            .map(|c| {
                c["id"].as_u64().ok_or_else(|| {
                    RemoteError::Rejected(format!("GET {path}: a comment without a numeric id"))
                })
            })
            .collect()
    }

    async fn probe(&self) -> Result<(), RemoteError> {
        match self.call(Method::GET, "/posts?_limit=1", None).await {
            // Any answer but a server error or throttling: the remote is there.
            Ok(_) | Err(RemoteError::Rejected(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A record as a remote lists it: JSONPlaceholder's fields, any others ignored (a record
/// someone else wrote may carry more).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedPost {
    id: u64,
    user_id: u64,
    title: String,
    body: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedComment {
    id: u64,
    post_id: u64,
    name: String,
    email: String,
    body: String,
}

fn listed(kind: EntityKind, record: Value) -> Result<EntityData, serde_json::Error> {
    Ok(match kind {
        EntityKind::Post => {
            let p: ListedPost = serde_json::from_value(record)?;
            EntityData::Post(Post {
                user_id: p.user_id,
                id: p.id,
                title: p.title,
                body: p.body,
            })
        }
        EntityKind::Comment => {
            let c: ListedComment = serde_json::from_value(record)?;
            EntityData::Comment(Comment {
                post_id: c.post_id,
                id: c.id,
                name: c.name,
                email: c.email,
                body: c.body,
            })
        }
    })
}

#[async_trait]
impl RemoteListing for HttpRemote {
    /// `GET /posts?_sort=id&_order=asc&id_gte=…&_limit=…`: keyset pages, which neither skip
    /// nor repeat a record when someone writes to the remote between two pages (an offset
    /// would).
    async fn list(
        &self,
        kind: EntityKind,
        after: u64,
        limit: usize,
    ) -> Result<RemotePage, RemoteError> {
        let path = format!(
            "/{}?_sort=id&_order=asc&id_gte={}&_limit={limit}",
            collection(kind),
            after + 1
        );
        let answer = self.call_answered(Method::GET, &path, None).await?;
        let Value::Array(records) = answer.value else {
            return Err(RemoteError::Rejected(format!(
                "GET {path}: the answer is not a list"
            )));
        };
        let records = records
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                listed(kind, record).map_err(|e| {
                    RemoteError::Rejected(format!(
                        "GET {path}: record {i} is not a {}: {e}",
                        kind.as_str()
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RemotePage {
            records,
            remaining: answer.total,
        })
    }
}

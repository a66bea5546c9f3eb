use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
pub use ps_core::ServiceError;
use ps_core::validation::ValidationErrors;
use serde::Serialize;

/// Every way a request can fail, each with exactly one status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("authentication required: send Authorization: Bearer <token>")]
    MissingToken,
    /// Malformed, expired or wrongly signed bearer token.
    #[error("{0}")]
    InvalidToken(String),
    /// A machine client's request signature is missing, malformed, stale or wrong.
    #[error("{0}")]
    InvalidSignature(String),
    /// Wrong username or password.
    #[error("invalid username or password")]
    BadCredentials,
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("{0}")]
    Conflict(String),
    /// Refused until `retry_after` seconds have passed (answered with `Retry-After`).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// An upstream (the remote API) could not be used; the message says how.
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a ValidationErrors>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Service(e) => match e {
                ServiceError::BadRequest(_) | ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                ServiceError::Conflict(_) => StatusCode::CONFLICT,
                ServiceError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MissingToken
            | ApiError::InvalidToken(_)
            | ApiError::InvalidSignature(_)
            | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let (message, errors) = match &self {
            // Backend details are for the logs, not for clients.
            ApiError::Service(ServiceError::Unavailable(detail)) => {
                tracing::error!(%detail, "storage unavailable");
                (
                    "storage temporarily unavailable; try again".to_owned(),
                    None,
                )
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ("internal error".to_owned(), None)
            }
            ApiError::Service(ServiceError::Invalid(errors)) => {
                ("validation failed".to_owned(), Some(errors))
            }
            other => (other.to_string(), None),
        };
        let body = serde_json::to_string(&ErrorBody { message, errors })
            .expect("error bodies always serialise");
        let mut response = crate::response::json_text(status, body);
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match self {
                ApiError::InvalidToken(_) => {
                    "Bearer realm=\"placeholder-sync\", error=\"invalid_token\""
                }
                ApiError::InvalidSignature(_) => "HMAC-SHA256 realm=\"placeholder-sync ingest\"",
                _ => "Bearer realm=\"placeholder-sync\"",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

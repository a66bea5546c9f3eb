//! The HTTP edge shared by the API functions: reading a `lambda_http` request, checking a
//! bearer token, and turning every error into one JSON shape with the right status, in
//! one place.

pub mod auth;
pub mod error;
pub mod request;
pub mod response;
pub mod telemetry;

pub use error::ApiError;

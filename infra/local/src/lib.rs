//! What AWS provides around the functions, done locally: API Gateway's routing and event
//! shape (from the same `template.yaml` that deploys), the stream's event source mapping, the
//! schedule, and table and queue set-up on the emulator.

pub mod cors;
pub mod gateway;
pub mod pump;
pub mod routes;
pub mod scheduler;
pub mod stream;
pub mod template;
pub mod wait;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("template: {0}")]
    Template(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

//! The DynamoDB store behind the domain's ports.
//!
//! Two tables. `entities` holds posts and comments, one item each, and has the stream that
//! change capture reads: only writes that change user data ever land there. `meta` holds
//! bookkeeping (id counters; later sync state and leases), which must never become change
//! events.

mod drift;
mod dynamo;
mod ingest;
pub mod items;
mod login;
mod reports;
pub mod schema;
mod sync_state;

pub use dynamo::DynamoStore;
pub use ingest::TRACKED_PER_DAY_MAX;
pub use login::EXPIRES_ATTRIBUTE;
pub use schema::{TableNames, create_tables};
pub use sync_state::{FailedEntity, StateSummary};

/// What went wrong talking to DynamoDB, before the ports turn it into a `StoreError`.
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("DynamoDB request failed: {0}")]
    Sdk(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("item does not match its schema: {0}")]
    Decode(#[from] serde_dynamo::Error),
}

impl DynamoError {
    pub fn sdk<E: std::error::Error + 'static>(e: E) -> Self {
        DynamoError::Sdk(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
    }
}

impl From<DynamoError> for ps_core::StoreError {
    fn from(e: DynamoError) -> Self {
        ps_core::StoreError::Backend(e.to_string())
    }
}

/// The store the functions use: AWS configuration from the environment (region,
/// credentials, and `AWS_ENDPOINT_URL` for a local emulator) and the table names from
/// `ENTITIES_TABLE` and `META_TABLE`.
pub async fn connect_from_env() -> Result<DynamoStore, DynamoError> {
    let tables = TableNames::from_env()?;
    Ok(DynamoStore::new(ps_aws::dynamodb_from_env().await, tables))
}

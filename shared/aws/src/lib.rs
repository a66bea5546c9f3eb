//! AWS as the functions use it: one configuration from the environment (region,
//! credentials, and `AWS_ENDPOINT_URL` for a local emulator), and the clients built from it,
//! each with the [`Audit`] installed when `PS_AWS_AUDIT_DIR` asks for it.

pub mod audit;
pub mod secrets;

pub use audit::{Audit, Inspection, Need, Recorded, inspect};

/// The configuration every client of a function shares.
pub async fn config_from_env() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// A DynamoDB client for `sdk`, audited by `audit` if given.
pub fn dynamodb(sdk: &aws_config::SdkConfig, audit: Option<&Audit>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(audit) = audit {
        config = config.interceptor(audit.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// An SQS client for `sdk`, audited by `audit` if given.
pub fn sqs(sdk: &aws_config::SdkConfig, audit: Option<&Audit>) -> aws_sdk_sqs::Client {
    let mut config = aws_sdk_sqs::config::Builder::from(sdk);
    if let Some(audit) = audit {
        config = config.interceptor(audit.clone());
    }
    aws_sdk_sqs::Client::from_conf(config.build())
}

/// A function's DynamoDB client, from its environment.
pub async fn dynamodb_from_env() -> aws_sdk_dynamodb::Client {
    dynamodb(&config_from_env().await, Audit::from_env().as_ref())
}

/// A function's SQS client, from its environment.
pub async fn sqs_from_env() -> aws_sdk_sqs::Client {
    sqs(&config_from_env().await, Audit::from_env().as_ref())
}

//! Secrets, read from Secrets Manager once per cold start, never from the environment (which
//! anyone allowed `lambda:GetFunctionConfiguration` reads). The environment names only the
//! secret (`…_SECRET_ARN`).

pub use aws_sdk_secretsmanager::Client;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("secret {id}: {reason}")]
    Read { id: String, reason: String },
}

/// A secret's value now, and the one before the last rotation, if there was one.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersions {
    pub current: String,
    pub previous: Option<String>,
}

impl std::fmt::Debug for SecretVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersions")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// A Secrets Manager client for `sdk`, audited by `audit` if given.
pub fn client(sdk: &aws_config::SdkConfig, audit: Option<&crate::Audit>) -> Client {
    let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if let Some(audit) = audit {
        config = config.interceptor(audit.clone());
    }
    Client::from_conf(config.build())
}

async fn stage(client: &Client, id: &str, stage: &str) -> Result<Option<String>, SecretError> {
    let read = client
        .get_secret_value()
        .secret_id(id)
        .version_stage(stage)
        .send()
        .await;
    match read {
        Ok(out) => Ok(out.secret_string),
        // No version holds the stage yet (a secret never rotated has no AWSPREVIOUS).
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
                && stage != "AWSCURRENT" =>
        {
            Ok(None)
        }
        Err(e) => Err(SecretError::Read {
            id: id.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        }),
    }
}

/// The current and previous values of secret `id` (an ARN or name).
pub async fn read(client: &Client, id: &str) -> Result<SecretVersions, SecretError> {
    let current = stage(client, id, "AWSCURRENT")
        .await?
        .ok_or_else(|| SecretError::Read {
            id: id.to_owned(),
            reason: "it holds no text".into(),
        })?;
    let previous = stage(client, id, "AWSPREVIOUS").await?;
    Ok(SecretVersions { current, previous })
}

/// The secret named by the environment variable `var`, read with the function's client.
pub async fn read_from_env(var: &'static str) -> Result<SecretVersions, SecretError> {
    let id = std::env::var(var).map_err(|_| SecretError::Missing(var))?;
    let client = client(
        &crate::config_from_env().await,
        crate::Audit::from_env().as_ref(),
    );
    read(&client, &id).await
}

/// Sets secret `name` to `value`, creating it if it does not exist (what the template's
/// secrets are to the local stack and the tests), and returns its ARN. A new value becomes
/// the current one; Secrets Manager keeps the one before as the previous.
pub async fn put(client: &Client, name: &str, value: &str) -> Result<String, SecretError> {
    let fail = |e: String| SecretError::Read {
        id: name.to_owned(),
        reason: e,
    };
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.arn.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            set(client, name, value).await
        }
        Err(e) => Err(fail(
            aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

/// Gives secret `id` (an ARN or name) a new current value; the one before becomes the
/// previous. Returns its ARN.
pub async fn set(client: &Client, id: &str, value: &str) -> Result<String, SecretError> {
    let out = client
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            id: id.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    Ok(out.arn.unwrap_or_default())
}

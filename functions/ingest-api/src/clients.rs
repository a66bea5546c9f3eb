//! Where the machine clients' secrets come from: Secrets Manager (`IngestClientsSecret`,
//! named by `INGEST_CLIENTS_SECRET_ARN`), read again at most once a minute, so that a client
//! added, rotated or revoked with `make client` counts within a minute on every instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;

use ps_http::signature::Clients;

/// How long an instance trusts the secret it read.
pub const REFRESH: Duration = Duration::from_secs(60);

#[async_trait]
pub trait ClientSource: Send + Sync {
    async fn clients(&self) -> Result<Arc<Clients>, String>;
}

/// A fixed set (tests).
pub struct Fixed(pub Arc<Clients>);

#[async_trait]
impl ClientSource for Fixed {
    async fn clients(&self) -> Result<Arc<Clients>, String> {
        Ok(self.0.clone())
    }
}

pub struct FromSecret {
    client: ps_aws::secrets::Client,
    id: String,
    cached: Mutex<Option<(Instant, Arc<Clients>)>>,
}

impl FromSecret {
    pub fn new(client: ps_aws::secrets::Client, id: String) -> Self {
        FromSecret {
            client,
            id,
            cached: Mutex::new(None),
        }
    }

    pub async fn from_env() -> Result<Self, ps_aws::secrets::SecretError> {
        let var = "INGEST_CLIENTS_SECRET_ARN";
        let id = std::env::var(var).map_err(|_| ps_aws::secrets::SecretError::Missing(var))?;
        let client = ps_aws::secrets::client(
            &ps_aws::config_from_env().await,
            ps_aws::Audit::from_env().as_ref(),
        );
        Ok(FromSecret::new(client, id))
    }
}

#[async_trait]
impl ClientSource for FromSecret {
    async fn clients(&self) -> Result<Arc<Clients>, String> {
        let mut cached = self.cached.lock().await;
        if let Some((at, clients)) = cached.as_ref() {
            if at.elapsed() < REFRESH {
                return Ok(clients.clone());
            }
        }
        let read = ps_aws::secrets::read(&self.client, &self.id)
            .await
            .map_err(|e| e.to_string())?;
        let clients: Clients = serde_json::from_str(&read.current)
            .map_err(|e| format!("the ingest clients' secret is not their JSON: {e}"))?;
        let clients = Arc::new(clients);
        *cached = Some((Instant::now(), clients.clone()));
        Ok(clients)
    }
}

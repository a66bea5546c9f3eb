//! A state store that passes every call through to another, with a hook before each save (the journal's included):
//! how a test makes a run die (return an error) or stall (wait) at exactly that point.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use ps_core::change::EntityKey;
use ps_core::merge::SyncState;
use ps_core::ports::{Claim, Lease, PortError, SyncStateStore};

pub struct SaveHook<'a, F> {
    inner: &'a dyn SyncStateStore,
    before_save: F,
}

impl<'a, F> SaveHook<'a, F> {
    /// `before_save` runs before each save; an error it returns is the save's.
    pub fn new(inner: &'a dyn SyncStateStore, before_save: F) -> Self {
        SaveHook { inner, before_save }
    }
}

#[async_trait]
impl<F, Fut> SyncStateStore for SaveHook<'_, F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), PortError>> + Send,
{
    async fn load(&self, keys: &[EntityKey]) -> Result<HashMap<EntityKey, SyncState>, PortError> {
        self.inner.load(keys).await
    }
    async fn save(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        (self.before_save)().await?;
        self.inner.save(lease, states).await
    }
    async fn journal(
        &self,
        lease: Lease,
        states: &mut [(EntityKey, SyncState)],
    ) -> Result<(), PortError> {
        (self.before_save)().await?;
        self.inner.journal(lease, states).await
    }
    async fn pending_page(
        &self,
        after: Option<EntityKey>,
        limit: usize,
    ) -> Result<Vec<EntityKey>, PortError> {
        self.inner.pending_page(after, limit).await
    }
    async fn try_lease(&self, owner: &str, ttl: Duration) -> Result<Option<Lease>, PortError> {
        self.inner.try_lease(owner, ttl).await
    }
    async fn release_lease(&self, owner: &str) -> Result<(), PortError> {
        self.inner.release_lease(owner).await
    }
    async fn claim_remote(
        &self,
        lease: Lease,
        remote_id: u64,
        key: EntityKey,
    ) -> Result<Claim, PortError> {
        self.inner.claim_remote(lease, remote_id, key).await
    }
    async fn release_remote(&self, remote_id: u64, key: EntityKey) -> Result<(), PortError> {
        self.inner.release_remote(remote_id, key).await
    }
}

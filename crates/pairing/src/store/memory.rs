//! In-memory store for tests and embedders that keep their own persistence.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Store, Transaction};
use crate::decision::DeviceChange;
use crate::error::{PairingError, StoreError};
use crate::records::DeviceState;

type Key = (String, String);

/// A [`Store`] in a mutex-guarded map. Every transaction holds the lock for its whole run.
#[derive(Debug, Default)]
pub struct MemoryStore {
    devices: Mutex<BTreeMap<Key, DeviceState>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<Key, DeviceState>>, StoreError> {
        self.devices
            .lock()
            .map_err(|_| StoreError("memory store lock poisoned".into()))
    }
}

fn key(sandbox: &str, device_id: &str) -> Key {
    (sandbox.to_owned(), device_id.to_owned())
}

#[async_trait]
impl Store for MemoryStore {
    async fn transact<T: Send + 'static>(
        &self,
        sandbox: &str,
        device_id: &str,
        f: Transaction<T>,
    ) -> Result<T, PairingError> {
        let mut map = self.lock()?;
        let k = key(sandbox, device_id);
        let current = map.get(&k).cloned().unwrap_or_default();
        let (value, change) = f(&current)?;
        if let DeviceChange::Replace(next) = change {
            if next.is_empty() {
                map.remove(&k);
            } else {
                let mut next = *next;
                for p in &mut next.pending {
                    p.sandbox = sandbox.to_owned();
                }
                map.insert(k, next);
            }
        }
        Ok(value)
    }

    async fn load_device(&self, sandbox: &str, device_id: &str) -> Result<DeviceState, StoreError> {
        Ok(self
            .lock()?
            .get(&key(sandbox, device_id))
            .cloned()
            .unwrap_or_default())
    }

    async fn find_request(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let map = self.lock()?;
        Ok(map
            .iter()
            .filter(|((sb, _), _)| sb == sandbox)
            .find(|(_, st)| {
                st.pending.iter().any(|p| p.request_id == request_id)
                    || st.history.iter().any(|h| h.request_id == request_id)
            })
            .map(|((_, dev), _)| dev.clone()))
    }

    async fn load_sandbox(&self, sandbox: &str) -> Result<Vec<DeviceState>, StoreError> {
        let map = self.lock()?;
        Ok(map
            .iter()
            .filter(|((sb, _), _)| sb == sandbox)
            .map(|(_, st)| st.clone())
            .collect())
    }
}

//! Storage of pairing state, keyed by (sandbox, device id).
//!
//! A store runs a pure decision closure against the current state of one device and applies its
//! result atomically: the read the decision was based on and the write happen in one transaction.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;

use crate::decision::DeviceChange;
use crate::error::{PairingError, StoreError};
use crate::records::DeviceState;

/// A decision closure: reads one device's state, returns a value and the change to apply.
pub type Transaction<T> =
    Box<dyn FnOnce(&DeviceState) -> Result<(T, DeviceChange), PairingError> + Send + 'static>;

/// Where pairing state lives. Records are per (sandbox, device id): a device paired in sandbox A
/// is not paired in sandbox B.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Loads the state of (`sandbox`, `device_id`), runs `f` on it and applies the returned
    /// change, all in one transaction. When `f` fails nothing is written.
    async fn transact<T: Send + 'static>(
        &self,
        sandbox: &str,
        device_id: &str,
        f: Transaction<T>,
    ) -> Result<T, PairingError>;

    /// Loads the state of one device (outside any transaction).
    async fn load_device(&self, sandbox: &str, device_id: &str) -> Result<DeviceState, StoreError>;

    /// Finds the device a request id belongs to (pending or recently resolved).
    async fn find_request(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Loads every device with stored state in a sandbox, ordered by device id.
    async fn load_sandbox(&self, sandbox: &str) -> Result<Vec<DeviceState>, StoreError>;
}

//! Process-wide services every sandbox listener uses.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sandgate_providers::InferenceClient;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::registry::Registry;

/// The pairing authority type the gateway runs (SQLite-backed).
pub type Authority = sandgate_pairing::PairingAuthority<sandgate_pairing::SqliteStore>;

/// Services shared by all sandboxes of one gateway process.
#[derive(Debug)]
pub struct Shared {
    /// Pairing and scope negotiation.
    pub pairing: Authority,
    /// The provider-agnostic inference client.
    pub inference: InferenceClient,
    /// Sandboxes and session history.
    pub registry: Registry,
    /// Persistent gateway id.
    pub gateway_id: String,
    /// Process start.
    pub started: Instant,
    /// Flips to true when the gateway shuts down.
    pub stopping: watch::Receiver<bool>,
    /// How long a client has to complete `connect` ([`crate::GatewayOptions::handshake_timeout`]).
    pub handshake_timeout: Duration,
    /// The gateway's clock ([`crate::GatewayOptions::clock`]).
    pub clock: Arc<dyn sandgate_pairing::Clock>,
    /// The Prometheus registry and families.
    pub metrics: Arc<Metrics>,
}

impl Shared {
    /// The gateway clock's now, ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

/// The version sandgate reports as `server.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Milliseconds since the Unix epoch (system time; the server side uses [`Shared::now_ms`]).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

//! The public types of the gateway API: options, specs, reported sandbox info and errors.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sandgate_pairing::{AuthorityConfig, Clock, SystemClock};
use sandgate_providers::ProviderKind;
use serde::Serialize;

use crate::ca::CaError;
use crate::egress::{EgressPolicy, Resolver, TunnelTimeouts};
pub use crate::limits::Limits;
use crate::registry::RegistryError;

/// Options for [`Gateway::open`].
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The state directory (`~/.sandgate` by default).
    pub state_dir: PathBuf,
    /// Address the sandbox listeners bind (loopback by default).
    pub bind: IpAddr,
    /// Resolver for egress tunnels (with test overrides only in tests).
    pub resolver: Resolver,
    /// Connect and idle timeouts of egress tunnels.
    pub tunnel: TunnelTimeouts,
    /// Timeouts and the per-sandbox connection cap of the listeners ([`Limits::default`]
    /// unless an embedder or a test sets them).
    pub limits: Limits,
    /// Upstream inference timeouts applied to every sandbox's route: the buffered call (and
    /// the wait for a stream's response head), and the idle gap allowed inside a stream.
    /// The providers' defaults (120 s each) unless an embedder or a test sets them.
    pub upstream_timeout: Duration,
    /// See [`GatewayOptions::upstream_timeout`].
    pub upstream_idle_timeout: Duration,
    /// How long a new socket has to complete `connect` (10 s, as OpenClaw).
    pub handshake_timeout: Duration,
    /// The clock of timestamps, pairing expiry and signature freshness (the system clock;
    /// [`sandgate_pairing::ManualClock`] in tests).
    pub clock: Arc<dyn Clock>,
    /// Pairing tunables (pending lifetime, event capacity, default policy).
    pub pairing: AuthorityConfig,
}

impl GatewayOptions {
    /// Loopback listeners on `state_dir`, default limits.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        GatewayOptions {
            state_dir: state_dir.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            resolver: Resolver::default(),
            tunnel: TunnelTimeouts::default(),
            limits: Limits::default(),
            upstream_timeout: sandgate_providers::DEFAULT_TIMEOUT,
            upstream_idle_timeout: sandgate_providers::DEFAULT_IDLE_TIMEOUT,
            handshake_timeout: crate::ws::handshake::HANDSHAKE_TIMEOUT,
            clock: Arc::new(SystemClock),
            pairing: AuthorityConfig::default(),
        }
    }

    /// The same options with `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// A sandbox's route as given at onboarding or by `inference set`.
#[derive(Clone)]
pub struct RouteSpec {
    /// Provider kind.
    pub provider: ProviderKind,
    /// Model to force.
    pub model: String,
    /// Endpoint; the provider's default when `None`.
    pub endpoint: Option<String>,
    /// The credential's value (read from the environment by the CLI; never from a flag).
    pub credential: Option<String>,
    /// The variable it was read from.
    pub credential_env: Option<String>,
}

impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSpec")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .field("credential_env", &self.credential_env)
            .finish()
    }
}

/// What to create in [`Gateway::create_sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Sandbox name (`[a-z0-9-]`, 1–63, starting with a letter or digit).
    pub name: String,
    /// Its inference route.
    pub route: RouteSpec,
    /// Its listener port.
    pub port: u16,
    /// Egress policy of its proxy (presets and explicit hosts).
    pub egress: EgressPolicy,
}

/// A sandbox as reported to the CLI. `token` is skipped by serde and redacted by `Debug`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxInfo {
    /// Name.
    pub name: String,
    /// Listener port.
    pub port: u16,
    /// Provider.
    pub provider: ProviderKind,
    /// Forced model.
    pub model: String,
    /// Upstream endpoint.
    pub endpoint: String,
    /// `ws://<bind>:<port>`.
    pub url: String,
    /// Creation time.
    pub created_at_ms: u64,
    /// Egress policy (presets and explicit hosts).
    pub egress: EgressPolicy,
    /// Egress refusals since the gateway started.
    pub egress_denied: u64,
    /// Whether a listener bound inside the sandbox's network namespace is being served.
    pub sandboxed_listener: bool,
    /// Where the sandbox CLI's device identity and token live.
    pub device_dir: PathBuf,
    /// The sandbox token (secret).
    #[serde(skip)]
    pub token: String,
}

impl std::fmt::Debug for SandboxInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxInfo")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Errors of gateway operations; each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Bad sandbox name.
    #[error(
        "invalid sandbox name {0:?}: use 1-63 lowercase letters, digits and '-', starting with a letter or digit"
    )]
    InvalidName(String),
    /// The name exists.
    #[error("sandbox {0} already exists: pick another name or run `sandgate {0} destroy` first")]
    NameTaken(String),
    /// No such sandbox.
    #[error("no sandbox named {0}: run `sandgate list` to see the sandboxes")]
    UnknownSandbox(String),
    /// The port is recorded for another sandbox or in use by another program.
    #[error("port {port} is not available ({why}): choose another with --port or omit it")]
    PortInUse {
        /// The port.
        port: u16,
        /// Who holds it.
        why: String,
    },
    /// State database failure.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// CA failure.
    #[error(transparent)]
    Tls(#[from] CaError),
    /// Pairing failure.
    #[error("pairing: {0}")]
    Pairing(#[from] sandgate_pairing::PairingError),
    /// Pairing store failure.
    #[error("pairing store: {0}")]
    PairingStore(#[from] sandgate_pairing::StoreError),
    /// Provider/inference failure.
    #[error("inference: {0}")]
    Inference(#[from] sandgate_providers::ProviderError),
    /// Identity file failure.
    #[error("device identity: {0}")]
    Identity(#[from] sandgate_core::identity::IdentityError),
    /// Metrics registry failure.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// Filesystem failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

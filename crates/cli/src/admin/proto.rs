//! Admin protocol messages. One JSON object per line: a [`Request`] tagged by `op`, answered
//! by `{"ok":true,"result":…}` or `{"ok":false,"error":{"kind","message","remedy"}}` (the
//! answers are in [`super::reply`]).

use std::fmt;
use std::path::PathBuf;

use sandgate_gateway::egress::{Denial, HostRule, Preset};
use sandgate_providers::ProviderKind;
use serde::{Deserialize, Serialize};

use crate::args::Isolation;
use crate::error::{CliError, ErrorKind};

/// A secret string: serialised as is (the admin socket is trusted), never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An inference route as sent over the admin socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Provider.
    pub provider: ProviderKind,
    /// Model.
    pub model: String,
    /// Endpoint override.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The credential value read from the environment by the CLI.
    #[serde(default)]
    pub credential: Option<Secret>,
    /// The variable it came from.
    #[serde(default)]
    pub credential_env: Option<String>,
}

/// A request to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the daemon alive? Answers [`Health`].
    Health,
    /// The gateway and every sandbox; `probe` also checks every inference route.
    Status {
        /// Probe inference routes.
        #[serde(default)]
        probe: bool,
    },
    /// Create a sandbox. `port: None` lets the daemon allocate one.
    CreateSandbox {
        /// Sandbox name.
        name: String,
        /// Route.
        route: Route,
        /// Requested port.
        #[serde(default)]
        port: Option<u16>,
        /// Egress presets.
        #[serde(default)]
        policies: Vec<Preset>,
        /// Isolation of the sandbox's sessions.
        #[serde(default)]
        isolation: Option<Isolation>,
    },
    /// Serve the listener a sandbox's init bound inside its network namespace (fetched from
    /// the init's control socket), replacing any earlier one.
    AttachSandbox {
        /// Sandbox name.
        name: String,
        /// Replace a listener already served (a new init); otherwise attaching is a no-op then.
        #[serde(default)]
        replace: bool,
    },
    /// Stop serving the sandbox's in-namespace listener.
    DetachSandbox {
        /// Sandbox name.
        name: String,
    },
    /// Remove a sandbox.
    DestroySandbox {
        /// Sandbox name.
        name: String,
    },
    /// Replace a sandbox's route.
    SetRoute {
        /// Sandbox name.
        name: String,
        /// The new route.
        route: Route,
    },
    /// Record the outcome of onboarding's verification turn.
    MarkVerified {
        /// Sandbox name.
        name: String,
        /// Whether the turn succeeded.
        verified: bool,
        /// Why not, when it failed.
        #[serde(default)]
        error: Option<String>,
    },
    /// The sandbox's egress policy. Answers [`PolicyReply`].
    PolicyList {
        /// Sandbox name.
        name: String,
    },
    /// Change the sandbox's egress policy. Answers [`PolicyReply`].
    PolicyChange {
        /// Sandbox name.
        name: String,
        /// The change.
        change: PolicyChange,
    },
    /// Egress refusals since a time. Answers `Vec<Denial>`.
    EgressDenials {
        /// Sandbox name.
        name: String,
        /// Ms since the epoch.
        since_ms: u64,
    },
    /// Pending requests and paired devices.
    DevicesList {
        /// Sandbox name.
        name: String,
    },
    /// Approve a pending request as the host admin.
    DevicesApprove {
        /// Sandbox name.
        name: String,
        /// Request id.
        request_id: String,
    },
    /// Reject a pending request.
    DevicesReject {
        /// Sandbox name.
        name: String,
        /// Request id.
        request_id: String,
    },
    /// Revoke a paired device.
    DevicesRevoke {
        /// Sandbox name.
        name: String,
        /// Device id.
        device_id: String,
    },
}

/// One change to an egress policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyChange {
    /// Add a preset.
    AddPreset(Preset),
    /// Remove a preset.
    RemovePreset(Preset),
    /// Add an explicit host rule.
    AddHost(HostRule),
    /// Remove an explicit host rule.
    RemoveHost(HostRule),
}

/// One preset as `policy list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetView {
    /// Preset.
    pub name: Preset,
    /// What it opens.
    pub description: String,
    /// `host:port` patterns it opens (for `local-inference`, the sandbox's endpoint if local).
    pub hosts: Vec<String>,
}

/// A sandbox's egress policy, as enforced right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReply {
    /// Sandbox name.
    pub sandbox: String,
    /// Active presets.
    pub presets: Vec<PresetView>,
    /// Explicit host rules.
    pub hosts: Vec<HostRule>,
    /// Refusals since the gateway started.
    pub denied: u64,
    /// Whether the call changed anything (false for a no-op add/remove and for `list`).
    #[serde(default)]
    pub changed: bool,
}

/// Refusals of one session, as the daemon returns them.
pub type Denials = Vec<Denial>;

/// The error half of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable cause.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// What to do.
    pub remedy: String,
}

impl From<CliError> for ErrorBody {
    fn from(e: CliError) -> Self {
        ErrorBody {
            kind: e.kind,
            message: e.message,
            remedy: e.remedy,
        }
    }
}

impl From<ErrorBody> for CliError {
    fn from(e: ErrorBody) -> Self {
        CliError::new(e.kind, e.message, e.remedy)
    }
}

/// The answer to [`Request::Health`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Gateway id (new for every daemon start).
    pub id: String,
    /// Daemon pid.
    pub pid: u32,
    /// Start time, ms since the epoch.
    pub started_at_ms: u64,
    /// sandgate version.
    pub version: String,
    /// SHA-256 fingerprint of the gateway CA.
    pub ca_fingerprint: String,
    /// CA bundle for `SSL_CERT_FILE`.
    pub ca_bundle: PathBuf,
    /// Admin socket path.
    pub admin_socket: PathBuf,
    /// Where `/metrics` is served (host only), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<String>,
}

/// Inference health of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceHealth {
    /// `healthy`, `unreachable` or `not probed`.
    pub state: String,
    /// Error detail when unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A sandbox as the daemon describes it (also stored as `sandboxes/<name>/sandbox.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxView {
    /// Name.
    pub name: String,
    /// Port.
    pub port: u16,
    /// Provider.
    pub provider: ProviderKind,
    /// Model.
    pub model: String,
    /// Provider endpoint.
    pub endpoint: String,
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Egress presets enforced by the sandbox's proxy.
    #[serde(default)]
    pub policies: Vec<Preset>,
    /// Explicit egress host rules.
    #[serde(default)]
    pub egress_hosts: Vec<HostRule>,
    /// Egress refusals since the gateway started.
    #[serde(default)]
    pub egress_denied: u64,
    /// Isolation of `connect`/`exec` sessions chosen at onboarding (`auto` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Whether the gateway serves a listener inside the running sandbox.
    #[serde(default)]
    pub sandbox_running: bool,
    /// Directory holding the sandbox CLI's device identity.
    pub device_dir: PathBuf,
    /// CA bundle path.
    pub ca_bundle: PathBuf,
    /// Whether onboarding's verification turn succeeded.
    #[serde(default)]
    pub verified: bool,
    /// Why verification failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
    /// Inference health, when probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<InferenceHealth>,
    /// Usage since the gateway started (status answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<sandgate_gateway::metrics::SandboxUsage>,
}

/// The answer to [`Request::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The gateway.
    pub gateway: Health,
    /// Every sandbox.
    pub sandboxes: Vec<SandboxView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        let r: Result<Request, _> = serde_json::from_str(r#"{"op":"health"}"#);
        assert_eq!(r.ok(), Some(Request::Health));
        let r = Request::DevicesApprove {
            name: "a".into(),
            request_id: "r1".into(),
        };
        let s = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(
            s,
            r#"{"op":"devices_approve","name":"a","request_id":"r1"}"#
        );
    }

    #[test]
    fn credential_is_redacted_in_debug() {
        let r = Request::SetRoute {
            name: "a".into(),
            route: Route {
                provider: ProviderKind::GeminiApi,
                model: "m".into(),
                endpoint: None,
                credential: Some(Secret::new("sk-very-secret".into())),
                credential_env: Some("GEMINI_API_KEY".into()),
            },
        };
        assert!(!format!("{r:?}").contains("sk-very-secret"));
    }
}

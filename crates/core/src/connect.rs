//! `connect` request params (§2.2 plus the v4 additions seen on the wire) and the
//! `connect.challenge` event payload.
//!
//! Parsing ([`ConnectParams::from_value`]) enforces the closed schema and the strict
//! `client.id` / `client.mode` enums; [`ConnectParams::validate`] then enforces non-empty and
//! maximum-length rules. The role stays a string until [`ConnectParams::role`], so that an
//! invalid role is reported as `invalid role`, as the reference gateway does.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::frame::EventFrame;
use crate::role::{InvalidRole, Role};
use crate::scope::{Scope, ScopeSet};

/// Maximum length of ordinary strings in connect params (bytes).
pub const MAX_STRING_LEN: usize = 1024;
/// Maximum length of identifiers (`device.id`, `client.instanceId`, `role`, scopes, nonce).
pub const MAX_ID_LEN: usize = 256;
/// Maximum length of `pathEnv` (a node's PATH can be long).
pub const MAX_PATH_ENV_LEN: usize = 8192;
/// Maximum number of requested scopes.
pub const MAX_SCOPES: usize = 64;
/// Maximum number of entries in `caps`, `commands` and `permissions`.
pub const MAX_LIST_ITEMS: usize = 256;

/// `client.id`: a strict enum; anything else fails validation (e.g. `ios-node`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientId {
    /// `webchat-ui`
    #[serde(rename = "webchat-ui")]
    WebchatUi,
    /// `openclaw-control-ui`
    #[serde(rename = "openclaw-control-ui")]
    ControlUi,
    /// `openclaw-tui`
    #[serde(rename = "openclaw-tui")]
    Tui,
    /// `webchat`
    #[serde(rename = "webchat")]
    Webchat,
    /// `cli`: the OpenClaw CLI.
    #[serde(rename = "cli")]
    Cli,
    /// `gateway-client`: internal/backend calls.
    #[serde(rename = "gateway-client")]
    GatewayClient,
    /// `openclaw-macos`
    #[serde(rename = "openclaw-macos")]
    Macos,
    /// `openclaw-ios`
    #[serde(rename = "openclaw-ios")]
    Ios,
    /// `openclaw-android`
    #[serde(rename = "openclaw-android")]
    Android,
    /// `node-host`
    #[serde(rename = "node-host")]
    NodeHost,
    /// `test`
    #[serde(rename = "test")]
    Test,
    /// `fingerprint`
    #[serde(rename = "fingerprint")]
    Fingerprint,
    /// `openclaw-probe`
    #[serde(rename = "openclaw-probe")]
    Probe,
    /// `openclaw-browser-copilot` (v4)
    #[serde(rename = "openclaw-browser-copilot")]
    BrowserCopilot,
    /// `openclaw-linux` (v4)
    #[serde(rename = "openclaw-linux")]
    Linux,
    /// `openclaw-watchos` (v4)
    #[serde(rename = "openclaw-watchos")]
    Watchos,
    /// `openclaw-worker` (v4)
    #[serde(rename = "openclaw-worker")]
    Worker,
}

/// `client.mode`: a strict enum (`operator` is *not* a mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientMode {
    /// `webchat`
    Webchat,
    /// `cli`
    Cli,
    /// `ui`
    Ui,
    /// `backend`
    Backend,
    /// `node`
    Node,
    /// `probe`
    Probe,
    /// `test`
    Test,
    /// `worker` (v4)
    Worker,
}

/// Serde's wire string for a unit enum value (used in signature payloads).
fn wire_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

impl ClientId {
    /// The wire spelling.
    pub fn as_wire(self) -> String {
        wire_str(&self)
    }
    /// True for the browser Control UI clients (`openclaw-control-ui`, `webchat`).
    pub fn is_control_ui(self) -> bool {
        matches!(self, ClientId::ControlUi | ClientId::Webchat)
    }
}

impl ClientMode {
    /// The wire spelling.
    pub fn as_wire(self) -> String {
        wire_str(&self)
    }
}

/// `connect.params.client`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientInfo {
    /// Which client program this is.
    pub id: ClientId,
    /// Optional display name (backend calls send e.g. `gateway:health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Client version (required, non-empty).
    pub version: String,
    /// OS platform (required, non-empty): `linux`, `darwin`, …
    pub platform: String,
    /// Device family (`Linux` from 9.6 CLIs); signed lowercased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// Hardware model identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_identifier: Option<String>,
    /// Client mode.
    pub mode: ClientMode,
    /// Per-process instance id (the CLI sends a random UUID per call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// `connect.params.device`: the signed device proof (all fields required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceProof {
    /// Claimed device id (must equal the public key fingerprint).
    pub id: String,
    /// Public key: base64url raw 32 bytes (PEM SPKI also accepted).
    pub public_key: String,
    /// Ed25519 signature over the v3/v2 payload, base64url.
    pub signature: String,
    /// Signing time, epoch ms.
    pub signed_at: u64,
    /// Must equal the challenge nonce (may be empty on the wire; rejected at verification).
    pub nonce: String,
}

/// `connect.params.auth`: credentials. `Debug` never prints a value.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectAuth {
    /// Shared gateway token (or, for 5.28 reconnects, the device token again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// QR/setup-code bootstrap token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<String>,
    /// Device token issued at an earlier `hello-ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// Shared gateway password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// v4 approval runtime token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_runtime_token: Option<String>,
    /// v4 agent runtime identity token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_runtime_identity_token: Option<String>,
}

impl ConnectAuth {
    /// The token bound into the signature: `token ?? deviceToken ?? bootstrapToken ?? ""`.
    pub fn signature_token(&self) -> &str {
        self.token
            .as_deref()
            .or(self.device_token.as_deref())
            .or(self.bootstrap_token.as_deref())
            .unwrap_or("")
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("token", &self.token),
            ("bootstrapToken", &self.bootstrap_token),
            ("deviceToken", &self.device_token),
            ("password", &self.password),
            ("approvalRuntimeToken", &self.approval_runtime_token),
            (
                "agentRuntimeIdentityToken",
                &self.agent_runtime_identity_token,
            ),
        ]
    }
}

impl fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ConnectAuth");
        for (name, value) in self.fields() {
            if value.is_some() {
                d.field(name, &format_args!("<redacted>"));
            }
        }
        d.finish()
    }
}

/// `connect` params (closed at every level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnectParams {
    /// Lowest protocol the client speaks (≥ 1).
    pub min_protocol: u32,
    /// Highest protocol the client speaks (≥ 1).
    pub max_protocol: u32,
    /// Who is connecting.
    pub client: ClientInfo,
    /// Client capabilities (`tool-events`, node caps, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    /// Node command allowlist claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// Node permission toggles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, bool>>,
    /// Node PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_env: Option<String>,
    /// Requested role, raw; see [`ConnectParams::role`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Requested scopes in the order sent (the order is signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<Scope>>,
    /// Signed device proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceProof>,
    /// Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ConnectAuth>,
    /// Client locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// Why connect params are invalid. Displays as `invalid connect params: …` (the reference
/// message, which the gateway sends verbatim with close 1008).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectParamsError {
    /// The params do not match the closed schema (unknown field, bad enum, wrong type, …).
    #[error("invalid connect params: {0}")]
    Schema(String),
    /// A string that must be non-empty is empty.
    #[error("invalid connect params: at {0}: must not be empty")]
    Empty(&'static str),
    /// A string or list exceeds its limit.
    #[error("invalid connect params: at {path}: longer than {max}")]
    TooLong {
        /// JSON-pointer-like path of the field.
        path: &'static str,
        /// The limit.
        max: usize,
    },
    /// A protocol bound below 1.
    #[error("invalid connect params: at {0}: must be >= 1")]
    ProtocolBound(&'static str),
}

fn check_str(
    path: &'static str,
    s: &str,
    non_empty: bool,
    max: usize,
) -> Result<(), ConnectParamsError> {
    if non_empty && s.is_empty() {
        return Err(ConnectParamsError::Empty(path));
    }
    if s.len() > max {
        return Err(ConnectParamsError::TooLong { path, max });
    }
    Ok(())
}

fn check_opt(
    path: &'static str,
    s: &Option<String>,
    non_empty: bool,
    max: usize,
) -> Result<(), ConnectParamsError> {
    s.as_deref()
        .map_or(Ok(()), |s| check_str(path, s, non_empty, max))
}

fn check_list(path: &'static str, items: &Option<Vec<String>>) -> Result<(), ConnectParamsError> {
    let Some(items) = items else { return Ok(()) };
    if items.len() > MAX_LIST_ITEMS {
        return Err(ConnectParamsError::TooLong {
            path,
            max: MAX_LIST_ITEMS,
        });
    }
    items
        .iter()
        .try_for_each(|s| check_str(path, s, false, MAX_STRING_LEN))
}

impl ConnectParams {
    /// Parses `connect` params from the request's `params` value (closed schema, strict enums).
    pub fn from_value(params: Value) -> Result<ConnectParams, ConnectParamsError> {
        serde_json::from_value(params).map_err(|e| ConnectParamsError::Schema(e.to_string()))
    }

    /// Parses and then [`validate`](ConnectParams::validate)s.
    pub fn parse(params: Value) -> Result<ConnectParams, ConnectParamsError> {
        let p = ConnectParams::from_value(params)?;
        p.validate()?;
        Ok(p)
    }

    /// Non-empty and length rules the schema cannot express in serde.
    pub fn validate(&self) -> Result<(), ConnectParamsError> {
        if self.min_protocol < 1 {
            return Err(ConnectParamsError::ProtocolBound("/minProtocol"));
        }
        if self.max_protocol < 1 {
            return Err(ConnectParamsError::ProtocolBound("/maxProtocol"));
        }
        let c = &self.client;
        check_opt("/client/displayName", &c.display_name, true, MAX_STRING_LEN)?;
        check_str("/client/version", &c.version, true, MAX_STRING_LEN)?;
        check_str("/client/platform", &c.platform, true, MAX_STRING_LEN)?;
        check_opt(
            "/client/deviceFamily",
            &c.device_family,
            true,
            MAX_STRING_LEN,
        )?;
        check_opt(
            "/client/modelIdentifier",
            &c.model_identifier,
            true,
            MAX_STRING_LEN,
        )?;
        check_opt("/client/instanceId", &c.instance_id, true, MAX_ID_LEN)?;
        check_list("/caps", &self.caps)?;
        check_list("/commands", &self.commands)?;
        if let Some(p) = &self.permissions {
            if p.len() > MAX_LIST_ITEMS {
                return Err(ConnectParamsError::TooLong {
                    path: "/permissions",
                    max: MAX_LIST_ITEMS,
                });
            }
            p.keys()
                .try_for_each(|k| check_str("/permissions", k, false, MAX_ID_LEN))?;
        }
        check_opt("/pathEnv", &self.path_env, false, MAX_PATH_ENV_LEN)?;
        check_opt("/role", &self.role, true, MAX_ID_LEN)?;
        if let Some(scopes) = &self.scopes {
            if scopes.len() > MAX_SCOPES {
                return Err(ConnectParamsError::TooLong {
                    path: "/scopes",
                    max: MAX_SCOPES,
                });
            }
            scopes
                .iter()
                .try_for_each(|s| check_str("/scopes", s.as_str(), false, MAX_ID_LEN))?;
        }
        if let Some(d) = &self.device {
            check_str("/device/id", &d.id, true, MAX_ID_LEN)?;
            check_str("/device/publicKey", &d.public_key, true, MAX_STRING_LEN)?;
            check_str("/device/signature", &d.signature, true, MAX_STRING_LEN)?;
            check_str("/device/nonce", &d.nonce, false, MAX_ID_LEN)?;
        }
        if let Some(a) = &self.auth {
            for (name, value) in a.fields() {
                let path = match name {
                    "token" => "/auth/token",
                    "bootstrapToken" => "/auth/bootstrapToken",
                    "deviceToken" => "/auth/deviceToken",
                    "password" => "/auth/password",
                    "approvalRuntimeToken" => "/auth/approvalRuntimeToken",
                    _ => "/auth/agentRuntimeIdentityToken",
                };
                check_opt(path, value, false, MAX_STRING_LEN)?;
            }
        }
        check_opt("/locale", &self.locale, false, MAX_STRING_LEN)?;
        check_opt("/userAgent", &self.user_agent, false, MAX_STRING_LEN)?;
        Ok(())
    }

    /// The effective role: `operator` when absent, else the parsed role string.
    pub fn role(&self) -> Result<Role, InvalidRole> {
        self.role.as_deref().map_or(Ok(Role::DEFAULT), str::parse)
    }

    /// The role string that is signed: the raw role, or `operator` when absent.
    pub fn role_str(&self) -> &str {
        self.role.as_deref().unwrap_or(Role::DEFAULT.as_str())
    }

    /// Requested scopes in the order sent (empty when absent).
    pub fn scopes_in_order(&self) -> &[Scope] {
        self.scopes.as_deref().unwrap_or(&[])
    }

    /// Requested scopes as a set (deduplicated, sorted).
    pub fn scope_set(&self) -> ScopeSet {
        self.scopes_in_order().iter().collect()
    }

    /// The token bound into the device signature (empty without `auth`).
    pub fn signature_token(&self) -> &str {
        self.auth.as_ref().map_or("", ConnectAuth::signature_token)
    }
}

/// Payload of the `connect.challenge` event, sent on open without `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectChallenge {
    /// Fresh nonce (UUID v4) the device must sign.
    pub nonce: String,
    /// Server time, epoch ms (later clients use it as `signedAt`).
    pub ts: u64,
    /// 9.6 advertises server capabilities here (e.g. `model-catalog-snapshot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

impl ConnectChallenge {
    /// Event name of the challenge.
    pub const EVENT: &'static str = "connect.challenge";

    /// A challenge without capabilities.
    pub fn new(nonce: impl Into<String>, ts: u64) -> Self {
        ConnectChallenge {
            nonce: nonce.into(),
            ts,
            capabilities: None,
        }
    }

    /// Wraps the challenge in its event frame (no `seq`).
    pub fn to_event(&self) -> EventFrame {
        EventFrame::new(Self::EVENT, serde_json::to_value(self).ok())
    }

    /// The challenge carried by `ev`, if it is one.
    pub fn from_event(ev: &EventFrame) -> Option<ConnectChallenge> {
        if ev.event != Self::EVENT {
            return None;
        }
        serde_json::from_value(ev.payload.clone()?).ok()
    }
}

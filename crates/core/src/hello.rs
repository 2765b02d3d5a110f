//! The `hello-ok` payload the gateway returns for a successful `connect` (§2.4, wire README §3).
//!
//! Modelled on the 2026.5.28 and 2026.9.6 recordings: every field either build sent is
//! represented (closed objects), so recorded payloads parse and re-serialise unchanged. Large
//! open blobs (`snapshot.health`, presence entries, Control UI descriptors) stay
//! [`serde_json::Value`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::codes::open_string_enum;
use crate::frame::StateVersion;
use crate::protocol::ProtocolVersion;
use crate::role::Role;
use crate::scope::Scope;

/// Default `policy.maxPayload` (25 MiB; same as [`crate::frame::MAX_FRAME_BYTES`]).
pub const DEFAULT_MAX_PAYLOAD: u64 = 26_214_400;
/// Default `policy.maxBufferedBytes` (50 MiB).
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 52_428_800;
/// Default `policy.tickIntervalMs`; clients close 4000 after twice this with no traffic.
pub const DEFAULT_TICK_INTERVAL_MS: u64 = 30_000;

/// The literal `"hello-ok"` discriminator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelloOkTag;

impl Serialize for HelloOkTag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("hello-ok")
    }
}

impl<'de> Deserialize<'de> for HelloOkTag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "hello-ok" {
            Ok(HelloOkTag)
        } else {
            Err(serde::de::Error::custom(format!(
                "expected \"hello-ok\", got {s:?}"
            )))
        }
    }
}

/// `hello-ok`: the `res` payload of a successful connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelloOk {
    /// Always `"hello-ok"`.
    #[serde(rename = "type")]
    pub kind: HelloOkTag,
    /// The negotiated protocol version.
    pub protocol: ProtocolVersion,
    /// Server identity.
    pub server: ServerInfo,
    /// Advertised methods, events and capabilities (a discovery hint).
    pub features: Features,
    /// Initial state snapshot.
    pub snapshot: Snapshot,
    /// v3 only: scoped canvas URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canvas_host_url: Option<String>,
    /// v4: plugin surface URLs (e.g. `canvas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_surface_urls: Option<BTreeMap<String, String>>,
    /// 9.6: Control UI widget kinds (opaque to sandgate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_ui_widget_kinds: Option<Vec<Value>>,
    /// 9.6: Control UI link readers (opaque to sandgate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_ui_link_readers: Option<Vec<Value>>,
    /// Session authority; optional in v3 (only when a token was issued), always sent in v4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HelloAuth>,
    /// Limits the client should respect.
    pub policy: Policy,
}

impl HelloOk {
    /// A minimal hello-ok with default policy and no extras.
    pub fn new(
        protocol: ProtocolVersion,
        server: ServerInfo,
        features: Features,
        snapshot: Snapshot,
        auth: Option<HelloAuth>,
    ) -> Self {
        HelloOk {
            kind: HelloOkTag,
            protocol,
            server,
            features,
            snapshot,
            canvas_host_url: None,
            plugin_surface_urls: None,
            control_ui_widget_kinds: None,
            control_ui_link_readers: None,
            auth,
            policy: Policy::default(),
        }
    }

    /// The payload as a JSON value (for [`crate::frame::ResponseFrame::ok`]).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `hello-ok.server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerInfo {
    /// Server version string.
    pub version: String,
    /// This connection's id (UUID).
    pub conn_id: String,
    /// 9.6: build id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// 9.6: per-boot id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// 9.6: where the Control UI bundle comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_ui_build_source: Option<String>,
}

impl ServerInfo {
    /// Version and connection id only.
    pub fn new(version: impl Into<String>, conn_id: impl Into<String>) -> Self {
        ServerInfo {
            version: version.into(),
            conn_id: conn_id.into(),
            build_id: None,
            boot_id: None,
            control_ui_build_source: None,
        }
    }
}

/// `hello-ok.features`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Method names the server implements.
    pub methods: Vec<String>,
    /// Event names the server may send.
    pub events: Vec<String>,
    /// v4: capability strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

/// `hello-ok.snapshot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Snapshot {
    /// Presence entries (opaque objects).
    pub presence: Vec<Value>,
    /// Health report (opaque).
    pub health: Value,
    /// Presence/health versions.
    pub state_version: StateVersion,
    /// Gateway uptime.
    pub uptime_ms: u64,
    /// Default session routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_defaults: Option<SessionDefaults>,
    /// Update notice (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_available: Option<Value>,
    /// 9.6: update schedule (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_schedule: Option<Value>,
    /// 9.6: suspension state (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Value>,
    /// v4: applied config hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_config_hash: Option<String>,
    /// Admin only: config file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// Admin only: state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// Admin only: gateway auth mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
}

impl Snapshot {
    /// An empty snapshot: no presence, `health: {}`.
    pub fn empty(state_version: StateVersion, uptime_ms: u64) -> Self {
        Snapshot {
            presence: Vec::new(),
            health: Value::Object(serde_json::Map::new()),
            state_version,
            uptime_ms,
            session_defaults: None,
            update_available: None,
            update_schedule: None,
            suspension: None,
            applied_config_hash: None,
            config_path: None,
            state_dir: None,
            auth_mode: None,
        }
    }
}

/// `hello-ok.snapshot.sessionDefaults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionDefaults {
    /// Default agent (`main`).
    pub default_agent_id: String,
    /// Main session key segment (`main`).
    pub main_key: String,
    /// Full main session key (`agent:main:main`).
    pub main_session_key: String,
    /// Session scoping (`per-sender`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// 9.6: a model is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_configured: Option<bool>,
    /// 9.6: ownership mode (`sole`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<String>,
    /// 9.6: whether the client must pick a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_required: Option<bool>,
}

open_string_enum! {
    /// `hello-ok.auth.method` (9.6): how the session authenticated.
    AuthMethod {
        /// Shared gateway token.
        Token => "token",
        /// Device token.
        DeviceToken => "device-token",
        /// Bootstrap (QR/setup-code) token.
        BootstrapToken => "bootstrap-token",
        /// Shared password.
        Password => "password",
        /// `gateway.auth.mode = none`.
        NoAuth => "none",
        /// Trusted proxy identity.
        TrustedProxy => "trusted-proxy",
    }
}

/// `hello-ok.auth`: the session's authority and any issued device token. `Debug` redacts
/// the token(s).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelloAuth {
    /// 9.6: how the session authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<AuthMethod>,
    /// The session role.
    pub role: Role,
    /// The session scopes (v4: the live authority; 5.28 reports the token's scopes).
    pub scopes: Vec<Scope>,
    /// 9.6: recovery scope digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_scope: Option<String>,
    /// 9.6: whether recovery migration is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_migration_allowed: Option<bool>,
    /// Issued device token (the client stores it with role and scopes). Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// `rotatedAtMs ?? createdAtMs` of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<u64>,
    /// Extra tokens during bootstrap handoff (shape unverified; kept opaque). Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_tokens: Option<Vec<Value>>,
}

impl HelloAuth {
    /// Authority without a device token (device-less connects).
    pub fn new(role: Role, scopes: Vec<Scope>) -> Self {
        HelloAuth {
            method: None,
            role,
            scopes,
            recovery_scope: None,
            recovery_migration_allowed: None,
            device_token: None,
            issued_at_ms: None,
            device_tokens: None,
        }
    }

    /// Adds an issued device token.
    pub fn with_device_token(mut self, token: impl Into<String>, issued_at_ms: u64) -> Self {
        self.device_token = Some(token.into());
        self.issued_at_ms = Some(issued_at_ms);
        self
    }
}

impl fmt::Debug for HelloAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelloAuth")
            .field("method", &self.method)
            .field("role", &self.role)
            .field("scopes", &self.scopes)
            .field("recovery_scope", &self.recovery_scope)
            .field(
                "recovery_migration_allowed",
                &self.recovery_migration_allowed,
            )
            .field(
                "device_token",
                &self.device_token.as_ref().map(|_| "<redacted>"),
            )
            .field("issued_at_ms", &self.issued_at_ms)
            .field(
                "device_tokens",
                &self
                    .device_tokens
                    .as_ref()
                    .map(|v| format!("<{} redacted>", v.len())),
            )
            .finish()
    }
}

/// `hello-ok.policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Max frame size after the handshake.
    pub max_payload: u64,
    /// Send-buffer limit before slow-consumer handling.
    pub max_buffered_bytes: u64,
    /// Tick period.
    pub tick_interval_ms: u64,
    /// v4: attachment limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<AttachmentPolicy>,
    /// 9.6: session visibilities the client may choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_session_visibilities: Option<Vec<String>>,
    /// 9.6: whether several identities share sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_multiple_session_sharing_identities: Option<bool>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            tick_interval_ms: DEFAULT_TICK_INTERVAL_MS,
            attachments: None,
            allowed_session_visibilities: None,
            has_multiple_session_sharing_identities: None,
        }
    }
}

/// `hello-ok.policy.attachments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttachmentPolicy {
    /// Max attachment size.
    pub max_bytes: u64,
    /// Max image size.
    pub max_image_bytes: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_a_minimal_v4_hello() {
        let hello = HelloOk::new(
            ProtocolVersion::V4,
            ServerInfo::new("sandgate 0.1.0", "c1"),
            Features {
                methods: vec!["health".into()],
                events: vec!["tick".into()],
                capabilities: None,
            },
            Snapshot::empty(
                StateVersion {
                    presence: 1,
                    health: 1,
                },
                5,
            ),
            Some(
                HelloAuth::new(Role::Operator, vec![Scope::Read])
                    .with_device_token("tok-secret", 9),
            ),
        );
        let v = hello.to_value();
        assert_eq!(v["type"], json!("hello-ok"));
        assert_eq!(v["protocol"], json!(4));
        assert_eq!(
            v["policy"],
            json!({"maxPayload":26214400,"maxBufferedBytes":52428800,"tickIntervalMs":30000})
        );
        assert_eq!(
            v["auth"],
            json!({"role":"operator","scopes":["operator.read"],"deviceToken":"tok-secret","issuedAtMs":9})
        );
        let back: HelloOk = serde_json::from_value(v).unwrap();
        assert_eq!(back, hello);
        assert!(!format!("{hello:?}").contains("tok-secret"));
    }

    #[test]
    fn rejects_wrong_tag_and_unknown_fields() {
        let mut v = HelloOk::new(
            ProtocolVersion::V3,
            ServerInfo::new("v", "c"),
            Features::default(),
            Snapshot::empty(StateVersion::default(), 0),
            None,
        )
        .to_value();
        assert!(serde_json::from_value::<HelloOk>(v.clone()).is_ok());
        v["type"] = json!("hello");
        assert!(serde_json::from_value::<HelloOk>(v.clone()).is_err());
        v["type"] = json!("hello-ok");
        v["policy"]["bogus"] = json!(1);
        assert!(serde_json::from_value::<HelloOk>(v).is_err());
    }
}

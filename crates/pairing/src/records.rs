//! Stored record shapes: paired devices, their device tokens, pending requests, and the short
//! history of resolved requests.
//!
//! Field names follow OpenClaw's `paired.json` / `pending.json` (reference §5.2) and serialise in
//! camelCase, so a [`PendingRequest`] is directly the `device.pair.requested` payload and an entry
//! of `device.pair.list`.

use std::collections::BTreeMap;

use sandgate_core::{Role, Scope, ScopeSet};
use serde::{Deserialize, Serialize};

/// How a scope or role entered a device's approved baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovedVia {
    /// Granted at the handshake by the sandbox policy ceiling (eligible client).
    Policy,
    /// Approved by the host admin (admin socket).
    HostAdmin,
    /// Approved by a WebSocket session holding the scopes it approved.
    Session,
}

/// Client metadata copied from `connect.client` / `connect.device`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceMetadata {
    /// Human label (`client.displayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `client.platform`; pinned at approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `client.deviceFamily`; pinned at approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// `client.id` (`cli`, `gateway-client`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `client.mode` (`cli`, `backend`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
}

/// One device token as stored: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// The role the token authenticates.
    pub role: Role,
    /// Normalised scopes the token may request.
    pub scopes: ScopeSet,
    /// Lowercase hex SHA-256 of the token string. Never leaves the store.
    pub hash: String,
    /// When the first token for this role was minted.
    pub created_at_ms: u64,
    /// When the current secret replaced an older one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<u64>,
    /// When the token was revoked; a revoked token never authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
    /// Last successful device-token authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
    /// False while the secret has not been handed to the device itself (minted at approval);
    /// such a token is replaced by a fresh one at the device's next connect.
    #[serde(default = "default_true")]
    pub delivered: bool,
}

fn default_true() -> bool {
    true
}

impl TokenRecord {
    /// True unless revoked.
    pub fn is_live(&self) -> bool {
        self.revoked_at_ms.is_none()
    }

    /// The redacted form shown by `list`.
    pub fn summary(&self) -> TokenSummary {
        TokenSummary {
            role: self.role,
            scopes: self.scopes.clone(),
            created_at_ms: self.created_at_ms,
            rotated_at_ms: self.rotated_at_ms,
            revoked_at_ms: self.revoked_at_ms,
            last_used_at_ms: self.last_used_at_ms,
        }
    }
}

/// A token without its secret or hash (`device.pair.list` redaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    /// Role of the token.
    pub role: Role,
    /// Scopes of the token.
    pub scopes: ScopeSet,
    /// First mint.
    pub created_at_ms: u64,
    /// Last rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<u64>,
    /// Revocation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<u64>,
    /// Last use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
}

/// A paired device in one sandbox (`paired.json[deviceId]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    /// 64-char lowercase hex device id.
    pub device_id: String,
    /// base64url public key; must match exactly for the record to count as paired.
    pub public_key: String,
    /// Client metadata (platform/deviceFamily pinned).
    #[serde(flatten)]
    pub metadata: DeviceMetadata,
    /// Role of the last approval.
    pub role: Role,
    /// Approved roles (union over approvals).
    pub roles: Vec<Role>,
    /// The approved scope baseline (normalised).
    pub approved_scopes: ScopeSet,
    /// Device tokens by role.
    #[serde(default)]
    pub tokens: BTreeMap<Role, TokenRecord>,
    /// First pairing.
    pub created_at_ms: u64,
    /// Last approval (policy or human).
    pub approved_at_ms: u64,
    /// Who made the last approval.
    pub approved_via: ApprovedVia,
}

impl PairedDevice {
    /// The live token for `role`, if any.
    pub fn live_token(&self, role: Role) -> Option<&TokenRecord> {
        self.tokens.get(&role).filter(|t| t.is_live())
    }

    /// Roles that are approved and hold a non-revoked token (OpenClaw `listEffectivePairedDeviceRoles`).
    pub fn effective_roles(&self) -> Vec<Role> {
        self.roles
            .iter()
            .copied()
            .filter(|r| self.live_token(*r).is_some())
            .collect()
    }

    /// True when `role` is approved.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Adds a role to the approved set (kept sorted, no duplicates).
    pub fn add_role(&mut self, role: Role) {
        if !self.roles.contains(&role) {
            self.roles.push(role);
            self.roles.sort();
        }
    }

    /// The redacted view for `list`.
    pub fn redacted(&self) -> PairedDeviceView {
        PairedDeviceView {
            device_id: self.device_id.clone(),
            public_key: self.public_key.clone(),
            metadata: self.metadata.clone(),
            role: self.role,
            roles: self.roles.clone(),
            scopes: self.approved_scopes.clone(),
            tokens: self.tokens.values().map(TokenRecord::summary).collect(),
            created_at_ms: self.created_at_ms,
            approved_at_ms: self.approved_at_ms,
            approved_via: self.approved_via,
        }
    }
}

/// A paired device as `device.pair.list` shows it: no token values or hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDeviceView {
    /// Device id.
    pub device_id: String,
    /// Public key.
    pub public_key: String,
    /// Metadata.
    #[serde(flatten)]
    pub metadata: DeviceMetadata,
    /// Role of the last approval.
    pub role: Role,
    /// Approved roles.
    pub roles: Vec<Role>,
    /// The approved scope baseline.
    pub scopes: ScopeSet,
    /// Token summaries, sorted by role.
    pub tokens: Vec<TokenSummary>,
    /// First pairing.
    pub created_at_ms: u64,
    /// Last approval.
    pub approved_at_ms: u64,
    /// Provenance of the last approval.
    pub approved_via: ApprovedVia,
}

/// A pending pairing request (reference §5.2); also the `device.pair.requested` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    /// Sandbox the request belongs to (not part of the wire payload).
    #[serde(skip)]
    pub sandbox: String,
    /// UUID v4.
    pub request_id: String,
    /// Device id.
    pub device_id: String,
    /// Public key the device presented.
    pub public_key: String,
    /// Client metadata.
    #[serde(flatten)]
    pub metadata: DeviceMetadata,
    /// Requested role.
    pub role: Role,
    /// Union of requested roles.
    pub roles: Vec<Role>,
    /// Requested scopes, in the order first sent, merged on supersede.
    pub scopes: Vec<Scope>,
    /// True when the server intended to approve it without a human.
    pub silent: bool,
    /// True when a paired record already existed for this device id.
    pub is_repair: bool,
    /// Creation time (ms); kept when the request is refreshed.
    pub ts: u64,
}

impl PendingRequest {
    /// The requested scopes as a normalised set.
    pub fn scope_set(&self) -> ScopeSet {
        self.scopes.iter().collect::<ScopeSet>().normalized()
    }

    /// True once `ttl_ms` has passed since creation.
    pub fn is_expired(&self, now_ms: u64, ttl_ms: u64) -> bool {
        now_ms.saturating_sub(self.ts) > ttl_ms
    }

    /// `roles ∪ {role}`, sorted.
    pub fn all_roles(&self) -> Vec<Role> {
        let mut roles = self.roles.clone();
        if !roles.contains(&self.role) {
            roles.push(self.role);
        }
        roles.sort();
        roles.dedup();
        roles
    }
}

/// How a request left the pending set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HistoryOutcome {
    /// Approved (by a human or by policy).
    Approved,
    /// Rejected, or dropped by device removal.
    Rejected,
    /// Replaced by a newer request for the same device.
    Superseded,
    /// Its TTL ran out.
    Expired,
}

/// A resolved request id, kept for a while so repeated operations get a precise error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The request id.
    pub request_id: String,
    /// Device it belonged to.
    pub device_id: String,
    /// What happened.
    pub outcome: HistoryOutcome,
    /// When.
    pub ts: u64,
    /// For superseded requests: the replacing request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// Everything stored for one (sandbox, device id): the unit a decision reads and replaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceState {
    /// The paired record, if any.
    pub paired: Option<PairedDevice>,
    /// Pending requests for the device (normally at most one; may include expired ones).
    pub pending: Vec<PendingRequest>,
    /// Recently resolved request ids.
    pub history: crate::history::History,
}

impl DeviceState {
    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.paired.is_none() && self.pending.is_empty() && self.history.is_empty()
    }
}

//! Typed errors. Every error leaves the stored state unchanged.

use sandgate_core::Role;

/// Why a presented device token did not authenticate (reference §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    /// No paired record with this public key.
    DeviceNotPaired,
    /// No token stored for the role.
    TokenMissing,
    /// The token was revoked.
    TokenRevoked,
    /// The secret does not match (or was rotated away).
    TokenMismatch,
}

impl TokenFailure {
    /// The reference's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFailure::DeviceNotPaired => "device-not-paired",
            TokenFailure::TokenMissing => "token-missing",
            TokenFailure::TokenRevoked => "token-revoked",
            TokenFailure::TokenMismatch => "token-mismatch",
        }
    }
}

/// A storage failure (SQLite, serialisation, a panicked blocking task).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pairing store error: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(format!("record encoding: {e}"))
    }
}

/// Everything the pairing authority can refuse. None of these change stored state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The presented device token is unknown, revoked, or wrong (`AUTH_DEVICE_TOKEN_MISMATCH`).
    #[error("unauthorized: device token mismatch ({})", .0.as_str())]
    DeviceTokenMismatch(TokenFailure),
    /// The token is valid but does not cover the requested role/scopes (`AUTH_SCOPE_MISMATCH`).
    #[error("device token scope mismatch")]
    ScopeMismatch,
    /// A device identity is needed for this connect (`DEVICE_IDENTITY_REQUIRED`).
    #[error("device identity required")]
    DeviceIdentityRequired,
    /// Malformed or absurd input.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Scopes this gateway does not know.
    #[error("unknown scopes: {}", .0.join(","))]
    UnknownScopes(Vec<String>),
    /// A scope that does not belong to the requested role(s).
    #[error("invalid scope for requested roles: {scope}")]
    ScopeNotForRole {
        /// The offending scope.
        scope: String,
    },
    /// No such request.
    #[error("unknown requestId")]
    UnknownRequest,
    /// The request's TTL ran out.
    #[error("pairing request expired")]
    RequestExpired,
    /// The request was already approved.
    #[error("pairing request already approved")]
    AlreadyApproved,
    /// The request was already rejected.
    #[error("pairing request already rejected")]
    AlreadyRejected,
    /// The request was replaced by a newer one.
    #[error("pairing request superseded by {by}")]
    Superseded {
        /// The live request id.
        by: String,
    },
    /// No such device in this sandbox.
    #[error("unknown deviceId")]
    UnknownDevice,
    /// The device has no such approved role / token.
    #[error("unknown deviceId/role")]
    UnknownDeviceRole {
        /// The role asked about.
        role: Role,
    },
    /// A session approver lacks a scope it tried to grant.
    #[error("missing scope: {scope}")]
    ApproverMissingScope {
        /// The scope it lacks.
        scope: String,
    },
    /// Approving a non-operator role needs admin.
    #[error("approving role {role} requires operator.admin")]
    AdminRequired {
        /// The role.
        role: Role,
    },
    /// A non-admin session may manage only its own device.
    #[error("device ownership mismatch")]
    NotOwnDevice,
    /// Rotation target scopes outside the approved baseline.
    #[error("scope outside approved baseline")]
    ScopeOutsideBaseline,
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PairingError {
    /// The wire detail code (`error.details.code`) a gateway should send.
    pub fn code(&self) -> &'static str {
        match self {
            PairingError::DeviceTokenMismatch(_) => "AUTH_DEVICE_TOKEN_MISMATCH",
            PairingError::ScopeMismatch => "AUTH_SCOPE_MISMATCH",
            PairingError::DeviceIdentityRequired => "DEVICE_IDENTITY_REQUIRED",
            PairingError::Store(_) => "UNAVAILABLE",
            _ => "INVALID_REQUEST",
        }
    }
}

//! [`ClientError`]: every client failure, typed, with a cause id and a remedy, and its
//! decoding from a gateway [`ErrorShape`] by detail code.

use sandgate_core::codes::DetailCode;
use sandgate_core::frame::ErrorShape;
use serde_json::Value;

/// Typed failures, each with a cause id and a remedy.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No gateway answered at the URL.
    #[error("gateway not reachable at {url}: {detail}")]
    Unreachable {
        /// Target.
        url: String,
        /// Why.
        detail: String,
    },
    /// The gateway holds a pairing request for this device.
    #[error("pairing required ({reason}){}", .request_id.as_ref().map(|r| format!(" (requestId: {r})")).unwrap_or_default())]
    PairingRequired {
        /// The pending request.
        request_id: Option<String>,
        /// `not-paired`, `scope-upgrade`, …
        reason: String,
        /// The command that approves it.
        remedy: String,
    },
    /// The session lacks a scope for a method.
    #[error("missing scope: {scope}")]
    ScopeDenied {
        /// The missing scope.
        scope: String,
        /// What to do.
        remedy: String,
    },
    /// Credentials were refused.
    #[error("authentication failed ({code}): {message}")]
    AuthFailed {
        /// `details.code`.
        code: DetailCode,
        /// The gateway's message.
        message: String,
    },
    /// The sandbox's provider failed.
    #[error("{message}")]
    Upstream {
        /// The gateway's message.
        message: String,
        /// What to do.
        remedy: String,
    },
    /// The gateway answered something this client does not understand, or a request failed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The gateway closed the connection.
    #[error("gateway closed the connection ({code}): {reason}")]
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Local identity or token files could not be used.
    #[error("device identity: {0}")]
    Identity(String),
}

impl ClientError {
    /// A stable cause id for CLIs and JSON output.
    pub fn cause(&self) -> &'static str {
        match self {
            ClientError::Unreachable { .. } => "gateway_unreachable",
            ClientError::PairingRequired { .. } => "pairing_required",
            ClientError::ScopeDenied { .. } => "scope_denied",
            ClientError::AuthFailed { .. } => "auth_failed",
            ClientError::Closed { code: 4001, .. } => "auth_failed",
            ClientError::Upstream { .. } => "upstream_error",
            ClientError::Protocol(_) | ClientError::Closed { .. } => "protocol_error",
            ClientError::Identity(_) => "identity_error",
        }
    }

    /// What the user should do next.
    pub fn remedy(&self) -> String {
        match self {
            ClientError::Unreachable { .. } => "start the gateway with `sandgate gateway start` and check `sandgate status`".into(),
            ClientError::PairingRequired { remedy, .. } | ClientError::ScopeDenied { remedy, .. } | ClientError::Upstream { remedy, .. } => remedy.clone(),
            ClientError::AuthFailed { .. } | ClientError::Closed { code: 4001, .. } => {
                "this device's credentials were refused or revoked: list devices with `sandgate <sandbox> devices list` and approve the pending request, or re-onboard".into()
            }
            ClientError::Protocol(_) | ClientError::Closed { .. } => "check `sandgate status` and the gateway log (`sandgate <sandbox> logs`)".into(),
            ClientError::Identity(_) => "check the permissions of the sandbox's device files, or re-onboard the sandbox".into(),
        }
    }

    /// The error a gateway answered with, classified by `details.code`.
    pub fn from_shape(err: &ErrorShape) -> ClientError {
        let field = |k: &str| {
            err.details
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let remedy = field("remedy");
        let message = err.message.clone();
        match err.detail_code() {
            Some(DetailCode::PairingRequired) => ClientError::PairingRequired {
                request_id: field("requestId"),
                reason: field("reason").unwrap_or_else(|| "not-paired".into()),
                remedy: remedy.unwrap_or_else(|| "approve the pending request with `sandgate <sandbox> devices approve <requestId>`".into()),
            },
            Some(DetailCode::MissingScope) => ClientError::ScopeDenied {
                scope: field("missingScope").unwrap_or_default(),
                remedy: remedy.unwrap_or_else(|| {
                    "this session was not granted that scope; ask the host admin to approve the device's pending request".into()
                }),
            },
            Some(DetailCode::UpstreamError) => ClientError::Upstream {
                message,
                remedy: remedy.unwrap_or_else(|| "check the sandbox's provider with `sandgate <sandbox> status`".into()),
            },
            Some(code) if code.is_auth_failure() => ClientError::AuthFailed { code, message },
            _ => match message.strip_prefix("missing scope: ") {
                Some(scope) => ClientError::ScopeDenied {
                    scope: scope.to_owned(),
                    remedy: "ask the host admin to approve the device's pending request".into(),
                },
                None => ClientError::Protocol(format!("{}: {message}", err.code)),
            },
        }
    }
}

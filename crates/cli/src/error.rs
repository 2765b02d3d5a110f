//! The CLI's error type: every error names its cause and the next step.

use std::fmt;

/// Declares [`ErrorKind`] from one list of `Variant => "wire_name"` pairs: the names are
/// what `--json` prints as `error.type` and what the admin socket carries as `error.kind`.
macro_rules! error_kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// The stable, machine-readable cause of a [`CliError`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorKind {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &[ErrorKind] = &[$(ErrorKind::$variant,)+];

            /// The wire name (`gateway_down`, …).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $name,)+
                }
            }
        }

        impl std::str::FromStr for ErrorKind {
            type Err = UnknownErrorKind;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(ErrorKind::$variant),)+
                    _ => Err(UnknownErrorKind(s.to_owned())),
                }
            }
        }
    };
}

error_kinds! {
    /// The admin socket answered something this CLI cannot read.
    AdminProtocolError => "admin_protocol_error",
    /// Another daemon already serves the state directory.
    AlreadyRunning => "already_running",
    /// The gateway refused this device's credentials.
    AuthFailed => "auth_failed",
    /// The admin socket refused a request line.
    BadRequest => "bad_request",
    /// `SANDGATE_TEST_RESOLVE` does not parse.
    BadResolverOverride => "bad_resolver_override",
    /// No `sandgated` binary next to `sandgate`.
    DaemonMissing => "daemon_missing",
    /// A command could not be executed.
    ExecFailed => "exec_failed",
    /// No daemon answers on the admin socket.
    GatewayDown => "gateway_down",
    /// The gateway library failed otherwise.
    GatewayError => "gateway_error",
    /// The daemon exited while starting.
    GatewayStartFailed => "gateway_start_failed",
    /// The daemon did not become ready in time.
    GatewayStartTimeout => "gateway_start_timeout",
    /// The daemon did not answer in time.
    GatewayTimeout => "gateway_timeout",
    /// The daemon answers but is not healthy.
    GatewayUnhealthy => "gateway_unhealthy",
    /// A sandbox's gateway port is unreachable.
    GatewayUnreachable => "gateway_unreachable",
    /// A device identity could not be loaded or saved.
    IdentityError => "identity_error",
    /// A bug.
    InternalError => "internal_error",
    /// A credential variable name is not valid.
    InvalidCredentialEnv => "invalid_credential_env",
    /// An egress host rule does not parse.
    InvalidHost => "invalid_host",
    /// A model name is not valid.
    InvalidModel => "invalid_model",
    /// A `--mount` is not valid.
    InvalidMount => "invalid_mount",
    /// A sandbox name is not valid.
    InvalidName => "invalid_name",
    /// An egress preset is not known.
    InvalidPolicy => "invalid_policy",
    /// A port is not valid.
    InvalidPort => "invalid_port",
    /// A file or socket operation failed.
    IoError => "io_error",
    /// The requested isolation is not available on this host.
    IsolationUnavailable => "isolation_unavailable",
    /// The provider's credential variable is not set.
    MissingCredential => "missing_credential",
    /// The sandbox token is missing.
    MissingToken => "missing_token",
    /// The sandbox name is taken.
    NameTaken => "name_taken",
    /// No free port was found.
    NoFreePort => "no_free_port",
    /// No log file yet.
    NoLogs => "no_logs",
    /// No state directory could be determined.
    NoStateDir => "no_state_dir",
    /// Pairing failed.
    PairingError => "pairing_error",
    /// The gateway holds a pairing request for this device.
    PairingRequired => "pairing_required",
    /// The admin socket refused another user.
    PermissionDenied => "permission_denied",
    /// A port is taken.
    PortInUse => "port_in_use",
    /// The gateway's WebSocket protocol was violated.
    ProtocolError => "protocol_error",
    /// The answering route is not the sandbox's.
    RouteMismatch => "route_mismatch",
    /// The sandbox runtime failed.
    SandboxFailed => "sandbox_failed",
    /// The sandbox is not running.
    SandboxNotRunning => "sandbox_not_running",
    /// The session lacks a scope.
    ScopeDenied => "scope_denied",
    /// A process could not be spawned.
    SpawnFailed => "spawn_failed",
    /// Stopping the daemon failed.
    StopFailed => "stop_failed",
    /// The daemon did not stop in time.
    StopTimeout => "stop_timeout",
    /// Unknown command.
    UnknownCommand => "unknown_command",
    /// Unknown provider id.
    UnknownProvider => "unknown_provider",
    /// No sandbox of that name.
    UnknownSandbox => "unknown_sandbox",
    /// The sandbox's provider failed.
    UpstreamError => "upstream_error",
    /// Bad command-line usage.
    Usage => "usage",
}

/// A name that is no [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error kind {0:?}")]
pub struct UnknownErrorKind(pub String);

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An error the CLI reports to the user: a stable kind, what happened, what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// Stable machine-readable cause.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
    /// The next step.
    pub remedy: String,
}

impl CliError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>, remedy: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            remedy: remedy.into(),
        }
    }

    /// An I/O failure on a path, with a generic remedy.
    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Self {
        CliError::new(
            ErrorKind::IoError,
            format!("{what}: {err}"),
            "check the permissions of the state directory (--state-dir / SANDGATE_STATE_DIR)",
        )
    }

    /// A bug: serialising our own types failed, a task panicked.
    pub fn internal(detail: impl fmt::Display) -> Self {
        CliError::new(ErrorKind::InternalError, detail.to_string(), "report a bug")
    }

    /// The JSON form printed by `--json` commands: `{"ok":false,"error":{type,message,remedy}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": false,
            "error": { "type": self.kind, "message": self.message, "remedy": self.remedy },
        })
    }

    /// The human form: the message, then the next step.
    pub fn render(&self) -> String {
        format!(
            "error [{}]: {}\n  next step: {}",
            self.kind, self.message, self.remedy
        )
    }
}

/// Result alias for CLI code.
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        let mut seen = std::collections::BTreeSet::new();
        for k in ErrorKind::ALL {
            assert!(seen.insert(k.as_str()), "duplicate name {k}");
            let json = serde_json::to_string(k).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).ok(), Some(*k));
            assert_eq!(k.as_str().parse::<ErrorKind>().ok(), Some(*k));
        }
        assert!("nope".parse::<ErrorKind>().is_err());
    }

    #[test]
    fn json_output_keeps_the_wire_name() {
        let e = CliError::new(ErrorKind::GatewayDown, "m", "r");
        assert_eq!(
            e.to_json().to_string(),
            r#"{"error":{"message":"m","remedy":"r","type":"gateway_down"},"ok":false}"#
        );
        assert!(e.render().starts_with("error [gateway_down]: m"));
    }
}

//! Wire codes: top-level error codes, `error.details.code` values, auth failure reasons and
//! WebSocket close codes (protocol reference §1.2, §2.5, §10).
//!
//! The string enums keep an `Other(String)` variant so codes we do not know (from newer peers)
//! survive a parse/serialise round trip unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an open string enum: known variants plus `Other(String)`, with `as_str`, `parse`,
/// `Display` and string serde.
macro_rules! open_string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// Any other value, kept verbatim so it round-trips.
            Other(String),
        }

        impl $name {
            /// Every known variant (not `Other`).
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(s) => s,
                }
            }

            /// Parses a wire string. Never fails: unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }

            /// True for a value this crate does not know.
            pub fn is_other(&self) -> bool {
                matches!(self, $name::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

pub(crate) use open_string_enum;

open_string_enum! {
    /// Top-level `error.code` of a response (`error-codes.ts`; v4 adds `FORBIDDEN`).
    ErrorCode {
        /// A channel/account is not linked.
        NotLinked => "NOT_LINKED",
        /// Device pairing (or device identity) is required.
        NotPaired => "NOT_PAIRED",
        /// The agent did not answer in time.
        AgentTimeout => "AGENT_TIMEOUT",
        /// Malformed or unauthorised request (also v3 missing-scope denials).
        InvalidRequest => "INVALID_REQUEST",
        /// No approval with that id.
        ApprovalNotFound => "APPROVAL_NOT_FOUND",
        /// Temporarily unavailable (startup, rate limit); usually retryable.
        Unavailable => "UNAVAILABLE",
        /// v4 missing-scope denial.
        Forbidden => "FORBIDDEN",
        /// v4 protocol mismatch code.
        ProtocolMismatch => "PROTOCOL_MISMATCH",
    }
}

open_string_enum! {
    /// `error.details.code`: the machine-readable reason clients branch on (§2.5, §5.7).
    DetailCode {
        /// Pairing approval is pending.
        PairingRequired => "PAIRING_REQUIRED",
        /// A device identity is required for this connect.
        DeviceIdentityRequired => "DEVICE_IDENTITY_REQUIRED",
        /// Shared auth failed without a specific reason.
        AuthRequired => "AUTH_REQUIRED",
        /// Shared auth failed for an unclassified reason.
        AuthUnauthorized => "AUTH_UNAUTHORIZED",
        /// `token_missing`.
        AuthTokenMissing => "AUTH_TOKEN_MISSING",
        /// `token_mismatch`.
        AuthTokenMismatch => "AUTH_TOKEN_MISMATCH",
        /// `token_missing_config`.
        AuthTokenNotConfigured => "AUTH_TOKEN_NOT_CONFIGURED",
        /// `password_missing`.
        AuthPasswordMissing => "AUTH_PASSWORD_MISSING",
        /// `password_mismatch`.
        AuthPasswordMismatch => "AUTH_PASSWORD_MISMATCH",
        /// `password_missing_config`.
        AuthPasswordNotConfigured => "AUTH_PASSWORD_NOT_CONFIGURED",
        /// `bootstrap_token_invalid`.
        AuthBootstrapTokenInvalid => "AUTH_BOOTSTRAP_TOKEN_INVALID",
        /// `tailscale_user_missing`.
        AuthTailscaleIdentityMissing => "AUTH_TAILSCALE_IDENTITY_MISSING",
        /// `tailscale_proxy_missing`.
        AuthTailscaleProxyMissing => "AUTH_TAILSCALE_PROXY_MISSING",
        /// `tailscale_whois_failed`.
        AuthTailscaleWhoisFailed => "AUTH_TAILSCALE_WHOIS_FAILED",
        /// `tailscale_user_mismatch`.
        AuthTailscaleIdentityMismatch => "AUTH_TAILSCALE_IDENTITY_MISMATCH",
        /// `rate_limited`.
        AuthRateLimited => "AUTH_RATE_LIMITED",
        /// `device_token_mismatch`: the client should drop its stored device token.
        AuthDeviceTokenMismatch => "AUTH_DEVICE_TOKEN_MISMATCH",
        /// `scope_mismatch` (later versions): token known but does not cover the request.
        AuthScopeMismatch => "AUTH_SCOPE_MISMATCH",
        /// `device.id` is not the fingerprint of `device.publicKey`.
        DeviceAuthDeviceIdMismatch => "DEVICE_AUTH_DEVICE_ID_MISMATCH",
        /// `signedAt` outside the skew window.
        DeviceAuthSignatureExpired => "DEVICE_AUTH_SIGNATURE_EXPIRED",
        /// Empty `device.nonce`.
        DeviceAuthNonceRequired => "DEVICE_AUTH_NONCE_REQUIRED",
        /// `device.nonce` differs from the challenge nonce.
        DeviceAuthNonceMismatch => "DEVICE_AUTH_NONCE_MISMATCH",
        /// The signature verifies as neither v3 nor v2.
        DeviceAuthSignatureInvalid => "DEVICE_AUTH_SIGNATURE_INVALID",
        /// The public key cannot be normalised.
        DeviceAuthPublicKeyInvalid => "DEVICE_AUTH_PUBLIC_KEY_INVALID",
        /// v4 missing-scope denial detail.
        MissingScope => "MISSING_SCOPE",
        /// Browser origin not allowed.
        ControlUiOriginNotAllowed => "CONTROL_UI_ORIGIN_NOT_ALLOWED",
        /// No protocol version in the client's `[minProtocol, maxProtocol]` range.
        ProtocolMismatch => "PROTOCOL_MISMATCH",
        /// Control UI connected without device identity from an insecure context.
        ControlUiDeviceIdentityRequired => "CONTROL_UI_DEVICE_IDENTITY_REQUIRED",
        /// sandgate: the sandbox's inference provider failed an agent turn.
        UpstreamError => "UPSTREAM_ERROR",
    }
}

open_string_enum! {
    /// Why shared-secret auth failed (`authReason` in error details, §2.5).
    AuthReason {
        /// No token sent.
        TokenMissing => "token_missing",
        /// Wrong token.
        TokenMismatch => "token_mismatch",
        /// Token auth configured without a token.
        TokenMissingConfig => "token_missing_config",
        /// No password sent.
        PasswordMissing => "password_missing",
        /// Wrong password.
        PasswordMismatch => "password_mismatch",
        /// Password auth configured without a password.
        PasswordMissingConfig => "password_missing_config",
        /// Bootstrap token unknown or expired.
        BootstrapTokenInvalid => "bootstrap_token_invalid",
        /// Tailscale identity header absent.
        TailscaleUserMissing => "tailscale_user_missing",
        /// Tailscale proxy headers absent.
        TailscaleProxyMissing => "tailscale_proxy_missing",
        /// Tailscale whois lookup failed.
        TailscaleWhoisFailed => "tailscale_whois_failed",
        /// Tailscale identity differs.
        TailscaleUserMismatch => "tailscale_user_mismatch",
        /// Too many failures from this address.
        RateLimited => "rate_limited",
        /// Explicit device token did not verify.
        DeviceTokenMismatch => "device_token_mismatch",
        /// Device token does not cover the requested role/scopes (later versions).
        ScopeMismatch => "scope_mismatch",
    }
}

impl DetailCode {
    /// True for refused credentials or device proofs (`AUTH_*`, `DEVICE_AUTH_*`,
    /// `DEVICE_IDENTITY_REQUIRED`).
    pub fn is_auth_failure(&self) -> bool {
        use DetailCode::*;
        matches!(
            self,
            DeviceIdentityRequired
                | AuthRequired
                | AuthUnauthorized
                | AuthTokenMissing
                | AuthTokenMismatch
                | AuthTokenNotConfigured
                | AuthPasswordMissing
                | AuthPasswordMismatch
                | AuthPasswordNotConfigured
                | AuthBootstrapTokenInvalid
                | AuthTailscaleIdentityMissing
                | AuthTailscaleProxyMissing
                | AuthTailscaleWhoisFailed
                | AuthTailscaleIdentityMismatch
                | AuthRateLimited
                | AuthDeviceTokenMismatch
                | AuthScopeMismatch
                | DeviceAuthDeviceIdMismatch
                | DeviceAuthSignatureExpired
                | DeviceAuthNonceRequired
                | DeviceAuthNonceMismatch
                | DeviceAuthSignatureInvalid
                | DeviceAuthPublicKeyInvalid
        )
    }
}

impl AuthReason {
    /// The `details.code` for this reason (table in §2.5; unknown reasons → `AUTH_UNAUTHORIZED`).
    pub fn detail_code(&self) -> DetailCode {
        match self {
            AuthReason::TokenMissing => DetailCode::AuthTokenMissing,
            AuthReason::TokenMismatch => DetailCode::AuthTokenMismatch,
            AuthReason::TokenMissingConfig => DetailCode::AuthTokenNotConfigured,
            AuthReason::PasswordMissing => DetailCode::AuthPasswordMissing,
            AuthReason::PasswordMismatch => DetailCode::AuthPasswordMismatch,
            AuthReason::PasswordMissingConfig => DetailCode::AuthPasswordNotConfigured,
            AuthReason::BootstrapTokenInvalid => DetailCode::AuthBootstrapTokenInvalid,
            AuthReason::TailscaleUserMissing => DetailCode::AuthTailscaleIdentityMissing,
            AuthReason::TailscaleProxyMissing => DetailCode::AuthTailscaleProxyMissing,
            AuthReason::TailscaleWhoisFailed => DetailCode::AuthTailscaleWhoisFailed,
            AuthReason::TailscaleUserMismatch => DetailCode::AuthTailscaleIdentityMismatch,
            AuthReason::RateLimited => DetailCode::AuthRateLimited,
            AuthReason::DeviceTokenMismatch => DetailCode::AuthDeviceTokenMismatch,
            AuthReason::ScopeMismatch => DetailCode::AuthScopeMismatch,
            AuthReason::Other(_) => DetailCode::AuthUnauthorized,
        }
    }

    /// `details.code` for an optional reason: no reason at all is `AUTH_REQUIRED`.
    pub fn detail_code_for(reason: Option<&AuthReason>) -> DetailCode {
        reason.map_or(DetailCode::AuthRequired, AuthReason::detail_code)
    }

    /// The default `recommendedNextStep` for this reason (sandgate's mapping; the reference
    /// only pins `retry_with_device_token`, which [`crate::error::AuthFailure`] decides).
    pub fn default_next_step(&self) -> RecommendedNextStep {
        match self {
            AuthReason::TokenMissingConfig | AuthReason::PasswordMissingConfig => {
                RecommendedNextStep::UpdateAuthConfiguration
            }
            AuthReason::TokenMissing
            | AuthReason::TokenMismatch
            | AuthReason::PasswordMissing
            | AuthReason::PasswordMismatch
            | AuthReason::BootstrapTokenInvalid
            | AuthReason::DeviceTokenMismatch
            | AuthReason::ScopeMismatch => RecommendedNextStep::UpdateAuthCredentials,
            AuthReason::RateLimited => RecommendedNextStep::WaitThenRetry,
            _ => RecommendedNextStep::ReviewAuthConfiguration,
        }
    }

    /// Short human summary used after `unauthorized: ` in the error message.
    pub fn summary(&self) -> String {
        match self {
            AuthReason::TokenMissing => "gateway token missing".into(),
            AuthReason::TokenMismatch => "gateway token mismatch".into(),
            AuthReason::TokenMissingConfig => "gateway token not configured on gateway".into(),
            AuthReason::PasswordMissing => "gateway password missing".into(),
            AuthReason::PasswordMismatch => "gateway password mismatch".into(),
            AuthReason::PasswordMissingConfig => {
                "gateway password not configured on gateway".into()
            }
            AuthReason::BootstrapTokenInvalid => "bootstrap token invalid or expired".into(),
            AuthReason::TailscaleUserMissing => "tailscale identity missing".into(),
            AuthReason::TailscaleProxyMissing => "tailscale proxy headers missing".into(),
            AuthReason::TailscaleWhoisFailed => "tailscale identity check failed".into(),
            AuthReason::TailscaleUserMismatch => "tailscale identity mismatch".into(),
            AuthReason::RateLimited => "too many failed authentication attempts".into(),
            AuthReason::DeviceTokenMismatch => "device token mismatch".into(),
            AuthReason::ScopeMismatch => "device token scope mismatch".into(),
            AuthReason::Other(s) => format!("authentication failed ({s})"),
        }
    }
}

/// `details.recommendedNextStep` of an auth failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendedNextStep {
    /// Retry once sending the stored device token.
    RetryWithDeviceToken,
    /// The gateway's auth configuration is incomplete.
    UpdateAuthConfiguration,
    /// The client's credentials are wrong or missing.
    UpdateAuthCredentials,
    /// Rate limited: wait, then retry.
    WaitThenRetry,
    /// Anything else: review the configuration.
    ReviewAuthConfiguration,
}

impl RecommendedNextStep {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecommendedNextStep::RetryWithDeviceToken => "retry_with_device_token",
            RecommendedNextStep::UpdateAuthConfiguration => "update_auth_configuration",
            RecommendedNextStep::UpdateAuthCredentials => "update_auth_credentials",
            RecommendedNextStep::WaitThenRetry => "wait_then_retry",
            RecommendedNextStep::ReviewAuthConfiguration => "review_auth_configuration",
        }
    }
}

/// WebSocket close codes the gateway sends or observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: normal closure (also the handshake-timeout close, with no reason).
    Normal,
    /// 1001: going away.
    GoingAway,
    /// 1002: protocol error (`protocol mismatch`).
    ProtocolError,
    /// 1005: no status code in the close frame. Observed only (the CLI closes this way);
    /// never sent.
    NoStatusReceived,
    /// 1006: abnormal closure (no close frame). Observed only; never sent.
    Abnormal,
    /// 1008: policy violation: every handshake rejection, `slow consumer`, floods.
    PolicyViolation,
    /// 1009: message too big (`preauth payload too large`).
    MessageTooBig,
    /// 1011: internal server error.
    InternalError,
    /// 1012: service restart (shutdown).
    ServiceRestart,
    /// 1013: try again later (`gateway starting`).
    TryAgainLater,
    /// 4000: client tick watchdog (`tick timeout`).
    TickTimeout,
    /// 4001: credentials changed under the session (`gateway auth changed` / `device removed`).
    AuthChanged,
}

impl CloseCode {
    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::NoStatusReceived => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::PolicyViolation => 1008,
            CloseCode::MessageTooBig => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::ServiceRestart => 1012,
            CloseCode::TryAgainLater => 1013,
            CloseCode::TickTimeout => 4000,
            CloseCode::AuthChanged => 4001,
        }
    }

    /// The typed code for a number, or `None` for codes this protocol does not use.
    pub fn from_u16(code: u16) -> Option<CloseCode> {
        Some(match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::GoingAway,
            1002 => CloseCode::ProtocolError,
            1005 => CloseCode::NoStatusReceived,
            1006 => CloseCode::Abnormal,
            1008 => CloseCode::PolicyViolation,
            1009 => CloseCode::MessageTooBig,
            1011 => CloseCode::InternalError,
            1012 => CloseCode::ServiceRestart,
            1013 => CloseCode::TryAgainLater,
            4000 => CloseCode::TickTimeout,
            4001 => CloseCode::AuthChanged,
            _ => return None,
        })
    }

    /// False for the codes that must never appear in a close frame we send (1005, 1006).
    pub fn is_sendable(self) -> bool {
        !matches!(self, CloseCode::NoStatusReceived | CloseCode::Abnormal)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

/// Close reasons used verbatim by the reference gateway.
pub mod close_reasons {
    /// 1008 when the first frame is not a valid request.
    pub const INVALID_REQUEST_FRAME: &str = "invalid request frame";
    /// 1009 for an oversize frame before the handshake.
    pub const PREAUTH_PAYLOAD_TOO_LARGE: &str = "preauth payload too large";
    /// 1002 after a protocol mismatch.
    pub const PROTOCOL_MISMATCH: &str = "protocol mismatch";
    /// 4001 when the shared secret was rotated.
    pub const GATEWAY_AUTH_CHANGED: &str = "gateway auth changed";
    /// 4001 when the device was removed or its token rotated/revoked.
    pub const DEVICE_REMOVED: &str = "device removed";
    /// 1012 on shutdown.
    pub const SERVICE_RESTART: &str = "service restart";
    /// 1008 when the send buffer overflows.
    pub const SLOW_CONSUMER: &str = "slow consumer";
    /// 1008 after too many consecutive `unauthorized role` errors.
    pub const REPEATED_UNAUTHORIZED: &str = "repeated unauthorized calls";
    /// 4000 from the client watchdog.
    pub const TICK_TIMEOUT: &str = "tick timeout";
    /// 1009 when a frame after the handshake is over the limit or unreadable.
    pub const FRAME_TOO_LARGE: &str = "frame too large or malformed";
    /// 4001 when the sandbox is removed under a live session.
    pub const SANDBOX_DESTROYED: &str = "sandbox destroyed";
}

/// Maximum close-reason length in bytes (the reference `close-reason.ts` limit).
pub const MAX_CLOSE_REASON_BYTES: usize = 120;

/// Truncates a close reason to at most 120 bytes, cutting on a char boundary.
pub fn close_reason(msg: &str) -> String {
    if msg.len() <= MAX_CLOSE_REASON_BYTES {
        return msg.to_owned();
    }
    let mut end = MAX_CLOSE_REASON_BYTES;
    while end > 0 && !msg.is_char_boundary(end) {
        end -= 1;
    }
    msg[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enums_round_trip_unknown_values() {
        assert_eq!(ErrorCode::parse("NOT_PAIRED"), ErrorCode::NotPaired);
        assert_eq!(ErrorCode::parse("WEIRD"), ErrorCode::Other("WEIRD".into()));
        for c in ErrorCode::KNOWN {
            assert_eq!(&ErrorCode::parse(c.as_str()), c);
        }
        for c in DetailCode::KNOWN {
            assert_eq!(&DetailCode::parse(c.as_str()), c);
        }
        let json = serde_json::to_string(&DetailCode::Other("X_Y".into())).unwrap_or_default();
        assert_eq!(json, "\"X_Y\"");
    }

    #[test]
    fn auth_reason_maps_to_detail_codes() {
        assert_eq!(AuthReason::detail_code_for(None), DetailCode::AuthRequired);
        let m = AuthReason::parse("token_mismatch");
        assert_eq!(m.detail_code(), DetailCode::AuthTokenMismatch);
        assert_eq!(
            AuthReason::parse("device_token_mismatch").detail_code(),
            DetailCode::AuthDeviceTokenMismatch
        );
        assert_eq!(
            AuthReason::parse("scope_mismatch").detail_code(),
            DetailCode::AuthScopeMismatch
        );
        assert_eq!(
            AuthReason::parse("nope").detail_code(),
            DetailCode::AuthUnauthorized
        );
        for r in AuthReason::KNOWN {
            assert!(r.detail_code().as_str().starts_with("AUTH_"));
            assert!(r.detail_code().is_auth_failure());
        }
        for d in DetailCode::KNOWN {
            let s = d.as_str();
            let auth = s.starts_with("AUTH_")
                || s.starts_with("DEVICE_AUTH_")
                || s == "DEVICE_IDENTITY_REQUIRED";
            assert_eq!(d.is_auth_failure(), auth, "{s}");
        }
    }

    #[test]
    fn close_codes_round_trip() {
        for n in [
            1000, 1001, 1002, 1005, 1006, 1008, 1009, 1011, 1012, 1013, 4000, 4001,
        ] {
            assert_eq!(CloseCode::from_u16(n).map(CloseCode::as_u16), Some(n));
        }
        assert_eq!(CloseCode::from_u16(1003), None);
        assert!(!CloseCode::NoStatusReceived.is_sendable());
    }

    #[test]
    fn close_reason_truncates_on_char_boundary() {
        assert_eq!(close_reason("short"), "short");
        let long = "a".repeat(200);
        assert_eq!(close_reason(&long).len(), 120);
        // 119 ASCII bytes then a 3-byte char straddling the limit.
        let s = format!("{}€tail", "a".repeat(119));
        let r = close_reason(&s);
        assert_eq!(r.len(), 119);
        assert!(r.is_char_boundary(r.len()));
        let rec = "pairing required: device is asking for more scopes than currently approved (requestId: 67eb2439-4467-4a1d-8fb9-7c088eee3589)";
        assert_eq!(
            close_reason(rec),
            "pairing required: device is asking for more scopes than currently approved (requestId: 67eb2439-4467-4a1d-8fb9-7c088eee3"
        );
    }
}

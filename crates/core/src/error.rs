//! Builders for the standard error responses (§1.7, §2.5, §5.7) so every crate emits the
//! reference codes, messages and details.
//!
//! A handshake failure is a [`HandshakeRejection`]: an optional error response followed by a
//! close code and reason. Errors after the handshake are plain [`ErrorShape`]s.

use serde_json::{Map, Value, json};

use crate::codes::{
    AuthReason, CloseCode, DetailCode, ErrorCode, RecommendedNextStep, close_reason, close_reasons,
};
use crate::frame::{ErrorShape, ResponseFrame};
use crate::pairing_reason::PairingReason;
use crate::role::Role;
use crate::scope::Scope;

/// What the gateway does when it refuses a handshake: send `error` (if any) as the `res` to
/// the connect request, then close with `close_code` / `close_reason` (≤ 120 bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeRejection {
    /// The error response body; `None` means close without responding.
    pub error: Option<ErrorShape>,
    /// Close code.
    pub close_code: CloseCode,
    /// Close reason, already truncated to 120 bytes.
    pub close_reason: String,
}

impl HandshakeRejection {
    /// Builds a rejection, truncating the reason.
    pub fn new(error: Option<ErrorShape>, close_code: CloseCode, reason: &str) -> Self {
        HandshakeRejection {
            error,
            close_code,
            close_reason: close_reason(reason),
        }
    }

    /// An error response closed with 1008 and the message as reason (the common case).
    pub fn policy(error: ErrorShape) -> Self {
        let reason = error.message.clone();
        HandshakeRejection::new(Some(error), CloseCode::PolicyViolation, &reason)
    }

    /// The response frame to send for connect request `id`, if any.
    pub fn response(&self, id: &str) -> Option<ResponseFrame> {
        self.error.clone().map(|e| ResponseFrame::err(id, e))
    }

    /// First frame is not a valid request: no response, close 1008 `invalid request frame`.
    pub fn invalid_request_frame() -> Self {
        HandshakeRejection::new(
            None,
            CloseCode::PolicyViolation,
            close_reasons::INVALID_REQUEST_FRAME,
        )
    }

    /// Oversize frame before the handshake: no response, close 1009.
    pub fn preauth_payload_too_large() -> Self {
        HandshakeRejection::new(
            None,
            CloseCode::MessageTooBig,
            close_reasons::PREAUTH_PAYLOAD_TOO_LARGE,
        )
    }

    /// Handshake timeout: close 1000 with no reason (as the reference does).
    pub fn handshake_timeout() -> Self {
        HandshakeRejection::new(None, CloseCode::Normal, "")
    }

    /// First request is not `connect`.
    pub fn first_request_not_connect() -> Self {
        HandshakeRejection::policy(ErrorShape::new(
            ErrorCode::InvalidRequest,
            "invalid handshake: first request must be connect",
        ))
    }

    /// Connect params failed validation; `err` displays as `invalid connect params: …`.
    pub fn invalid_connect_params(err: &impl std::fmt::Display) -> Self {
        HandshakeRejection::policy(ErrorShape::new(ErrorCode::InvalidRequest, err.to_string()))
    }

    /// The requested role is not `operator`/`node`.
    pub fn invalid_role() -> Self {
        HandshakeRejection::policy(ErrorShape::new(ErrorCode::InvalidRequest, "invalid role"))
    }

    /// Browser origin not allowed.
    pub fn origin_not_allowed(reason: &str) -> Self {
        HandshakeRejection::policy(
            ErrorShape::new(
                ErrorCode::InvalidRequest,
                "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
            )
            .with_details(json!({"code": DetailCode::ControlUiOriginNotAllowed, "reason": reason})),
        )
    }

    /// No device identity where one is required.
    pub fn device_identity_required() -> Self {
        HandshakeRejection::policy(
            ErrorShape::new(ErrorCode::NotPaired, "device identity required")
                .with_details(json!({"code": DetailCode::DeviceIdentityRequired})),
        )
    }

    /// Control UI without device identity from an insecure context.
    pub fn control_ui_device_identity_required() -> Self {
        HandshakeRejection::policy(
            ErrorShape::new(
                ErrorCode::InvalidRequest,
                "control ui requires device identity (use HTTPS or localhost secure context)",
            )
            .with_details(json!({"code": DetailCode::ControlUiDeviceIdentityRequired})),
        )
    }

    /// Shared-secret / device-token auth failed.
    pub fn unauthorized(failure: &AuthFailure) -> Self {
        HandshakeRejection::policy(failure.to_error())
    }

    /// Pairing approval required (later format, with sandgate's `remedy`).
    pub fn pairing_required(p: &PairingRequired) -> Self {
        let error = p.to_error();
        let reason = match &p.request_id {
            Some(id) => format!("{} (requestId: {id})", error.message),
            None => error.message.clone(),
        };
        HandshakeRejection::new(Some(error), CloseCode::PolicyViolation, &reason)
    }
}

/// Inputs to an `unauthorized: …` handshake error (§2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// Why auth failed; `None` gives `AUTH_REQUIRED`.
    pub reason: Option<AuthReason>,
    /// The connect carried a `device`.
    pub device_present: bool,
    /// The connect carried `auth.token`.
    pub sent_token: bool,
    /// The connect carried `auth.deviceToken`.
    pub sent_device_token: bool,
}

impl AuthFailure {
    /// True exactly when the client may retry once with its stored device token: reason
    /// `token_mismatch`, a device present, `auth.token` sent and `auth.deviceToken` not.
    pub fn can_retry_with_device_token(&self) -> bool {
        self.reason == Some(AuthReason::TokenMismatch)
            && self.device_present
            && self.sent_token
            && !self.sent_device_token
    }

    /// The message: `unauthorized: <summary> (<hint>)`, with CLI-oriented hints.
    pub fn message(&self) -> String {
        match &self.reason {
            None => "unauthorized: gateway authentication required (set gateway.remote.token to match gateway.auth.token)".into(),
            Some(AuthReason::TokenMismatch) => {
                "unauthorized: gateway token mismatch (set gateway.remote.token to match gateway.auth.token)".into()
            }
            Some(AuthReason::TokenMissing) => {
                "unauthorized: gateway token missing (set gateway.remote.token to match gateway.auth.token)".into()
            }
            Some(AuthReason::DeviceTokenMismatch) => {
                "unauthorized: device token mismatch (rotate/reissue device token)".into()
            }
            Some(AuthReason::ScopeMismatch) => {
                "unauthorized: device token scope mismatch (re-pair the device; do not rotate secrets)".into()
            }
            Some(r) => format!("unauthorized: {}", r.summary()),
        }
    }

    /// The error: `INVALID_REQUEST`, details `{code, authReason?, canRetryWithDeviceToken,
    /// recommendedNextStep}`.
    pub fn to_error(&self) -> ErrorShape {
        let can_retry = self.can_retry_with_device_token();
        let next = if can_retry {
            RecommendedNextStep::RetryWithDeviceToken
        } else {
            self.reason.as_ref().map_or(
                RecommendedNextStep::UpdateAuthCredentials,
                AuthReason::default_next_step,
            )
        };
        let mut d = Map::new();
        d.insert(
            "code".into(),
            json!(AuthReason::detail_code_for(self.reason.as_ref())),
        );
        if let Some(r) = &self.reason {
            d.insert("authReason".into(), json!(r));
        }
        d.insert("canRetryWithDeviceToken".into(), json!(can_retry));
        d.insert("recommendedNextStep".into(), json!(next.as_str()));
        ErrorShape::new(ErrorCode::InvalidRequest, self.message()).with_details(Value::Object(d))
    }
}

/// Inputs to the pairing-required error in the later format (§5.7, wire README §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingRequired {
    /// Why approval is needed.
    pub reason: PairingReason,
    /// The live pending request id, if one exists.
    pub request_id: Option<String>,
    /// The connecting device.
    pub device_id: String,
    /// The requested role.
    pub requested_role: Role,
    /// The requested scopes, in the order sent.
    pub requested_scopes: Vec<Scope>,
    /// Roles already approved (absent for a never-paired device).
    pub approved_roles: Option<Vec<Role>>,
    /// Scopes already approved (absent for a never-paired device).
    pub approved_scopes: Option<Vec<Scope>>,
    /// sandgate's own hint, e.g. `sandgate <sandbox> devices approve <requestId>`.
    pub remedy: String,
}

impl PairingRequired {
    /// `NOT_PAIRED`, `pairing required: <requirement>`, details with code `PAIRING_REQUIRED`.
    pub fn to_error(&self) -> ErrorShape {
        let mut d = Map::new();
        d.insert("code".into(), json!(DetailCode::PairingRequired));
        d.insert("reason".into(), json!(self.reason));
        if let Some(id) = &self.request_id {
            d.insert("requestId".into(), json!(id));
        }
        d.insert(
            "remediationHint".into(),
            json!(self.reason.remediation_hint()),
        );
        d.insert("deviceId".into(), json!(self.device_id));
        d.insert("requestedRole".into(), json!(self.requested_role));
        d.insert("requestedScopes".into(), json!(self.requested_scopes));
        if let Some(r) = &self.approved_roles {
            d.insert("approvedRoles".into(), json!(r));
        }
        if let Some(s) = &self.approved_scopes {
            d.insert("approvedScopes".into(), json!(s));
        }
        d.insert("remedy".into(), json!(self.remedy));
        ErrorShape::new(
            ErrorCode::NotPaired,
            format!("pairing required: {}", self.reason.requirement()),
        )
        .with_details(Value::Object(d))
    }
}

/// True when `id` is a valid pairing request id (`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`).
pub fn is_valid_request_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

impl ErrorShape {
    /// `INVALID_REQUEST` with a free message.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ErrorShape::new(ErrorCode::InvalidRequest, message)
    }

    /// Post-handshake frame that is not a valid request: `invalid request frame: <detail>`.
    pub fn invalid_request_frame(detail: &str) -> Self {
        ErrorShape::invalid_request(format!("invalid request frame: {detail}"))
    }

    /// v4 missing-scope denial: `FORBIDDEN`, details `{code:"MISSING_SCOPE", missingScope,
    /// requiredScopes}`.
    pub fn missing_scope(missing: &Scope, required: &[Scope]) -> Self {
        ErrorShape::new(ErrorCode::Forbidden, format!("missing scope: {missing}")).with_details(
            json!({
                "code": DetailCode::MissingScope,
                "missingScope": missing,
                "requiredScopes": required,
            }),
        )
    }

    /// v3 missing-scope denial: `INVALID_REQUEST` `missing scope: X`.
    pub fn missing_scope_v3(missing: &Scope) -> Self {
        ErrorShape::invalid_request(format!("missing scope: {missing}"))
    }

    /// The role may not call this method: `unauthorized role: <role>`.
    pub fn unauthorized_role(role: &str) -> Self {
        ErrorShape::invalid_request(format!("unauthorized role: {role}"))
    }

    /// `unknown method: <m>`.
    pub fn unknown_method(method: &str) -> Self {
        ErrorShape::invalid_request(format!("unknown method: {method}"))
    }

    /// A second `connect` on an open session.
    pub fn connect_only_first() -> Self {
        ErrorShape::invalid_request("connect is only valid as the first request")
    }

    /// `UNAVAILABLE`, retryable after `after_ms` (startup: 500 ms).
    pub fn unavailable(message: impl Into<String>, after_ms: u64) -> Self {
        ErrorShape::new(ErrorCode::Unavailable, message).with_retry_after(after_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pairing_required_matches_recorded_shape_plus_remedy() {
        let p = PairingRequired {
            reason: PairingReason::ScopeUpgrade,
            request_id: Some("67eb2439-4467-4a1d-8fb9-7c088eee3589".into()),
            device_id: "f2d711b4344f04eda6960075b20ac22b08515a2bd164bb1f93423a9830864083".into(),
            requested_role: Role::Operator,
            requested_scopes: vec![Scope::Write],
            approved_roles: Some(vec![Role::Operator]),
            approved_scopes: Some(vec![Scope::Read]),
            remedy: "sandgate alpha devices approve 67eb2439-4467-4a1d-8fb9-7c088eee3589".into(),
        };
        let e = p.to_error();
        let recorded = json!({"code":"NOT_PAIRED","message":"pairing required: device is asking for more scopes than currently approved","details":{"code":"PAIRING_REQUIRED","reason":"scope-upgrade","requestId":"67eb2439-4467-4a1d-8fb9-7c088eee3589","remediationHint":"Review the requested scopes, then approve the pending upgrade.","deviceId":"f2d711b4344f04eda6960075b20ac22b08515a2bd164bb1f93423a9830864083","requestedRole":"operator","requestedScopes":["operator.write"],"approvedRoles":["operator"],"approvedScopes":["operator.read"],
            "remedy":"sandgate alpha devices approve 67eb2439-4467-4a1d-8fb9-7c088eee3589"}});
        assert_eq!(serde_json::to_value(&e).unwrap(), recorded);
        let r = HandshakeRejection::pairing_required(&p);
        assert_eq!(r.close_code, CloseCode::PolicyViolation);
        assert_eq!(
            r.close_reason,
            "pairing required: device is asking for more scopes than currently approved (requestId: 67eb2439-4467-4a1d-8fb9-7c088eee3"
        );
    }

    #[test]
    fn auth_failure_details() {
        let f = AuthFailure {
            reason: Some(AuthReason::TokenMismatch),
            device_present: true,
            sent_token: true,
            sent_device_token: false,
        };
        let e = f.to_error();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(
            e.message
                .starts_with("unauthorized: gateway token mismatch")
        );
        assert_eq!(e.detail_code(), Some(DetailCode::AuthTokenMismatch));
        let d = e.details.unwrap();
        assert_eq!(d["canRetryWithDeviceToken"], json!(true));
        assert_eq!(d["recommendedNextStep"], json!("retry_with_device_token"));
        let none = AuthFailure {
            reason: None,
            device_present: false,
            sent_token: false,
            sent_device_token: false,
        };
        assert_eq!(
            none.to_error().detail_code(),
            Some(DetailCode::AuthRequired)
        );
    }

    #[test]
    fn method_errors() {
        let e = ErrorShape::missing_scope(&Scope::Admin, &[Scope::Admin]);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"code":"FORBIDDEN","message":"missing scope: operator.admin","details":{"code":"MISSING_SCOPE","missingScope":"operator.admin","requiredScopes":["operator.admin"]}})
        );
        assert_eq!(
            ErrorShape::missing_scope_v3(&Scope::Admin).message,
            "missing scope: operator.admin"
        );
        let u = ErrorShape::unavailable("gateway starting", 500);
        assert_eq!((u.retryable, u.retry_after_ms), (Some(true), Some(500)));
        assert!(HandshakeRejection::invalid_request_frame().error.is_none());
        assert_eq!(
            HandshakeRejection::preauth_payload_too_large()
                .close_code
                .as_u16(),
            1009
        );
        assert_eq!(
            HandshakeRejection::invalid_role().close_reason,
            "invalid role"
        );
    }

    #[test]
    fn request_id_pattern() {
        assert!(is_valid_request_id("67eb2439-4467-4a1d-8fb9-7c088eee3589"));
        assert!(is_valid_request_id("a"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("-abc"));
        assert!(!is_valid_request_id("a b"));
        assert!(!is_valid_request_id(&"a".repeat(129)));
    }
}

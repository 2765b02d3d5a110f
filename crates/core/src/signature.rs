//! Device signature payloads (§3.2) and verification of a connect's device proof (§2.3 step 7).
//!
//! ```text
//! v3|deviceId|clientId|clientMode|role|scopesCsv|signedAtMs|token|nonce|platform|deviceFamily
//! v2|deviceId|clientId|clientMode|role|scopesCsv|signedAtMs|token|nonce
//! ```

use std::fmt;

use serde_json::json;

use crate::codes::{DetailCode, ErrorCode};
use crate::connect::ConnectParams;
use crate::error::HandshakeRejection;
use crate::frame::ErrorShape;
use crate::identity::{decode_signature, device_id_for, normalize_public_key, public_key_bytes};
use crate::scope::Scope;

/// Allowed distance between `device.signedAt` and server time (`DEVICE_SIGNATURE_SKEW_MS`).
pub const DEVICE_SIGNATURE_SKEW_MS: u64 = 120_000;

/// Which payload format a signature verified under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// 9 fields, no platform/deviceFamily.
    V2,
    /// 11 fields (preferred; tried first).
    V3,
}

impl SignatureVersion {
    /// `v2` / `v3`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V2 => "v2",
            SignatureVersion::V3 => "v3",
        }
    }
}

impl fmt::Display for SignatureVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed fields, borrowed from a connect (or assembled by a client before signing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFields<'a> {
    /// `device.id` as sent.
    pub device_id: &'a str,
    /// `client.id` wire string.
    pub client_id: &'a str,
    /// `client.mode` wire string.
    pub client_mode: &'a str,
    /// Effective role (`operator` when omitted).
    pub role: &'a str,
    /// Scopes in the order sent.
    pub scopes: &'a [Scope],
    /// `device.signedAt`.
    pub signed_at_ms: u64,
    /// `auth.token ?? auth.deviceToken ?? auth.bootstrapToken ?? ""`.
    pub token: &'a str,
    /// `device.nonce`.
    pub nonce: &'a str,
    /// `client.platform` (raw; normalised when building v3).
    pub platform: Option<&'a str>,
    /// `client.deviceFamily` (raw; normalised when building v3).
    pub device_family: Option<&'a str>,
}

/// Trim (JS `String.prototype.trim` semantics, incl. U+FEFF) then ASCII-only lowercase.
pub fn normalize_metadata(s: Option<&str>) -> String {
    s.map(|s| {
        s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .to_ascii_lowercase()
    })
    .unwrap_or_default()
}

/// Builds the payload string for `version`.
pub fn build_payload(version: SignatureVersion, f: &PayloadFields<'_>) -> String {
    let scopes = f
        .scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(",");
    let mut parts: Vec<String> = vec![
        version.as_str().to_owned(),
        f.device_id.to_owned(),
        f.client_id.to_owned(),
        f.client_mode.to_owned(),
        f.role.to_owned(),
        scopes,
        f.signed_at_ms.to_string(),
        f.token.to_owned(),
        f.nonce.to_owned(),
    ];
    if version == SignatureVersion::V3 {
        parts.push(normalize_metadata(f.platform));
        parts.push(normalize_metadata(f.device_family));
    }
    parts.join("|")
}

/// The owned wire strings of a connect that [`PayloadFields`] borrows.
struct Owned {
    client_id: String,
    client_mode: String,
}

fn owned(params: &ConnectParams) -> Owned {
    Owned {
        client_id: params.client.id.as_wire(),
        client_mode: params.client.mode.as_wire(),
    }
}

fn fields<'a>(
    params: &'a ConnectParams,
    o: &'a Owned,
    device_id: &'a str,
    signed_at_ms: u64,
    nonce: &'a str,
) -> PayloadFields<'a> {
    PayloadFields {
        device_id,
        client_id: &o.client_id,
        client_mode: &o.client_mode,
        role: params.role_str(),
        scopes: params.scopes_in_order(),
        signed_at_ms,
        token: params.signature_token(),
        nonce,
        platform: Some(params.client.platform.as_str()),
        device_family: params.client.device_family.as_deref(),
    }
}

/// The payload a connect's `device` proof must sign, or `None` without `device`.
pub fn payload_for(params: &ConnectParams, version: SignatureVersion) -> Option<String> {
    let d = params.device.as_ref()?;
    let o = owned(params);
    Some(build_payload(
        version,
        &fields(params, &o, &d.id, d.signed_at, &d.nonce),
    ))
}

/// The payload a client signs before it has a `device` block (client side of §3.2).
pub fn payload_to_sign(
    params: &ConnectParams,
    version: SignatureVersion,
    device_id: &str,
    signed_at_ms: u64,
    nonce: &str,
) -> String {
    let o = owned(params);
    build_payload(version, &fields(params, &o, device_id, signed_at_ms, nonce))
}

/// Why a device proof was refused. Each maps to the §2.5 message, detail code and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceAuthError {
    /// The connect has no `device` block.
    #[error("device identity required")]
    NoDevice,
    /// `device.id` is not the fingerprint of `device.publicKey`.
    #[error("device identity mismatch")]
    DeviceIdMismatch,
    /// `|now − signedAt| > 120 000 ms`.
    #[error("device signature expired")]
    SignatureExpired {
        /// The observed distance in ms.
        skew_ms: u64,
    },
    /// Empty nonce.
    #[error("device nonce required")]
    NonceRequired,
    /// Nonce differs from the challenge.
    #[error("device nonce mismatch")]
    NonceMismatch,
    /// Neither v3 nor v2 verifies.
    #[error("device signature invalid")]
    SignatureInvalid,
    /// The public key cannot be normalised.
    #[error("device public key invalid")]
    PublicKeyInvalid,
}

impl DeviceAuthError {
    /// The `details.code`.
    pub fn detail_code(&self) -> DetailCode {
        match self {
            DeviceAuthError::NoDevice => DetailCode::DeviceIdentityRequired,
            DeviceAuthError::DeviceIdMismatch => DetailCode::DeviceAuthDeviceIdMismatch,
            DeviceAuthError::SignatureExpired { .. } => DetailCode::DeviceAuthSignatureExpired,
            DeviceAuthError::NonceRequired => DetailCode::DeviceAuthNonceRequired,
            DeviceAuthError::NonceMismatch => DetailCode::DeviceAuthNonceMismatch,
            DeviceAuthError::SignatureInvalid => DetailCode::DeviceAuthSignatureInvalid,
            DeviceAuthError::PublicKeyInvalid => DetailCode::DeviceAuthPublicKeyInvalid,
        }
    }

    /// The `details.reason` (none for [`DeviceAuthError::NoDevice`]).
    pub fn reason(&self) -> Option<&'static str> {
        Some(match self {
            DeviceAuthError::NoDevice => return None,
            DeviceAuthError::DeviceIdMismatch => "device-id-mismatch",
            DeviceAuthError::SignatureExpired { .. } => "device-signature-stale",
            DeviceAuthError::NonceRequired => "device-nonce-missing",
            DeviceAuthError::NonceMismatch => "device-nonce-mismatch",
            DeviceAuthError::SignatureInvalid => "device-signature",
            DeviceAuthError::PublicKeyInvalid => "device-public-key",
        })
    }

    /// The wire error (`INVALID_REQUEST` with `{code, reason}`; `NOT_PAIRED` for no device).
    pub fn to_error(&self) -> ErrorShape {
        match self.reason() {
            None => ErrorShape::new(ErrorCode::NotPaired, self.to_string())
                .with_details(json!({"code": self.detail_code()})),
            Some(reason) => ErrorShape::new(ErrorCode::InvalidRequest, self.to_string())
                .with_details(json!({"code": self.detail_code(), "reason": reason})),
        }
    }

    /// The error plus close 1008 with the message as reason.
    pub fn to_rejection(&self) -> HandshakeRejection {
        HandshakeRejection::policy(self.to_error())
    }
}

/// Verifies a connect's device proof against the challenge nonce, in the reference order:
/// id = fingerprint(publicKey) → skew ≤ 120 s → nonce non-empty → nonce = challenge →
/// signature (v3, else v2) → public key normalisable.
pub fn verify_device_proof(
    params: &ConnectParams,
    expected_nonce: &str,
    now_ms: u64,
) -> Result<SignatureVersion, DeviceAuthError> {
    let d = params.device.as_ref().ok_or(DeviceAuthError::NoDevice)?;
    let raw = public_key_bytes(&d.public_key).map_err(|_| DeviceAuthError::DeviceIdMismatch)?;
    if device_id_for(&raw) != d.id {
        return Err(DeviceAuthError::DeviceIdMismatch);
    }
    let skew_ms = now_ms.abs_diff(d.signed_at);
    if skew_ms > DEVICE_SIGNATURE_SKEW_MS {
        return Err(DeviceAuthError::SignatureExpired { skew_ms });
    }
    if d.nonce.is_empty() {
        return Err(DeviceAuthError::NonceRequired);
    }
    if !constant_time_eq(d.nonce.as_bytes(), expected_nonce.as_bytes()) {
        return Err(DeviceAuthError::NonceMismatch);
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| DeviceAuthError::SignatureInvalid)?;
    let sig = decode_signature(&d.signature).map_err(|_| DeviceAuthError::SignatureInvalid)?;
    let version = [SignatureVersion::V3, SignatureVersion::V2]
        .into_iter()
        .find(|v| {
            payload_for(params, *v).is_some_and(|p| key.verify_strict(p.as_bytes(), &sig).is_ok())
        })
        .ok_or(DeviceAuthError::SignatureInvalid)?;
    normalize_public_key(&d.public_key).map_err(|_| DeviceAuthError::PublicKeyInvalid)?;
    Ok(version)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

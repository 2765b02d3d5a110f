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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::connect::{ClientId, ClientMode, DeviceProof};
    use crate::identity::DeviceIdentity;
    use serde_json::json;

    const NONCE: &str = "3f0d6f3e-9b8a-4c52-8a7e-1b2c3d4e5f60";
    const SIGNED_AT: u64 = 1_776_000_000_050;

    fn params(token: Option<&str>, family: Option<&str>) -> ConnectParams {
        let mut v = json!({"minProtocol":4,"maxProtocol":4,
            "client":{"id":"cli","version":"2026.9.6","platform":"Linux","mode":"cli"},
            "role":"operator","scopes":["operator.write","operator.admin","operator.write"]});
        if let Some(t) = token {
            v["auth"] = json!({"token": t});
        }
        if let Some(f) = family {
            v["client"]["deviceFamily"] = json!(f);
        }
        ConnectParams::parse(v).unwrap()
    }

    /// Signs `p` with `id` as version `v` and attaches the device block.
    fn signed(mut p: ConnectParams, id: &DeviceIdentity, v: SignatureVersion) -> ConnectParams {
        let payload = payload_to_sign(&p, v, &id.device_id(), SIGNED_AT, NONCE);
        p.device = Some(DeviceProof {
            id: id.device_id(),
            public_key: id.public_key_b64url(),
            signature: id.sign(&payload),
            signed_at: SIGNED_AT,
            nonce: NONCE.into(),
        });
        p
    }

    #[test]
    fn exact_payload_strings() {
        let p = params(None, None);
        let v3 = payload_to_sign(&p, SignatureVersion::V3, "dev", SIGNED_AT, NONCE);
        assert_eq!(
            v3,
            "v3|dev|cli|cli|operator|operator.write,operator.admin,operator.write|1776000000050||3f0d6f3e-9b8a-4c52-8a7e-1b2c3d4e5f60|linux|"
        );
        let v2 = payload_to_sign(&p, SignatureVersion::V2, "dev", SIGNED_AT, NONCE);
        assert_eq!(
            v2,
            "v2|dev|cli|cli|operator|operator.write,operator.admin,operator.write|1776000000050||3f0d6f3e-9b8a-4c52-8a7e-1b2c3d4e5f60"
        );
        let p = params(Some("tok"), Some(" Linux\t"));
        let v3 = payload_to_sign(&p, SignatureVersion::V3, "dev", 1, "n");
        assert_eq!(
            v3,
            "v3|dev|cli|cli|operator|operator.write,operator.admin,operator.write|1|tok|n|linux|linux"
        );
        // Role omitted signs as operator; token falls back to deviceToken, then bootstrapToken.
        let mut p = params(None, None);
        p.role = None;
        p.scopes = None;
        p.auth = Some(crate::connect::ConnectAuth {
            device_token: Some("dt".into()),
            bootstrap_token: Some("bt".into()),
            ..Default::default()
        });
        assert_eq!(
            payload_to_sign(&p, SignatureVersion::V2, "d", 2, "n"),
            "v2|d|cli|cli|operator||2|dt|n"
        );
        p.auth.as_mut().unwrap().device_token = None;
        assert_eq!(
            payload_to_sign(&p, SignatureVersion::V2, "d", 2, "n"),
            "v2|d|cli|cli|operator||2|bt|n"
        );
        // ASCII-only lowercase: non-ASCII letters are kept.
        assert_eq!(normalize_metadata(Some("\u{feff} ÄBC ")), "Äbc");
    }

    #[test]
    fn fixed_seed_signature_verifies_as_v3_and_v2() {
        let id = DeviceIdentity::from_seed([7u8; 32]);
        let p = signed(params(Some("shared"), None), &id, SignatureVersion::V3);
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT),
            Ok(SignatureVersion::V3)
        );
        let p2 = signed(params(Some("shared"), None), &id, SignatureVersion::V2);
        assert_eq!(
            verify_device_proof(&p2, NONCE, SIGNED_AT),
            Ok(SignatureVersion::V2)
        );
        // Platform case is normalised, so `linux` still verifies a `Linux` signature.
        let mut p3 = p.clone();
        p3.client.platform = "linux".into();
        assert_eq!(
            verify_device_proof(&p3, NONCE, SIGNED_AT),
            Ok(SignatureVersion::V3)
        );
        // Standard base64 signatures and PEM public keys are accepted.
        let mut p4 = p.clone();
        let d = p4.device.as_mut().unwrap();
        let raw = crate::identity::decode_base64_any(&d.signature).unwrap();
        d.signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
        d.public_key = id.public_key_pem().unwrap();
        assert_eq!(
            verify_device_proof(&p4, NONCE, SIGNED_AT),
            Ok(SignatureVersion::V3)
        );
    }

    #[test]
    fn signature_fails_when_any_single_field_changes() {
        let id = DeviceIdentity::from_seed([7u8; 32]);
        let good = signed(
            params(Some("shared"), Some("Linux")),
            &id,
            SignatureVersion::V3,
        );
        type Mutation = (&'static str, fn(&mut ConnectParams));
        let mutations: Vec<Mutation> = vec![
            ("client.id", |p| p.client.id = ClientId::GatewayClient),
            ("client.mode", |p| p.client.mode = ClientMode::Backend),
            ("role", |p| p.role = Some("node".into())),
            ("scopes order", |p| p.scopes.as_mut().unwrap().swap(0, 1)),
            ("scopes dedupe", |p| {
                p.scopes.as_mut().unwrap().pop();
            }),
            ("scopes added", |p| {
                p.scopes.as_mut().unwrap().push(Scope::Read)
            }),
            ("signedAt", |p| p.device.as_mut().unwrap().signed_at += 1),
            ("token", |p| {
                p.auth.as_mut().unwrap().token = Some("other".into())
            }),
            ("token removed", |p| p.auth = None),
            ("platform", |p| p.client.platform = "darwin".into()),
            ("deviceFamily", |p| {
                p.client.device_family = Some("Mac".into())
            }),
            ("deviceFamily removed", |p| p.client.device_family = None),
            ("signature", |p| {
                let d = p.device.as_mut().unwrap();
                d.signature = d.signature.chars().rev().collect();
            }),
        ];
        for (name, mutate) in mutations {
            let mut p = good.clone();
            mutate(&mut p);
            assert_eq!(
                verify_device_proof(&p, NONCE, SIGNED_AT),
                Err(DeviceAuthError::SignatureInvalid),
                "changing {name} must break the signature"
            );
        }
        // Nonce changed consistently on both sides: signature no longer matches.
        let mut p = good.clone();
        p.device.as_mut().unwrap().nonce = "other-nonce".into();
        assert_eq!(
            verify_device_proof(&p, "other-nonce", SIGNED_AT),
            Err(DeviceAuthError::SignatureInvalid)
        );
        // Device id changed: caught earlier, by the fingerprint check.
        let mut p = good.clone();
        p.device.as_mut().unwrap().id = "0".repeat(64);
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT),
            Err(DeviceAuthError::DeviceIdMismatch)
        );
        // Another key with a matching id: fingerprint passes, signature fails.
        let other = DeviceIdentity::from_seed([8u8; 32]);
        let mut p = good;
        let d = p.device.as_mut().unwrap();
        d.public_key = other.public_key_b64url();
        d.id = other.device_id();
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT),
            Err(DeviceAuthError::SignatureInvalid)
        );
    }

    #[test]
    fn skew_window_edges() {
        let id = DeviceIdentity::from_seed([7u8; 32]);
        let p = signed(params(None, None), &id, SignatureVersion::V3);
        assert!(verify_device_proof(&p, NONCE, SIGNED_AT + 120_000).is_ok());
        assert!(verify_device_proof(&p, NONCE, SIGNED_AT - 120_000).is_ok());
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT + 120_001),
            Err(DeviceAuthError::SignatureExpired { skew_ms: 120_001 })
        );
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT - 120_001),
            Err(DeviceAuthError::SignatureExpired { skew_ms: 120_001 })
        );
    }

    #[test]
    fn check_order_and_error_mapping() {
        let id = DeviceIdentity::from_seed([7u8; 32]);
        let good = signed(params(None, None), &id, SignatureVersion::V3);
        assert_eq!(
            verify_device_proof(&params(None, None), NONCE, SIGNED_AT),
            Err(DeviceAuthError::NoDevice)
        );
        // Bad id and stale: id mismatch wins.
        let mut p = good.clone();
        p.device.as_mut().unwrap().id = "x".into();
        assert_eq!(
            verify_device_proof(&p, NONCE, 0),
            Err(DeviceAuthError::DeviceIdMismatch)
        );
        // Undecodable key: id mismatch (fingerprint cannot match).
        let mut p = good.clone();
        p.device.as_mut().unwrap().public_key = "%%%".into();
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT),
            Err(DeviceAuthError::DeviceIdMismatch)
        );
        // Stale and empty nonce: stale wins.
        let mut p = good.clone();
        p.device.as_mut().unwrap().nonce = String::new();
        assert!(matches!(
            verify_device_proof(&p, NONCE, 0),
            Err(DeviceAuthError::SignatureExpired { .. })
        ));
        assert_eq!(
            verify_device_proof(&p, NONCE, SIGNED_AT),
            Err(DeviceAuthError::NonceRequired)
        );
        assert_eq!(
            verify_device_proof(&good, "other", SIGNED_AT),
            Err(DeviceAuthError::NonceMismatch)
        );

        let e = DeviceAuthError::SignatureExpired { skew_ms: 1 }.to_error();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"code":"INVALID_REQUEST","message":"device signature expired",
                   "details":{"code":"DEVICE_AUTH_SIGNATURE_EXPIRED","reason":"device-signature-stale"}})
        );
        let table = [
            (
                DeviceAuthError::DeviceIdMismatch,
                "device identity mismatch",
                "DEVICE_AUTH_DEVICE_ID_MISMATCH",
                "device-id-mismatch",
            ),
            (
                DeviceAuthError::NonceRequired,
                "device nonce required",
                "DEVICE_AUTH_NONCE_REQUIRED",
                "device-nonce-missing",
            ),
            (
                DeviceAuthError::NonceMismatch,
                "device nonce mismatch",
                "DEVICE_AUTH_NONCE_MISMATCH",
                "device-nonce-mismatch",
            ),
            (
                DeviceAuthError::SignatureInvalid,
                "device signature invalid",
                "DEVICE_AUTH_SIGNATURE_INVALID",
                "device-signature",
            ),
            (
                DeviceAuthError::PublicKeyInvalid,
                "device public key invalid",
                "DEVICE_AUTH_PUBLIC_KEY_INVALID",
                "device-public-key",
            ),
        ];
        for (err, msg, code, reason) in table {
            let r = err.to_rejection();
            assert_eq!(r.close_code.as_u16(), 1008);
            assert_eq!(r.close_reason, msg);
            let e = r.error.unwrap();
            assert_eq!(e.message, msg);
            assert_eq!(e.details, Some(json!({"code": code, "reason": reason})));
        }
        let e = DeviceAuthError::NoDevice.to_error();
        assert_eq!(e.code, ErrorCode::NotPaired);
        assert_eq!(e.detail_code(), Some(DetailCode::DeviceIdentityRequired));
    }
}

//! Signature payload vectors and device-proof verification (fixed seed `[7u8;32]`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sandgate_core::codes::{DetailCode, ErrorCode};
use sandgate_core::connect::{ClientId, ClientMode, ConnectParams, DeviceProof};
use sandgate_core::identity::DeviceIdentity;
use sandgate_core::scope::Scope;
use sandgate_core::signature::*;
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
    p.auth = Some(sandgate_core::connect::ConnectAuth {
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
    let raw = sandgate_core::identity::decode_base64_any(&d.signature).unwrap();
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

#[test]
fn signature_matches_an_independent_implementation() {
    // Ed25519 is deterministic: this signature was produced by Python `cryptography` over the
    // same v3 payload with seed [7u8;32] (a 9.6-style connect: `Linux` family, shared token).
    let id = DeviceIdentity::from_seed([7u8; 32]);
    let p = ConnectParams::parse(json!({"minProtocol":4,"maxProtocol":4,
        "client":{"id":"cli","version":"2026.9.6","platform":"linux","deviceFamily":"Linux","mode":"cli"},
        "auth":{"token":"<shared>"},"role":"operator","scopes":["operator.read"]}))
    .unwrap();
    let nonce = "221eaab1-19f8-409b-91fd-b194317d8d46";
    let payload = payload_to_sign(
        &p,
        SignatureVersion::V3,
        &id.device_id(),
        1_795_480_128_767,
        nonce,
    );
    assert_eq!(
        payload,
        "v3|fe812c12f3ab4ce6ac5db69ac352f906cb1b11ef43fb33e252ef7ff552263889|cli|cli|operator|operator.read|1795480128767|<shared>|221eaab1-19f8-409b-91fd-b194317d8d46|linux|linux"
    );
    let expected =
        "ZEBRbvqoSIKn7CrTSwATLFLwHwO7eLaj1KK1_mKygn_CTiZ5D-6S7brwukZpZLsNc_RMk9iU8eF8EFSOz3q1CQ";
    assert_eq!(id.sign(&payload), expected);
    let mut p = p;
    p.device = Some(DeviceProof {
        id: id.device_id(),
        public_key: id.public_key_b64url(),
        signature: expected.into(),
        signed_at: 1_795_480_128_767,
        nonce: nonce.into(),
    });
    assert_eq!(
        verify_device_proof(&p, nonce, 1_795_480_128_767),
        Ok(SignatureVersion::V3)
    );
}

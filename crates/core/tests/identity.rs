//! Device identity: fixed vectors, wire key forms, file save/load.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sandgate_core::identity::*;

/// Public key and SHA-256 of `[7u8;32]`'s key, computed independently with Python
/// (`cryptography` Ed25519 + `hashlib.sha256`).
const SEED7_PUBLIC_KEY_B64URL: &str = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";
const SEED7_DEVICE_ID: &str = "fe812c12f3ab4ce6ac5db69ac352f906cb1b11ef43fb33e252ef7ff552263889";

#[test]
fn fixed_seed_vectors() {
    let id = DeviceIdentity::from_seed([7u8; 32]);
    assert_eq!(id.public_key_b64url(), SEED7_PUBLIC_KEY_B64URL);
    assert_eq!(id.public_key_b64url().len(), 43);
    assert_eq!(id.device_id(), SEED7_DEVICE_ID);
    assert_eq!(
        device_id_for(&public_key_bytes(SEED7_PUBLIC_KEY_B64URL).unwrap()),
        SEED7_DEVICE_ID
    );
    let sig = id.sign("hello");
    assert_eq!(sig.len(), 86);
    assert!(
        id.verifying_key()
            .verify_strict(b"hello", &decode_signature(&sig).unwrap())
            .is_ok()
    );
}

#[test]
fn public_key_wire_forms() {
    let id = DeviceIdentity::from_seed([7u8; 32]);
    let raw = id.public_key_bytes();
    assert_eq!(public_key_bytes(&id.public_key_b64url()).unwrap(), raw);
    assert_eq!(public_key_bytes(&STANDARD.encode(raw)).unwrap(), raw);
    assert_eq!(
        public_key_bytes(&id.public_key_pem().unwrap()).unwrap(),
        raw
    );
    assert_eq!(
        normalize_public_key(&id.public_key_pem().unwrap()).unwrap(),
        id.public_key_b64url()
    );
    assert_eq!(public_key_bytes("!!!"), Err(KeyDecodeError::BadBase64));
    assert_eq!(
        public_key_bytes(&URL_SAFE_NO_PAD.encode([1u8; 31])),
        Err(KeyDecodeError::WrongLength {
            actual: 31,
            expected: 32
        })
    );
    assert_eq!(
        public_key_bytes("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        Err(KeyDecodeError::BadPem)
    );
    assert!(matches!(
        decode_signature("AAAA"),
        Err(KeyDecodeError::WrongLength { actual: 3, .. })
    ));
}

#[test]
fn debug_hides_private_key() {
    let id = DeviceIdentity::from_seed([7u8; 32]);
    let dbg = format!("{id:?}");
    let pem = id.private_key_pem().unwrap();
    let body: String = pem.lines().nth(1).unwrap().to_owned();
    assert!(!dbg.contains(&body));
    assert!(dbg.contains("<redacted>"));
    assert!(dbg.contains(SEED7_DEVICE_ID));
}

#[test]
fn save_load_round_trip_with_private_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity").join("device.json");
    let id = DeviceIdentity::from_seed([9u8; 32]).with_created_at_ms(1_776_000_000_000);
    id.save(&path).unwrap();
    let loaded = DeviceIdentity::load(&path).unwrap();
    assert_eq!(loaded.device_id(), id.device_id());
    assert_eq!(loaded.created_at_ms(), 1_776_000_000_000);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("-----BEGIN PRIVATE KEY-----"));
    assert!(text.contains("-----BEGIN PUBLIC KEY-----"));
    assert!(text.ends_with("}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Overwrite works and leaves no temp files.
    DeviceIdentity::generate().save(&path).unwrap();
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn load_rejects_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.json");
    std::fs::write(&path, "not json").unwrap();
    assert!(matches!(
        DeviceIdentity::load(&path),
        Err(IdentityError::Corrupt { .. })
    ));
    let id = DeviceIdentity::from_seed([1u8; 32]);
    id.save(&path).unwrap();
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let write = |v: &serde_json::Value| std::fs::write(&path, v.to_string()).unwrap();
    let mut v = good.clone();
    v["version"] = 2.into();
    write(&v);
    assert!(matches!(
        DeviceIdentity::load(&path),
        Err(IdentityError::UnsupportedVersion { version: 2, .. })
    ));
    let mut v = good.clone();
    v["deviceId"] = "00".into();
    write(&v);
    assert!(matches!(
        DeviceIdentity::load(&path),
        Err(IdentityError::DeviceIdMismatch { .. })
    ));
    let mut v = good.clone();
    v["publicKeyPem"] = DeviceIdentity::from_seed([2u8; 32])
        .public_key_pem()
        .unwrap()
        .into();
    write(&v);
    assert!(matches!(
        DeviceIdentity::load(&path),
        Err(IdentityError::KeyMismatch { .. })
    ));
    let mut v = good.clone();
    v["privateKeyPem"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
    write(&v);
    assert!(matches!(
        DeviceIdentity::load(&path),
        Err(IdentityError::Corrupt { .. })
    ));
    let mut v = good;
    v["extra"] = 1.into();
    write(&v);
    assert!(matches!(
        DeviceIdentity::load(&path),
        Err(IdentityError::Corrupt { .. })
    ));
    assert!(matches!(
        DeviceIdentity::load(&dir.path().join("missing.json")),
        Err(IdentityError::Io { .. })
    ));
}

#[test]
fn pem_encodings_match_an_independent_implementation() {
    // Produced by Python `cryptography` (OpenSSL) for seed [7u8;32]: PKCS#8 v1 and SPKI, the
    // same forms Node's `crypto` writes into OpenClaw's device.json.
    let id = DeviceIdentity::from_seed([7u8; 32]);
    assert_eq!(
        id.private_key_pem().unwrap().as_str(),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n"
    );
    assert_eq!(
        id.public_key_pem().unwrap(),
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=\n-----END PUBLIC KEY-----\n"
    );
}

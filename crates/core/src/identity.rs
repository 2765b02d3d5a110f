//! Device identity (§3.1): an Ed25519 key pair whose id is the lowercase hex SHA-256 of the
//! raw 32-byte public key.
//!
//! Stored like OpenClaw's `identity/device.json`: pretty JSON `{version:1, deviceId,
//! publicKeyPem (SPKI), privateKeyPem (PKCS#8 v1), createdAtMs}`, written atomically with mode
//! 0600. Unlike OpenClaw, a corrupt file is an error, never silently replaced.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of a raw Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The device id of a raw public key: lowercase hex SHA-256 (64 chars).
pub fn device_id_for(public_key: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key))
}

/// Why a wire public key or signature could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    /// Neither base64url nor standard base64.
    #[error("not valid base64 or base64url")]
    BadBase64,
    /// Decoded, but the length is wrong.
    #[error("wrong length: {actual} bytes (expected {expected})")]
    WrongLength {
        /// Decoded length.
        actual: usize,
        /// Required length.
        expected: usize,
    },
    /// A PEM string that is not an Ed25519 SPKI public key.
    #[error("invalid PEM public key")]
    BadPem,
    /// 32 bytes that are not a valid Ed25519 point.
    #[error("not a valid Ed25519 public key")]
    InvalidPoint,
}

/// Decodes base64url (padded or not) or standard base64 (padded or not).
pub fn decode_base64_any(s: &str) -> Result<Vec<u8>, KeyDecodeError> {
    let s = s.trim();
    [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD_NO_PAD, &STANDARD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
        .ok_or(KeyDecodeError::BadBase64)
}

/// Raw public-key bytes from the wire form: base64url/base64 raw 32 bytes, or a PEM SPKI
/// string (detected by `BEGIN`). The bytes are not checked to be a valid point.
pub fn public_key_bytes(wire: &str) -> Result<[u8; PUBLIC_KEY_LEN], KeyDecodeError> {
    if wire.contains("BEGIN") {
        let key =
            VerifyingKey::from_public_key_pem(wire.trim()).map_err(|_| KeyDecodeError::BadPem)?;
        return Ok(key.to_bytes());
    }
    let bytes = decode_base64_any(wire)?;
    let actual = bytes.len();
    bytes.try_into().map_err(|_| KeyDecodeError::WrongLength {
        actual,
        expected: PUBLIC_KEY_LEN,
    })
}

/// Parses a wire public key into a verifying key (valid point required).
pub fn parse_public_key(wire: &str) -> Result<VerifyingKey, KeyDecodeError> {
    let bytes = public_key_bytes(wire)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyDecodeError::InvalidPoint)
}

/// Normalises a wire public key to the stored form: base64url, no padding, of the raw bytes.
pub fn normalize_public_key(wire: &str) -> Result<String, KeyDecodeError> {
    Ok(URL_SAFE_NO_PAD.encode(parse_public_key(wire)?.as_bytes()))
}

/// Decodes a wire signature (base64url or standard base64, 64 bytes).
pub fn decode_signature(wire: &str) -> Result<ed25519_dalek::Signature, KeyDecodeError> {
    let bytes = decode_base64_any(wire)?;
    let actual = bytes.len();
    let arr: [u8; SIGNATURE_LEN] = bytes.try_into().map_err(|_| KeyDecodeError::WrongLength {
        actual,
        expected: SIGNATURE_LEN,
    })?;
    Ok(ed25519_dalek::Signature::from_bytes(&arr))
}

/// A device's Ed25519 key pair. `Debug` shows only the id and public key.
#[derive(Clone)]
pub struct DeviceIdentity {
    signing_key: SigningKey,
    created_at_ms: u64,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("device_id", &self.device_id())
            .field("public_key", &self.public_key_b64url())
            .field("created_at_ms", &self.created_at_ms)
            .field("private_key", &format_args!("<redacted>"))
            .finish()
    }
}

/// Why an identity file could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading, writing or renaming failed.
    #[error("identity file {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not the expected JSON shape.
    #[error("identity file {path} is corrupt: {detail}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// `version` is not 1.
    #[error("identity file {path} has unsupported version {version}")]
    UnsupportedVersion {
        /// The file concerned.
        path: PathBuf,
        /// The version found.
        version: u64,
    },
    /// The private and public keys do not belong together.
    #[error("identity file {path}: public key does not match private key")]
    KeyMismatch {
        /// The file concerned.
        path: PathBuf,
    },
    /// The stored `deviceId` is not the fingerprint of the key.
    #[error("identity file {path}: deviceId {stored} does not match key fingerprint {expected}")]
    DeviceIdMismatch {
        /// The file concerned.
        path: PathBuf,
        /// Id in the file.
        stored: String,
        /// Fingerprint of the key.
        expected: String,
    },
    /// Key encoding failed (should not happen).
    #[error("cannot encode identity keys: {0}")]
    Encode(String),
}

/// On-disk shape of `device.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdentityFile {
    version: u64,
    device_id: String,
    public_key_pem: String,
    private_key_pem: String,
    created_at_ms: u64,
}

impl DeviceIdentity {
    /// A fresh identity from the OS RNG, stamped with the current time.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        DeviceIdentity {
            signing_key: SigningKey::from_bytes(&seed),
            created_at_ms: now,
        }
    }

    /// A deterministic identity from a 32-byte seed (tests, fixtures); `createdAtMs` is 0.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        DeviceIdentity {
            signing_key: SigningKey::from_bytes(&seed),
            created_at_ms: 0,
        }
    }

    /// Sets the creation time recorded in the file.
    pub fn with_created_at_ms(mut self, ms: u64) -> Self {
        self.created_at_ms = ms;
        self
    }

    /// Creation time, epoch ms.
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// Raw 32-byte public key.
    pub fn public_key_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.verifying_key().to_bytes()
    }

    /// `device.id`: lowercase hex SHA-256 of the raw public key.
    pub fn device_id(&self) -> String {
        device_id_for(&self.public_key_bytes())
    }

    /// `device.publicKey`: base64url, no padding (43 chars).
    pub fn public_key_b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_key_bytes())
    }

    /// Signs a UTF-8 payload; base64url, no padding (86 chars).
    pub fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.signing_key.sign(payload.as_bytes()).to_bytes())
    }

    /// SPKI PEM of the public key.
    pub fn public_key_pem(&self) -> Result<String, IdentityError> {
        self.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| IdentityError::Encode(e.to_string()))
    }

    /// PKCS#8 v1 PEM of the private key (the form Node's `crypto` writes).
    pub fn private_key_pem(&self) -> Result<Zeroizing<String>, IdentityError> {
        let kp = KeypairBytes {
            secret_key: self.signing_key.to_bytes(),
            public_key: None,
        };
        kp.to_pkcs8_pem(LineEnding::LF)
            .map(|doc| Zeroizing::new(doc.as_str().to_owned()))
            .map_err(|e| IdentityError::Encode(e.to_string()))
    }

    /// Writes the identity file atomically (temp file with mode 0600 in the same directory,
    /// fsync, rename), creating the parent directory (mode 0700) if needed.
    pub fn save(&self, path: &Path) -> Result<(), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let file = IdentityFile {
            version: 1,
            device_id: self.device_id(),
            public_key_pem: self.public_key_pem()?,
            private_key_pem: self.private_key_pem()?.to_string(),
            created_at_ms: self.created_at_ms,
        };
        let mut text = Zeroizing::new(
            serde_json::to_string_pretty(&file)
                .map_err(|e| IdentityError::Encode(e.to_string()))?,
        );
        text.push('\n');
        drop(Zeroizing::new(file.private_key_pem));
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        create_private_dir(&dir).map_err(io)?;
        let name = path.file_name().map_or_else(
            || "device.json".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", OsRng.next_u64()));
        let result =
            write_private(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Loads an identity file. Any problem is a typed error; nothing is regenerated.
    pub fn load(path: &Path) -> Result<DeviceIdentity, IdentityError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        let corrupt = |detail: String| IdentityError::Corrupt {
            path: path.to_owned(),
            detail,
        };
        let file: IdentityFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let private_pem = Zeroizing::new(file.private_key_pem);
        if file.version != 1 {
            return Err(IdentityError::UnsupportedVersion {
                path: path.to_owned(),
                version: file.version,
            });
        }
        let signing_key = SigningKey::from_pkcs8_pem(private_pem.trim())
            .map_err(|e| corrupt(format!("privateKeyPem: {e}")))?;
        let public = VerifyingKey::from_public_key_pem(file.public_key_pem.trim())
            .map_err(|e| corrupt(format!("publicKeyPem: {e}")))?;
        if public != signing_key.verifying_key() {
            return Err(IdentityError::KeyMismatch {
                path: path.to_owned(),
            });
        }
        let identity = DeviceIdentity {
            signing_key,
            created_at_ms: file.created_at_ms,
        };
        let expected = identity.device_id();
        if file.device_id != expected {
            return Err(IdentityError::DeviceIdMismatch {
                path: path.to_owned(),
                stored: file.device_id,
                expected,
            });
        }
        Ok(identity)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

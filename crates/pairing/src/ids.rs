//! Identifiers validated once at the edge: [`DeviceId`], [`PublicKey`], and the sandbox name
//! (core's [`SandboxName`], mapped to [`PairingError`] here).

use std::fmt;

use sandgate_core::SandboxName;

use crate::error::PairingError;
use crate::limits::MAX_FIELD_LEN;

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> PairingError {
    PairingError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// Parses a sandbox name with core's rule.
pub fn sandbox_name(name: &str) -> Result<SandboxName, PairingError> {
    SandboxName::parse(name).map_err(|e| invalid("sandbox", e.to_string()))
}

/// A device id: 64 lowercase hex characters (SHA-256 of the raw public key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    /// Validates `id`.
    pub fn parse(id: &str) -> Result<DeviceId, PairingError> {
        if id.len() == 64
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(DeviceId(id.to_owned()))
        } else {
            Err(invalid("deviceId", "expected 64 lowercase hex characters"))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A device public key: base64url, at most [`MAX_FIELD_LEN`] chars.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicKey(String);

impl PublicKey {
    /// Validates `key`.
    pub fn parse(key: &str) -> Result<PublicKey, PairingError> {
        if !key.is_empty()
            && key.len() <= MAX_FIELD_LEN
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(PublicKey(key.to_owned()))
        } else {
            Err(invalid(
                "publicKey",
                "expected a base64url string of at most 256 chars",
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for PublicKey {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for PublicKey {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(DeviceId::parse(&"a".repeat(64)).is_ok());
        assert!(DeviceId::parse(&"A".repeat(64)).is_err());
        assert!(DeviceId::parse("abc").is_err());
        assert!(PublicKey::parse("abc-_9").is_ok());
        assert!(PublicKey::parse("").is_err());
        assert!(PublicKey::parse("a+b").is_err());
        assert!(sandbox_name("Alpha").is_err());
        assert!(sandbox_name("alpha").is_ok());
    }
}

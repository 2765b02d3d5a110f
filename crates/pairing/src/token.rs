//! Device tokens: 32 random bytes, base64url without padding (43 chars), stored only as a
//! SHA-256 hash and compared in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sandgate_core::{Role, ScopeSet};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a device token string.
pub const TOKEN_LEN: usize = 43;

/// A device token secret. `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// Mints a fresh secret from the operating system's CSPRNG.
    pub fn generate() -> TokenSecret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TokenSecret::from_bytes(&bytes)
    }

    /// Encodes 32 bytes as a token (for deterministic tests and custom entropy sources).
    pub fn from_bytes(bytes: &[u8; 32]) -> TokenSecret {
        TokenSecret(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The secret, to hand to the device exactly once (`hello-ok.auth.deviceToken`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// Lowercase hex SHA-256 of a token string.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time check of a presented token against a stored hash.
pub fn token_matches(presented: &str, stored_hash: &str) -> bool {
    let presented_hash = Sha256::digest(presented.as_bytes());
    let Ok(stored) = hex::decode(stored_hash) else {
        return false;
    };
    if stored.len() != presented_hash.len() {
        return false;
    }
    bool::from(presented_hash.as_slice().ct_eq(stored.as_slice()))
}

/// A token minted by a decision, approval or rotation. The gateway hands
/// [`IssuedToken::secret`] to the device; the store keeps only its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// Role the token authenticates.
    pub role: Role,
    /// Scopes the token may request.
    pub scopes: ScopeSet,
    /// The secret.
    pub secret: TokenSecret,
    /// When it was minted.
    pub issued_at_ms: u64,
}

impl IssuedToken {
    /// The token string for `hello-ok.auth.deviceToken`.
    pub fn token(&self) -> &str {
        self.secret.expose()
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("role", &self.role)
            .field("scopes", &self.scopes.to_csv())
            .field("secret", &"<redacted>")
            .field("issued_at_ms", &self.issued_at_ms)
            .finish()
    }
}

/// Source of the random values a decision needs (request ids and token secrets). Passing it in
/// keeps the decision functions free of hidden I/O and lets tests make them deterministic.
pub trait Entropy {
    /// A fresh UUID v4 string.
    fn request_id(&mut self) -> String;
    /// A fresh token secret.
    fn token(&mut self) -> TokenSecret;
}

/// [`Entropy`] from the operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn request_id(&mut self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
    fn token(&mut self) -> TokenSecret {
        TokenSecret::generate()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn tokens_are_43_chars_base64url_and_distinct() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn hash_round_trip_and_mismatch() {
        let a = TokenSecret::generate();
        let h = a.hash();
        assert_eq!(h.len(), 64);
        assert!(token_matches(a.expose(), &h));
        assert!(!token_matches("nope", &h));
        assert!(!token_matches(a.expose(), "zz"));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let t = IssuedToken {
            role: Role::Operator,
            scopes: ScopeSet::new(),
            secret: TokenSecret::generate(),
            issued_at_ms: 1,
        };
        let dbg = format!("{t:?} {:?}", t.secret);
        assert!(!dbg.contains(t.token()));
        assert!(dbg.contains("redacted"));
    }
}

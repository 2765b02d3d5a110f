//! [`SandboxName`]: the one sandbox-name rule, shared by the CLI, the gateway and the pairing
//! authority so a name one of them accepts is never refused by another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest sandbox name (a DNS label).
pub const MAX_SANDBOX_NAME_LEN: usize = 63;

/// A sandbox name: 1–63 chars of `[a-z0-9-]`, starting with a letter or digit, not ending
/// with `-`. Constructed only through [`SandboxName::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SandboxName(String);

/// Why a string is not a [`SandboxName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The empty string.
    #[error("the sandbox name is empty")]
    Empty,
    /// Longer than [`MAX_SANDBOX_NAME_LEN`] bytes.
    #[error("the sandbox name is {0} characters long; the limit is 63")]
    TooLong(usize),
    /// A character outside `[a-z0-9-]`.
    #[error("the sandbox name contains {0:?}, which is not allowed")]
    BadChar(char),
    /// Starts or ends with `-`.
    #[error("the sandbox name must not start or end with `-`")]
    EdgeDash,
}

impl SandboxName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<SandboxName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_SANDBOX_NAME_LEN {
            return Err(NameError::TooLong(name.len()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadChar(c));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(NameError::EdgeDash);
        }
        Ok(SandboxName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SandboxName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SandboxName::parse(s)
    }
}

impl AsRef<str> for SandboxName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SandboxName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SandboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SandboxName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SandboxName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule() {
        for ok in ["a", "0", "my-sandbox", "a-b-c", &"a".repeat(63)] {
            assert!(SandboxName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(SandboxName::parse(""), Err(NameError::Empty));
        assert_eq!(
            SandboxName::parse(&"a".repeat(64)),
            Err(NameError::TooLong(64))
        );
        assert_eq!(SandboxName::parse("A"), Err(NameError::BadChar('A')));
        assert_eq!(SandboxName::parse("a.b"), Err(NameError::BadChar('.')));
        assert_eq!(SandboxName::parse("a_b"), Err(NameError::BadChar('_')));
        assert_eq!(SandboxName::parse("-a"), Err(NameError::EdgeDash));
        assert_eq!(SandboxName::parse("a-"), Err(NameError::EdgeDash));
        assert!(serde_json::from_str::<SandboxName>("\"Bad\"").is_err());
    }
}

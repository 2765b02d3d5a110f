//! Protocol version negotiation (§2.3 step 2, §8).
//!
//! A client sends `minProtocol..=maxProtocol`; the gateway picks the highest version it
//! supports inside that range, or rejects with `protocol mismatch` and close 1002.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use crate::codes::{CloseCode, DetailCode, ErrorCode, close_reasons};
use crate::error::HandshakeRejection;
use crate::frame::ErrorShape;

/// A gateway protocol version sandgate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// OpenClaw 2026.4.x (JSON pairing files).
    V3,
    /// OpenClaw ≥ 2026.7 (and the recorded 2026.5.28 / 2026.9.6 CLIs).
    V4,
}

impl ProtocolVersion {
    /// Every supported version, lowest first.
    pub const SUPPORTED: [ProtocolVersion; 2] = [ProtocolVersion::V3, ProtocolVersion::V4];
    /// The newest supported version (what `expectedProtocol` reports).
    pub const LATEST: ProtocolVersion = ProtocolVersion::V4;

    /// The wire number.
    pub fn as_u32(self) -> u32 {
        match self {
            ProtocolVersion::V3 => 3,
            ProtocolVersion::V4 => 4,
        }
    }

    /// The version for a wire number, if supported.
    pub fn from_u32(n: u32) -> Option<ProtocolVersion> {
        match n {
            3 => Some(ProtocolVersion::V3),
            4 => Some(ProtocolVersion::V4),
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u32())
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.as_u32())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        ProtocolVersion::from_u32(n)
            .ok_or_else(|| serde::de::Error::custom(format!("unsupported protocol version {n}")))
    }
}

/// No supported version lies in the client's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("protocol mismatch: client range {client_min}..={client_max}, expected {expected}")]
pub struct ProtocolMismatch {
    /// The client's `minProtocol`.
    pub client_min: u32,
    /// The client's `maxProtocol`.
    pub client_max: u32,
    /// The version the server would have used (`details.expectedProtocol`).
    pub expected: ProtocolVersion,
}

impl ProtocolMismatch {
    /// The wire error: `INVALID_REQUEST` `protocol mismatch`, details
    /// `{code: "PROTOCOL_MISMATCH", expectedProtocol}` as both recorded OpenClaw versions send.
    pub fn to_error(&self) -> ErrorShape {
        ErrorShape::new(ErrorCode::InvalidRequest, "protocol mismatch").with_details(json!({
            "code": DetailCode::ProtocolMismatch,
            "expectedProtocol": self.expected.as_u32(),
        }))
    }

    /// The error plus close 1002 `protocol mismatch`.
    pub fn to_rejection(&self) -> HandshakeRejection {
        HandshakeRejection::new(
            Some(self.to_error()),
            CloseCode::ProtocolError,
            close_reasons::PROTOCOL_MISMATCH,
        )
    }
}

/// Picks the highest version in `[min, max]` among all supported versions.
pub fn negotiate(min: u32, max: u32) -> Result<ProtocolVersion, ProtocolMismatch> {
    negotiate_among(&ProtocolVersion::SUPPORTED, min, max)
}

/// Picks the highest of `allowed` in `[min, max]` (e.g. only V4 for operator clients when
/// the server enforces the v4 minimum). `expected` in the error is the highest allowed.
pub fn negotiate_among(
    allowed: &[ProtocolVersion],
    min: u32,
    max: u32,
) -> Result<ProtocolVersion, ProtocolMismatch> {
    let best = allowed
        .iter()
        .copied()
        .filter(|v| (min..=max).contains(&v.as_u32()))
        .max();
    best.ok_or(ProtocolMismatch {
        client_min: min,
        client_max: max,
        expected: allowed
            .iter()
            .copied()
            .max()
            .unwrap_or(ProtocolVersion::LATEST),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn picks_highest_in_range() {
        assert_eq!(negotiate(3, 3), Ok(ProtocolVersion::V3));
        assert_eq!(negotiate(4, 4), Ok(ProtocolVersion::V4));
        assert_eq!(negotiate(1, 10), Ok(ProtocolVersion::V4));
        assert_eq!(negotiate(1, 3), Ok(ProtocolVersion::V3));
        assert_eq!(
            negotiate_among(&[ProtocolVersion::V3], 3, 4),
            Ok(ProtocolVersion::V3)
        );
    }

    #[test]
    fn mismatch_builds_reference_error() {
        assert!(negotiate(5, 9).is_err());
        assert!(negotiate(4, 3).is_err());
        let m = negotiate(1, 2).expect_err("1..=2 holds no supported version");
        assert_eq!(
            (m.client_min, m.client_max, m.expected),
            (1, 2, ProtocolVersion::V4)
        );
        let e = m.to_error();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(e.message, "protocol mismatch");
        assert_eq!(
            e.details,
            Some(json!({"code": "PROTOCOL_MISMATCH", "expectedProtocol": 4}))
        );
        let r = m.to_rejection();
        assert_eq!(r.close_code, CloseCode::ProtocolError);
        assert_eq!(r.close_reason, "protocol mismatch");
    }
}

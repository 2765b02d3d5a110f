//! Pairing events (`device.pair.requested` / `device.pair.resolved`) and the error a waiter gets.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::records::PendingRequest;

/// The outcome announced by `device.pair.resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolutionDecision {
    /// Approved by a human or by policy.
    Approved,
    /// Rejected, or dropped because the device was removed.
    Rejected,
}

/// The `device.pair.resolved` payload: `{requestId, deviceId, decision, ts}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// Sandbox (not part of the wire payload).
    #[serde(skip)]
    pub sandbox: String,
    /// The resolved request.
    pub request_id: String,
    /// Its device.
    pub device_id: String,
    /// `approved` or `rejected`.
    pub decision: ResolutionDecision,
    /// When it was resolved (ms).
    pub ts: u64,
}

/// An event pushed to [`crate::PairingAuthority::subscribe`] receivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingEvent {
    /// A pending request was created or superseded (`device.pair.requested`).
    Requested(PendingRequest),
    /// A pending request was approved or rejected (`device.pair.resolved`).
    Resolved(Resolution),
}

impl PairingEvent {
    /// The gateway event name.
    pub fn name(&self) -> &'static str {
        match self {
            PairingEvent::Requested(_) => "device.pair.requested",
            PairingEvent::Resolved(_) => "device.pair.resolved",
        }
    }

    /// The sandbox the event belongs to (deliver it only to that sandbox's sessions).
    pub fn sandbox(&self) -> &str {
        match self {
            PairingEvent::Requested(p) => &p.sandbox,
            PairingEvent::Resolved(r) => &r.sandbox,
        }
    }

    /// The wire payload.
    pub fn payload(&self) -> serde_json::Value {
        let v = match self {
            PairingEvent::Requested(p) => serde_json::to_value(p),
            PairingEvent::Resolved(r) => serde_json::to_value(r),
        };
        v.unwrap_or(serde_json::Value::Null)
    }
}

/// Why [`crate::PairingAuthority::wait_for_resolution`] returned without a resolution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// No such request in this sandbox.
    #[error("unknown requestId")]
    UnknownRequest,
    /// The request's TTL ran out.
    #[error("pairing request expired")]
    Expired,
    /// The caller's timeout elapsed first.
    #[error("timed out waiting for approval")]
    Timeout,
    /// A newer request for the same device replaced it; wait on that one instead.
    #[error("pairing request superseded by {by}")]
    Superseded {
        /// The live request id.
        by: String,
    },
    /// The authority was dropped.
    #[error("pairing authority closed")]
    Closed,
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

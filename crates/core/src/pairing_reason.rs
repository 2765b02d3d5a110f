//! Why a connect needs pairing approval (`error.details.reason` on the wire).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The reason a pairing request was raised, in OpenClaw's classification order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairingReason {
    /// Never paired, or the public key changed.
    NotPaired,
    /// `platform` or `deviceFamily` differs from the pinned record.
    MetadataUpgrade,
    /// The requested role is not among the device's effective roles.
    RoleUpgrade,
    /// The requested scopes are outside the approved baseline.
    ScopeUpgrade,
}

impl PairingReason {
    /// The wire spelling (`not-paired`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "not-paired",
            PairingReason::MetadataUpgrade => "metadata-upgrade",
            PairingReason::RoleUpgrade => "role-upgrade",
            PairingReason::ScopeUpgrade => "scope-upgrade",
        }
    }

    /// The requirement text of the later error format: `pairing required: <this>`.
    pub fn requirement(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "device is not approved yet",
            PairingReason::MetadataUpgrade => "device identity changed and must be re-approved",
            PairingReason::RoleUpgrade => {
                "device is asking for a higher role than currently approved"
            }
            PairingReason::ScopeUpgrade => {
                "device is asking for more scopes than currently approved"
            }
        }
    }

    /// The client-side short form users quote (`scope upgrade pending approval`).
    pub fn short_form(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "device pairing required",
            PairingReason::MetadataUpgrade => "device metadata change pending approval",
            PairingReason::RoleUpgrade => "role upgrade pending approval",
            PairingReason::ScopeUpgrade => "scope upgrade pending approval",
        }
    }

    /// The `remediationHint` the gateway puts in `error.details`.
    pub fn remediation_hint(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "Approve this device from the pending pairing requests.",
            PairingReason::MetadataUpgrade => "Review the device metadata change, then approve it.",
            PairingReason::RoleUpgrade => {
                "Review the requested role, then approve the pending upgrade."
            }
            PairingReason::ScopeUpgrade => {
                "Review the requested scopes, then approve the pending upgrade."
            }
        }
    }
}

impl fmt::Display for PairingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

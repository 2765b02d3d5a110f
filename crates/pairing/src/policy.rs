//! Per-sandbox scope policy and the eligibility rule for granting without a human.

use sandgate_core::{Scope, ScopeSet};
use serde::{Deserialize, Serialize};

/// Where the connection came from, as the gateway determined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Locality {
    /// A direct loopback socket with no forwarding headers.
    Loopback,
    /// Anything else (LAN, tailnet, proxied).
    Remote,
}

/// The credential the gateway already checked before calling the pairing authority.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The sandbox's shared token, verified by the gateway in constant time.
    SandboxToken,
    /// A device token, verified here against the stored hash.
    DeviceToken(String),
    /// No credential beyond the device signature (if any).
    None,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::SandboxToken => f.write_str("SandboxToken"),
            Credential::DeviceToken(_) => f.write_str("DeviceToken(<redacted>)"),
            Credential::None => f.write_str("None"),
        }
    }
}

/// What happens to a request that goes beyond the ceiling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyMode {
    /// Grant what the ceiling allows now; record a pending request for the rest.
    #[default]
    GrantWithinCeiling,
    /// Refuse the connect with the standard pairing error (a pending request is recorded).
    Strict,
}

/// One sandbox's scope policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPolicy {
    /// Scopes granted without a human to eligible clients (loopback + sandbox token).
    pub ceiling: ScopeSet,
    /// Behaviour beyond the ceiling.
    pub mode: PolicyMode,
}

impl Default for SandboxPolicy {
    /// `operator.read`, `operator.write`, `operator.approvals`, grant-within-ceiling.
    fn default() -> Self {
        SandboxPolicy {
            ceiling: [Scope::Read, Scope::Write, Scope::Approvals]
                .into_iter()
                .collect(),
            mode: PolicyMode::GrantWithinCeiling,
        }
    }
}

impl SandboxPolicy {
    /// A policy with the given ceiling, in grant-within-ceiling mode.
    pub fn with_ceiling(ceiling: ScopeSet) -> Self {
        SandboxPolicy {
            ceiling,
            mode: PolicyMode::GrantWithinCeiling,
        }
    }

    /// The same policy in strict mode.
    pub fn strict(mut self) -> Self {
        self.mode = PolicyMode::Strict;
        self
    }
}

/// May the policy grant without a human? Only loopback clients that presented the sandbox token.
pub fn is_eligible(locality: Locality, credential: &Credential) -> bool {
    locality == Locality::Loopback && matches!(credential, Credential::SandboxToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_with_sandbox_token_is_eligible() {
        assert!(is_eligible(Locality::Loopback, &Credential::SandboxToken));
        assert!(!is_eligible(Locality::Remote, &Credential::SandboxToken));
        assert!(!is_eligible(
            Locality::Loopback,
            &Credential::DeviceToken("x".into())
        ));
        assert!(!is_eligible(Locality::Loopback, &Credential::None));
    }

    #[test]
    fn default_ceiling() {
        let p = SandboxPolicy::default();
        assert_eq!(
            p.ceiling.to_csv(),
            "operator.approvals,operator.read,operator.write"
        );
        assert_eq!(p.mode, PolicyMode::GrantWithinCeiling);
        assert!(!format!("{:?}", Credential::DeviceToken("secret".into())).contains("secret"));
    }
}

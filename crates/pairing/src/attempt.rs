//! A connect as the gateway hands it over ([`ConnectAttempt`], plain strings) and as the
//! decision sees it ([`Connect`], every field validated once by [`ConnectAttempt::validate`]).

use sandgate_core::{Role, SandboxName, Scope, ScopeSet};

use crate::error::PairingError;
use crate::ids::{DeviceId, PublicKey, invalid, sandbox_name};
use crate::limits::{MAX_FIELD_LEN, MAX_SCOPE_LEN, MAX_SCOPES, MAX_TOKEN_LEN};
use crate::policy::{Credential, Locality};
use crate::records::DeviceMetadata;

/// The device part of a connect, after the gateway verified its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// 64-char lowercase hex (SHA-256 of the raw public key).
    pub device_id: String,
    /// base64url public key.
    pub public_key: String,
    /// `client.*` metadata (client id, mode, platform, device family, display name).
    pub metadata: DeviceMetadata,
}

/// One connect handshake as the pairing authority receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectAttempt {
    /// The sandbox whose port/token the client used.
    pub sandbox: String,
    /// The device identity, if the client sent one.
    pub device: Option<DeviceInfo>,
    /// Requested role.
    pub role: Role,
    /// Requested scopes, in the order sent.
    pub scopes: Vec<Scope>,
    /// Where the connection came from.
    pub locality: Locality,
    /// What the gateway already verified.
    pub credential: Credential,
}

/// A validated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its key.
    pub public_key: PublicKey,
    /// Bounded, control-free metadata.
    pub metadata: DeviceMetadata,
}

/// A validated connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The sandbox.
    pub sandbox: SandboxName,
    /// The device, if any.
    pub device: Option<Device>,
    /// Requested role.
    pub role: Role,
    /// Requested scopes in the order sent (kept for the pending request).
    pub scopes: Vec<Scope>,
    /// The same scopes, normalised.
    pub requested: ScopeSet,
    /// Where the connection came from.
    pub locality: Locality,
    /// What the gateway already verified (a device token is 1–512 bytes).
    pub credential: Credential,
}

impl ConnectAttempt {
    /// Validates every field: the only place a connect is checked.
    pub fn validate(&self) -> Result<Connect, PairingError> {
        let sandbox = sandbox_name(&self.sandbox)?;
        let device = self.device.as_ref().map(DeviceInfo::validate).transpose()?;
        if let Credential::DeviceToken(t) = &self.credential
            && (t.is_empty() || t.len() > MAX_TOKEN_LEN)
        {
            return Err(invalid("deviceToken", "empty or longer than 512 bytes"));
        }
        let requested = validate_scopes(self.role, &self.scopes)?;
        Ok(Connect {
            sandbox,
            device,
            role: self.role,
            scopes: self.scopes.clone(),
            requested,
            locality: self.locality,
            credential: self.credential.clone(),
        })
    }
}

impl DeviceInfo {
    fn validate(&self) -> Result<Device, PairingError> {
        let id = DeviceId::parse(&self.device_id)?;
        let public_key = PublicKey::parse(&self.public_key)?;
        validate_metadata(&self.metadata)?;
        Ok(Device {
            id,
            public_key,
            metadata: self.metadata.clone(),
        })
    }
}

fn validate_meta_field(field: &'static str, v: Option<&String>) -> Result<(), PairingError> {
    match v {
        Some(s) if s.len() > MAX_FIELD_LEN => Err(invalid(field, "longer than 256 bytes")),
        Some(s) if s.chars().any(char::is_control) => Err(invalid(field, "control characters")),
        _ => Ok(()),
    }
}

fn validate_metadata(m: &DeviceMetadata) -> Result<(), PairingError> {
    validate_meta_field("displayName", m.display_name.as_ref())?;
    validate_meta_field("platform", m.platform.as_ref())?;
    validate_meta_field("deviceFamily", m.device_family.as_ref())?;
    validate_meta_field("clientId", m.client_id.as_ref())?;
    validate_meta_field("clientMode", m.client_mode.as_ref())
}

/// Validates a scope list for `role` and returns it as a normalised set.
///
/// Rejects more than [`MAX_SCOPES`] entries, empty or oversized strings, unknown `operator.*`
/// scopes, and scopes that do not belong to the role.
pub fn validate_scopes(role: Role, scopes: &[Scope]) -> Result<ScopeSet, PairingError> {
    if scopes.len() > MAX_SCOPES {
        return Err(invalid(
            "scopes",
            format!("{} scopes (at most {MAX_SCOPES})", scopes.len()),
        ));
    }
    let mut unknown = Vec::new();
    for s in scopes {
        let text = s.as_str();
        if text.is_empty()
            || text.len() > MAX_SCOPE_LEN
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(
                "scopes",
                "scope must be 1-128 printable ASCII chars",
            ));
        }
        match role {
            Role::Operator => {
                if s.is_unknown() {
                    unknown.push(text.to_owned());
                }
            }
            Role::Node => {
                if !s.belongs_to(Role::Node) {
                    return Err(PairingError::ScopeNotForRole {
                        scope: text.to_owned(),
                    });
                }
            }
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(PairingError::UnknownScopes(unknown));
    }
    Ok(scopes.iter().collect::<ScopeSet>().normalized())
}

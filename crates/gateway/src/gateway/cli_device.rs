//! The sandbox CLI's own device: created with the sandbox and paired within its policy, so
//! the first agent turn needs no approval (NemoClaw #4504); also completed after a crash.

use sandgate_core::Role;
use sandgate_core::identity::DeviceIdentity;
use sandgate_pairing::{
    Approver, ConnectAttempt, Credential as PairCredential, Decision, DeviceInfo, DeviceMetadata,
    Locality,
};

use super::{Gateway, GatewayError, io};
use crate::fsutil;
use crate::registry::SandboxRecord;

impl Gateway {
    /// Creates the sandbox CLI's device identity and pairs it within the sandbox policy, so
    /// its first agent turn needs no approval (NemoClaw #4504).
    pub(super) async fn preapprove_cli_device(
        &self,
        rec: &SandboxRecord,
    ) -> Result<(), GatewayError> {
        let dir = self.device_dir(&rec.name);
        std::fs::create_dir_all(dir.join("openclaw"))
            .map_err(io(format!("create {}", dir.display())))?;
        // An identity left by a create that a crash interrupted is reused (it may already be
        // paired); otherwise a new one is made.
        let identity = match DeviceIdentity::load(&dir.join("device.json")) {
            Ok(id) => id,
            Err(_) => {
                let id = DeviceIdentity::generate();
                id.save(&dir.join("device.json"))?;
                id
            }
        };
        let policy = &rec.policy;
        let attempt = ConnectAttempt {
            sandbox: rec.name.clone(),
            device: Some(DeviceInfo {
                device_id: identity.device_id(),
                public_key: identity.public_key_b64url(),
                metadata: DeviceMetadata {
                    display_name: Some(format!("sandgate {} CLI", rec.name)),
                    platform: Some(std::env::consts::OS.to_owned()),
                    device_family: None,
                    client_id: Some("cli".into()),
                    client_mode: Some("cli".into()),
                },
            }),
            role: Role::Operator,
            scopes: policy.ceiling.iter().cloned().collect(),
            locality: Locality::Loopback,
            credential: PairCredential::SandboxToken,
        };
        let decision = self.shared.pairing.connect(&attempt).await?;
        let (token, scopes) = match decision {
            Decision::Approved {
                device_token: Some(token),
                scopes,
                ..
            } => (token, scopes),
            // Already paired with a token this create never wrote down (a crash between the
            // pairing and `device-auth.json`): the only copy of that secret is gone, so issue
            // a fresh one.
            Decision::Approved {
                device_token: None,
                scopes,
                ..
            } => {
                let rotated = self
                    .shared
                    .pairing
                    .rotate_token(
                        &rec.name,
                        &identity.device_id(),
                        Role::Operator,
                        None,
                        &Approver::HostAdmin,
                    )
                    .await?;
                (rotated.token, scopes)
            }
            _ => {
                return Err(GatewayError::Pairing(
                    sandgate_pairing::PairingError::DeviceIdentityRequired,
                ));
            }
        };
        let auth = serde_json::json!({
            "version": 1,
            "deviceId": identity.device_id(),
            "tokens": {"operator": {"token": token.token(), "role": "operator", "scopes": scopes, "updatedAtMs": self.shared.now_ms()}},
        });
        fsutil::write_private(&dir.join("device-auth.json"), auth.to_string().as_bytes())
            .map_err(io("write device-auth.json"))?;
        Ok(())
    }
}

//! Host-admin device operations of a sandbox: list, approve, reject, revoke, each answering a
//! typed view (camelCase, as the admin socket and `devices --json` show them).

use sandgate_core::codes::close_reasons;
use sandgate_core::{CloseCode, Role};
use sandgate_pairing::{Approver, PairedDeviceView, PairingList};
use serde::{Deserialize, Serialize};

use super::{Gateway, GatewayError};

/// The answer to [`Gateway::devices_approve`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceApproved {
    /// The device after approval (redacted).
    pub device: PairedDeviceView,
    /// The approved request.
    pub request_id: String,
}

/// The answer to [`Gateway::devices_reject`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRejected {
    /// The device whose request was rejected.
    pub device_id: String,
    /// The rejected request.
    pub request_id: String,
}

/// The answer to [`Gateway::devices_revoke`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRevoked {
    /// Sessions of the device that were asked to close (4001 `device removed`).
    pub closed_sessions: usize,
    /// The device.
    pub device_id: String,
    /// When its token was revoked (the original time if it already was).
    pub revoked_at_ms: u64,
    /// The role whose token was revoked (always `operator`).
    pub role: Role,
}

impl Gateway {
    /// `{pending, paired}` of a sandbox, as `device.pair.list` returns it.
    pub async fn devices_list(&self, sandbox: &str) -> Result<PairingList, GatewayError> {
        self.ctx(sandbox).await?;
        Ok(self.shared.pairing.list(sandbox).await?)
    }

    /// Approves a pending request as the host admin (never needs the scopes it grants).
    pub async fn devices_approve(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<DeviceApproved, GatewayError> {
        self.ctx(sandbox).await?;
        let approval = self
            .shared
            .pairing
            .approve(sandbox, request_id, &Approver::HostAdmin)
            .await?;
        Ok(DeviceApproved {
            device: approval.device,
            request_id: request_id.to_owned(),
        })
    }

    /// Rejects a pending request as the host admin.
    pub async fn devices_reject(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<DeviceRejected, GatewayError> {
        self.ctx(sandbox).await?;
        let r = self
            .shared
            .pairing
            .reject(sandbox, request_id, &Approver::HostAdmin)
            .await?;
        Ok(DeviceRejected {
            device_id: r.device_id,
            request_id: request_id.to_owned(),
        })
    }

    /// Revokes a device's operator token and closes its sockets (4001 `device removed`).
    pub async fn devices_revoke(
        &self,
        sandbox: &str,
        device_id: &str,
    ) -> Result<DeviceRevoked, GatewayError> {
        let ctx = self.ctx(sandbox).await?;
        let r = self
            .shared
            .pairing
            .revoke_token(sandbox, device_id, Role::Operator, &Approver::HostAdmin)
            .await?;
        let closed_sessions = ctx.close_device(
            device_id,
            None,
            CloseCode::AuthChanged,
            close_reasons::DEVICE_REMOVED,
        );
        Ok(DeviceRevoked {
            closed_sessions,
            device_id: device_id.to_owned(),
            revoked_at_ms: r.revoked_at_ms,
            role: r.role,
        })
    }
}

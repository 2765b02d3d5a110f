//! Host-admin device operations of a sandbox: list, approve, reject, revoke.

use sandgate_core::codes::close_reasons;
use sandgate_core::{CloseCode, Role};
use sandgate_pairing::Approver;

use super::{Gateway, GatewayError};

impl Gateway {
    /// `{pending, paired}` of a sandbox, as `device.pair.list` returns it.
    pub async fn devices_list(&self, sandbox: &str) -> Result<serde_json::Value, GatewayError> {
        self.ctx(sandbox).await?;
        let list = self.shared.pairing.list(sandbox).await?;
        Ok(serde_json::to_value(list).unwrap_or_default())
    }

    /// Approves a pending request as the host admin (never needs the scopes it grants).
    pub async fn devices_approve(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<serde_json::Value, GatewayError> {
        self.ctx(sandbox).await?;
        let approval = self
            .shared
            .pairing
            .approve(sandbox, request_id, &Approver::HostAdmin)
            .await?;
        Ok(serde_json::json!({"requestId": request_id, "device": approval.device}))
    }

    /// Rejects a pending request as the host admin.
    pub async fn devices_reject(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<serde_json::Value, GatewayError> {
        self.ctx(sandbox).await?;
        let r = self
            .shared
            .pairing
            .reject(sandbox, request_id, &Approver::HostAdmin)
            .await?;
        Ok(serde_json::json!({"requestId": request_id, "deviceId": r.device_id}))
    }

    /// Revokes a device's operator token and closes its sockets (4001 `device removed`).
    pub async fn devices_revoke(
        &self,
        sandbox: &str,
        device_id: &str,
    ) -> Result<serde_json::Value, GatewayError> {
        let ctx = self.ctx(sandbox).await?;
        let r = self
            .shared
            .pairing
            .revoke_token(sandbox, device_id, Role::Operator, &Approver::HostAdmin)
            .await?;
        let closed = ctx.close_device(
            device_id,
            None,
            CloseCode::AuthChanged,
            close_reasons::DEVICE_REMOVED,
        );
        Ok(
            serde_json::json!({"deviceId": device_id, "role": "operator", "revokedAtMs": r.revoked_at_ms, "closedSessions": closed}),
        )
    }
}

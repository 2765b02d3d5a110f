//! Run-time changes to a sandbox's egress policy, and its refusals.

use crate::egress::{Denial, EgressPolicy};

use super::{Gateway, GatewayError, SandboxInfo};

impl Gateway {
    /// Replaces one sandbox's egress policy: persisted, effective on its next connection, no
    /// other sandbox touched.
    pub async fn set_egress_policy(
        &self,
        name: &str,
        policy: EgressPolicy,
    ) -> Result<SandboxInfo, GatewayError> {
        let mut sandboxes = self.sandboxes.lock().await;
        let running = sandboxes
            .get_mut(name)
            .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))?;
        let mut rec = running.record.clone();
        rec.network_policies = policy.preset_names();
        rec.egress_hosts = policy.host_strings();
        self.shared.registry.update(rec.clone()).await?;
        running.ctx.egress.set_policy(policy.clone());
        running.record = rec;
        tracing::info!(sandbox = %name, presets = ?policy.preset_names(), hosts = ?policy.host_strings(), "egress policy changed");
        Ok(self.info(running))
    }

    /// The egress refusals of a sandbox at or after `since_ms` (the most recent few hundred).
    pub async fn egress_denials(
        &self,
        name: &str,
        since_ms: u64,
    ) -> Result<Vec<Denial>, GatewayError> {
        Ok(self.ctx(name).await?.egress.denials_since(since_ms))
    }
}

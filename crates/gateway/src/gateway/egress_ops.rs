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
        let (presets, hosts) = (policy.preset_names(), policy.host_strings());
        let info = self
            .update_record(
                name,
                |rec| {
                    rec.network_policies = policy.preset_names();
                    rec.egress_hosts = policy.host_strings();
                    Ok(policy)
                },
                |ctx, policy| ctx.egress.set_policy(policy),
            )
            .await?;
        tracing::info!(sandbox = %name, ?presets, ?hosts, "egress policy changed");
        Ok(info)
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

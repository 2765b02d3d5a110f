//! `policy list|add|remove`: a sandbox's egress policy, changed at run time through the
//! gateway (persisted, effective on the sandbox's next connection, no other sandbox touched).

use super::{Daemon, gateway_error};
use crate::admin::proto::{PolicyChange, PolicyReply, PresetView};
use crate::admin::reply::Reply;
use crate::error::CliResult;
use sandgate_gateway::SandboxInfo;
use sandgate_gateway::egress::Preset;

impl Daemon {
    pub(super) fn policy_reply(&self, info: &SandboxInfo, changed: bool) -> PolicyReply {
        let presets = info
            .egress
            .presets
            .iter()
            .map(|p| PresetView {
                name: *p,
                description: p.description().to_owned(),
                hosts: match p {
                    Preset::LocalInference => {
                        vec![format!("the route endpoint {} (when local)", info.endpoint)]
                    }
                    _ => p
                        .hosts()
                        .iter()
                        .map(|h| format!("{}:{}", h.pattern, h.port))
                        .collect(),
                },
            })
            .collect();
        PolicyReply {
            sandbox: info.name.clone(),
            presets,
            hosts: info.egress.hosts.iter().cloned().collect(),
            denied: info.egress_denied,
            changed,
        }
    }

    pub(super) async fn policy_change(&self, name: &str, change: PolicyChange) -> CliResult<Reply> {
        let info = self.existing(name).await?;
        let mut policy = info.egress.clone();
        let changed = match change {
            PolicyChange::AddPreset(p) => policy.presets.insert(p),
            PolicyChange::RemovePreset(p) => policy.presets.remove(&p),
            PolicyChange::AddHost(h) => policy.hosts.insert(h),
            PolicyChange::RemoveHost(h) => policy.hosts.remove(&h),
        };
        let info = if changed {
            let info =
                self.gw.set_egress_policy(name, policy).await.map_err(|e| {
                    gateway_error("cannot change the egress policy", &e, &self.state)
                })?;
            self.write_files(&self.view(&info), None, false).await?;
            info
        } else {
            info
        };
        Ok(self.policy_reply(&info, changed).into())
    }
}

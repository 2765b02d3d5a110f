//! The one method → required-scope table (OpenClaw 4.12 `method-scopes.ts`, §4.3).
//!
//! Authorization runs before the method lookup: a method that is not classified here requires
//! `operator.admin` (default-deny), so a non-admin caller of an unknown method is told
//! `missing scope: operator.admin`, not `unknown method`.

use sandgate_core::{Role, Scope, ScopeSet};

/// What calling a method requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// No scope (still needs an authenticated session): `health`.
    None,
    /// Only the `node` role may call it.
    NodeRole,
    /// An operator holding this scope (or one that satisfies it).
    Scope(Scope),
}

const READ: &[&str] = &[
    "status",
    "logs.tail",
    "channels.status",
    "usage.status",
    "usage.cost",
    "tts.status",
    "tts.providers",
    "commands.list",
    "models.list",
    "tools.catalog",
    "tools.effective",
    "agents.list",
    "agent.identity.get",
    "skills.status",
    "skills.search",
    "skills.detail",
    "voicewake.get",
    "sessions.list",
    "sessions.get",
    "sessions.preview",
    "sessions.resolve",
    "sessions.compaction.list",
    "sessions.compaction.get",
    "sessions.subscribe",
    "sessions.unsubscribe",
    "sessions.messages.subscribe",
    "sessions.messages.unsubscribe",
    "cron.list",
    "cron.status",
    "cron.runs",
    "gateway.identity.get",
    "system-presence",
    "last-heartbeat",
    "node.list",
    "node.describe",
    "chat.history",
    "config.get",
    "config.schema.lookup",
    "talk.config",
    "agents.files.list",
    "agents.files.get",
    "doctor.memory.status",
    "doctor.memory.dreamDiary",
];

const WRITE: &[&str] = &[
    "agent",
    "agent.wait",
    "chat.send",
    "chat.abort",
    "send",
    "poll",
    "message.action",
    "wake",
    "talk.mode",
    "talk.speak",
    "tts.enable",
    "tts.disable",
    "tts.convert",
    "tts.setProvider",
    "voicewake.set",
    "node.invoke",
    "node.pending.enqueue",
    "sessions.create",
    "sessions.send",
    "sessions.steer",
    "sessions.abort",
    "sessions.compaction.branch",
    "push.test",
];

const APPROVALS: &[&str] = &[
    "exec.approval.get",
    "exec.approval.list",
    "exec.approval.request",
    "exec.approval.waitDecision",
    "exec.approval.resolve",
    "plugin.approval.list",
    "plugin.approval.request",
    "plugin.approval.waitDecision",
    "plugin.approval.resolve",
];

const PAIRING: &[&str] = &[
    "device.pair.list",
    "device.pair.approve",
    "device.pair.reject",
    "device.pair.remove",
    "device.token.rotate",
    "device.token.revoke",
    "node.pair.request",
    "node.pair.list",
    "node.pair.approve",
    "node.pair.reject",
    "node.pair.verify",
    "node.rename",
];

const NODE_ONLY: &[&str] = &[
    "node.invoke.result",
    "node.event",
    "node.pending.drain",
    "node.canvas.capability.refresh",
    "node.pending.pull",
    "node.pending.ack",
    "skills.bins",
];

const ADMIN_PREFIXES: &[&str] = &["config.", "exec.approvals.", "wizard.", "update."];

/// The requirement for `method`. Unclassified methods need `operator.admin`.
pub fn requirement(method: &str) -> Requirement {
    if method == "health" {
        return Requirement::None;
    }
    if NODE_ONLY.contains(&method) {
        return Requirement::NodeRole;
    }
    let table: [(&[&str], Scope); 4] = [
        (READ, Scope::Read),
        (WRITE, Scope::Write),
        (APPROVALS, Scope::Approvals),
        (PAIRING, Scope::Pairing),
    ];
    for (methods, scope) in table {
        if methods.contains(&method) {
            return Requirement::Scope(scope);
        }
    }
    if method.starts_with("sessions.usage") {
        return Requirement::Scope(Scope::Read);
    }
    if ADMIN_PREFIXES.iter().any(|p| method.starts_with(p)) {
        return Requirement::Scope(Scope::Admin);
    }
    Requirement::Scope(Scope::Admin)
}

/// Why a call was refused before dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The role may not call this method (`unauthorized role: <role>`).
    Role(Role),
    /// The session lacks the scope (`missing scope: <scope>`).
    Scope(Scope),
}

/// Authorizes `method` for a session with `role` and `scopes`.
pub fn authorize(method: &str, role: Role, scopes: &ScopeSet) -> Result<(), Denial> {
    match (requirement(method), role) {
        (Requirement::None, _) => Ok(()),
        (Requirement::NodeRole, Role::Node) => Ok(()),
        (Requirement::NodeRole, Role::Operator) | (Requirement::Scope(_), Role::Node) => {
            Err(Denial::Role(role))
        }
        (Requirement::Scope(s), Role::Operator) => {
            if scopes.satisfies(&s) {
                Ok(())
            } else {
                Err(Denial::Scope(s))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> ScopeSet {
        s.iter().copied().collect()
    }

    #[test]
    fn table_matches_reference_examples() {
        assert_eq!(requirement("health"), Requirement::None);
        assert_eq!(requirement("status"), Requirement::Scope(Scope::Read));
        assert_eq!(requirement("agent"), Requirement::Scope(Scope::Write));
        assert_eq!(
            requirement("device.pair.approve"),
            Requirement::Scope(Scope::Pairing)
        );
        assert_eq!(
            requirement("config.apply"),
            Requirement::Scope(Scope::Admin)
        );
        assert_eq!(requirement("config.get"), Requirement::Scope(Scope::Read));
        assert_eq!(
            requirement("no.such.method"),
            Requirement::Scope(Scope::Admin)
        );
        assert_eq!(requirement("node.event"), Requirement::NodeRole);
    }

    #[test]
    fn authorization_runs_before_lookup_and_respects_implications() {
        assert_eq!(
            authorize("no.such", Role::Operator, &set(&["operator.write"])),
            Err(Denial::Scope(Scope::Admin))
        );
        assert_eq!(
            authorize("no.such", Role::Operator, &set(&["operator.admin"])),
            Ok(())
        );
        assert_eq!(
            authorize("status", Role::Operator, &set(&["operator.write"])),
            Ok(())
        );
        assert_eq!(
            authorize("agent", Role::Operator, &set(&["operator.read"])),
            Err(Denial::Scope(Scope::Write))
        );
        assert_eq!(
            authorize("health", Role::Operator, &ScopeSet::new()),
            Ok(())
        );
        assert_eq!(
            authorize("status", Role::Node, &set(&["operator.admin"])),
            Err(Denial::Role(Role::Node))
        );
        assert_eq!(
            authorize("node.event", Role::Operator, &set(&["operator.admin"])),
            Err(Denial::Role(Role::Operator))
        );
    }
}

//! The one method catalog: every method's name, what calling it requires (OpenClaw 4.12
//! `method-scopes.ts`, §4.3) and, for the methods this gateway serves, its handler.
//!
//! Authorization runs before the handler lookup: a method that is not listed requires
//! `operator.admin` (default-deny), so a non-admin caller of an unknown method is told
//! `missing scope: operator.admin`, not `unknown method`.

use sandgate_core::event;
use sandgate_core::{Role, Scope, ScopeSet};

pub use crate::ws::conn::{Call, Handler, Reply};
use crate::ws::{agent, methods};

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

/// One catalog entry.
#[derive(Debug)]
pub struct Method {
    /// The wire name.
    pub name: &'static str,
    /// What calling it requires.
    pub requires: Requirement,
    /// `None` for methods classified but not served (`unknown method` once authorized).
    pub handler: Option<Handler>,
}

const NONE: Requirement = Requirement::None;
const NODE: Requirement = Requirement::NodeRole;
const READ: Requirement = Requirement::Scope(Scope::Read);
const WRITE: Requirement = Requirement::Scope(Scope::Write);
const APPROVALS: Requirement = Requirement::Scope(Scope::Approvals);
const PAIRING: Requirement = Requirement::Scope(Scope::Pairing);

const fn served(name: &'static str, requires: Requirement, handler: Handler) -> Method {
    Method {
        name,
        requires,
        handler: Some(handler),
    }
}

const fn listed(name: &'static str, requires: Requirement) -> Method {
    Method {
        name,
        requires,
        handler: None,
    }
}

use Handler::{Reply as R, Task};

/// Every classified method; the served ones first, in the order `hello-ok` advertises them.
pub static CATALOG: &[Method] = &[
    served("health", NONE, R(methods::health)),
    served("status", READ, R(methods::status)),
    served("agent", WRITE, Task(agent::run)),
    served("models.list", READ, R(methods::models_list)),
    served("sessions.list", READ, R(methods::sessions_list)),
    served("sessions.get", READ, R(methods::session_get)),
    served("chat.history", READ, R(methods::session_get)),
    served("device.pair.list", PAIRING, R(methods::pair_list)),
    served("device.pair.approve", PAIRING, R(methods::approve)),
    served("device.pair.reject", PAIRING, R(methods::reject)),
    served("device.pair.remove", PAIRING, R(methods::remove)),
    served("device.token.rotate", PAIRING, R(methods::rotate)),
    served("device.token.revoke", PAIRING, R(methods::revoke)),
    // Classified but not served: read.
    listed("logs.tail", READ),
    listed("channels.status", READ),
    listed("usage.status", READ),
    listed("usage.cost", READ),
    listed("tts.status", READ),
    listed("tts.providers", READ),
    listed("commands.list", READ),
    listed("tools.catalog", READ),
    listed("tools.effective", READ),
    listed("agents.list", READ),
    listed("agent.identity.get", READ),
    listed("skills.status", READ),
    listed("skills.search", READ),
    listed("skills.detail", READ),
    listed("voicewake.get", READ),
    listed("sessions.preview", READ),
    listed("sessions.resolve", READ),
    listed("sessions.compaction.list", READ),
    listed("sessions.compaction.get", READ),
    listed("sessions.subscribe", READ),
    listed("sessions.unsubscribe", READ),
    listed("sessions.messages.subscribe", READ),
    listed("sessions.messages.unsubscribe", READ),
    listed("cron.list", READ),
    listed("cron.status", READ),
    listed("cron.runs", READ),
    listed("gateway.identity.get", READ),
    listed("system-presence", READ),
    listed("last-heartbeat", READ),
    listed("node.list", READ),
    listed("node.describe", READ),
    listed("config.get", READ),
    listed("config.schema.lookup", READ),
    listed("talk.config", READ),
    listed("agents.files.list", READ),
    listed("agents.files.get", READ),
    listed("doctor.memory.status", READ),
    listed("doctor.memory.dreamDiary", READ),
    // Classified but not served: write.
    listed("agent.wait", WRITE),
    listed("chat.send", WRITE),
    listed("chat.abort", WRITE),
    listed("send", WRITE),
    listed("poll", WRITE),
    listed("message.action", WRITE),
    listed("wake", WRITE),
    listed("talk.mode", WRITE),
    listed("talk.speak", WRITE),
    listed("tts.enable", WRITE),
    listed("tts.disable", WRITE),
    listed("tts.convert", WRITE),
    listed("tts.setProvider", WRITE),
    listed("voicewake.set", WRITE),
    listed("node.invoke", WRITE),
    listed("node.pending.enqueue", WRITE),
    listed("sessions.create", WRITE),
    listed("sessions.send", WRITE),
    listed("sessions.steer", WRITE),
    listed("sessions.abort", WRITE),
    listed("sessions.compaction.branch", WRITE),
    listed("push.test", WRITE),
    // Classified but not served: approvals.
    listed("exec.approval.get", APPROVALS),
    listed("exec.approval.list", APPROVALS),
    listed("exec.approval.request", APPROVALS),
    listed("exec.approval.waitDecision", APPROVALS),
    listed("exec.approval.resolve", APPROVALS),
    listed("plugin.approval.list", APPROVALS),
    listed("plugin.approval.request", APPROVALS),
    listed("plugin.approval.waitDecision", APPROVALS),
    listed("plugin.approval.resolve", APPROVALS),
    // Classified but not served: pairing.
    listed("node.pair.request", PAIRING),
    listed("node.pair.list", PAIRING),
    listed("node.pair.approve", PAIRING),
    listed("node.pair.reject", PAIRING),
    listed("node.pair.verify", PAIRING),
    listed("node.rename", PAIRING),
    // Classified but not served: node.
    listed("node.invoke.result", NODE),
    listed("node.event", NODE),
    listed("node.pending.drain", NODE),
    listed("node.canvas.capability.refresh", NODE),
    listed("node.pending.pull", NODE),
    listed("node.pending.ack", NODE),
    listed("skills.bins", NODE),
];

/// Events this gateway really sends (advertised in `hello-ok.features.events`).
pub const EVENTS: &[&str] = &[
    event::CONNECT_CHALLENGE,
    event::TICK,
    event::AGENT,
    event::CHAT,
    event::SHUTDOWN,
    event::DEVICE_PAIR_REQUESTED,
    event::DEVICE_PAIR_RESOLVED,
];

/// Name prefixes that need `operator.admin` (the default for unlisted names too).
const ADMIN_PREFIXES: &[&str] = &["config.", "exec.approvals.", "wizard.", "update."];

/// The catalog entry of `name`.
pub fn find(name: &str) -> Option<&'static Method> {
    CATALOG.iter().find(|m| m.name == name)
}

/// Names of the served methods (`hello-ok.features.methods`).
pub fn served_names() -> Vec<String> {
    CATALOG
        .iter()
        .filter(|m| m.handler.is_some())
        .map(|m| m.name.to_owned())
        .collect()
}

/// The requirement for `name`. Unlisted methods need `operator.admin`.
pub fn requirement(name: &str) -> Requirement {
    if let Some(m) = find(name) {
        return m.requires.clone();
    }
    if name.starts_with("sessions.usage") {
        return READ;
    }
    if ADMIN_PREFIXES.iter().any(|p| name.starts_with(p)) {
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

/// The handler of an authorized `method`, or `None` when it is not served.
pub fn handler(method: &str) -> Option<Handler> {
    find(method).and_then(|m| m.handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &[&str]) -> ScopeSet {
        s.iter().copied().collect()
    }

    #[test]
    fn served_methods_are_advertised_in_catalog_order() {
        assert_eq!(
            served_names(),
            [
                "health",
                "status",
                "agent",
                "models.list",
                "sessions.list",
                "sessions.get",
                "chat.history",
                "device.pair.list",
                "device.pair.approve",
                "device.pair.reject",
                "device.pair.remove",
                "device.token.rotate",
                "device.token.revoke",
            ]
        );
        let mut names: Vec<_> = CATALOG.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "each method is listed once");
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

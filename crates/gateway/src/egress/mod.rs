//! Egress policy: what a sandbox may reach through its proxy besides `inference.local`.
//!
//! [`preset`] is the table, [`target`] parses where a sandbox wants to go, [`policy`] decides
//! (pure), [`resolve`] resolves and guards the address ([`addr`]), [`tunnel`] moves the bytes.
//! [`Egress`] is one sandbox's live state: its policy (swapped at run time) and the refusals
//! since the gateway started. Every decision is one structured log line ([`log_decision`]).

pub mod addr;
pub mod policy;
pub mod preset;
pub mod resolve;
pub mod target;
pub mod tunnel;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use policy::{EgressPolicy, HostRule, PolicyParseError, Rule, Verdict};
pub use preset::{Preset, UnknownPreset};
pub use resolve::Resolver;
pub use target::{Host, HostPattern, Target, TargetError};
pub use tunnel::TunnelTimeouts;

/// How many refusals a sandbox remembers for `connect`/`exec` summaries.
const RECENT_DENIALS: usize = 256;

/// One refused egress attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Denial {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// `host:port` as normalised (or as sent, when it did not parse).
    pub target: String,
    /// Why.
    pub reason: String,
    /// The preset that would open it, if any.
    pub suggest: Option<Preset>,
}

/// One sandbox's egress state.
#[derive(Debug, Default)]
pub struct Egress {
    policy: RwLock<EgressPolicy>,
    denied: AtomicU64,
    recent: Mutex<VecDeque<Denial>>,
}

impl Egress {
    /// Starts with `policy`.
    pub fn new(policy: EgressPolicy) -> Self {
        Egress {
            policy: RwLock::new(policy),
            ..Default::default()
        }
    }

    /// The current policy (a copy: a change applies to the next connection).
    pub fn policy(&self) -> EgressPolicy {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the policy.
    pub fn set_policy(&self, policy: EgressPolicy) {
        match self.policy.write() {
            Ok(mut p) => *p = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }

    /// Records a refusal.
    pub fn record_denial(&self, d: Denial) {
        self.denied.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.recent.lock() {
            if r.len() == RECENT_DENIALS {
                r.pop_front();
            }
            r.push_back(d);
        }
    }

    /// Refusals since the gateway started.
    pub fn denied_count(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }

    /// The remembered refusals at or after `since_ms`, oldest first.
    pub fn denials_since(&self, since_ms: u64) -> Vec<Denial> {
        self.recent
            .lock()
            .map(|r| r.iter().filter(|d| d.at_ms >= since_ms).cloned().collect())
            .unwrap_or_default()
    }
}

/// What happened to one egress attempt, for the log.
#[derive(Debug)]
pub struct Decision<'a> {
    /// Sandbox name.
    pub sandbox: &'a str,
    /// `CONNECT` or the plain-HTTP method.
    pub kind: &'static str,
    /// Target as normalised.
    pub target: &'a str,
    /// `allowed`, `denied`, or `failed` (allowed, but the upstream could not be reached).
    pub outcome: &'static str,
    /// The rule that allowed it, or why not.
    pub rule: &'a str,
    /// Bytes sandbox → upstream.
    pub bytes_up: u64,
    /// Bytes upstream → sandbox.
    pub bytes_down: u64,
    /// How long the connection lasted (0 for refusals).
    pub duration_ms: u64,
}

/// Writes the one structured log line of an egress decision.
pub fn log_decision(d: &Decision<'_>) {
    let decision = d.outcome;
    tracing::info!(
        target: "sandgate::egress",
        sandbox = %d.sandbox,
        kind = d.kind,
        dest = %d.target,
        decision,
        rule = %d.rule,
        bytes_up = d.bytes_up,
        bytes_down = d.bytes_down,
        duration_ms = d.duration_ms,
        "egress {decision}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_counted_and_bounded() {
        let e = Egress::new(EgressPolicy::default());
        for i in 0..(RECENT_DENIALS as u64 + 10) {
            e.record_denial(Denial {
                at_ms: i,
                target: format!("h{i}:443"),
                reason: "x".into(),
                suggest: None,
            });
        }
        assert_eq!(e.denied_count(), RECENT_DENIALS as u64 + 10);
        assert_eq!(e.denials_since(0).len(), RECENT_DENIALS);
        assert_eq!(e.denials_since(RECENT_DENIALS as u64 + 8).len(), 2);
        e.set_policy(EgressPolicy::with_presets([Preset::Npm]));
        assert!(e.policy().presets.contains(&Preset::Npm));
    }
}

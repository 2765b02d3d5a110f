//! The pure decision: classify a validated connect and decide what to grant.
//!
//! [`decide`] is a function of (connect, stored state for that device, policy, clock reading,
//! entropy) that returns the [`Decision`] plus the state change and the events to publish. It
//! performs no I/O; the store applies the change in the same transaction it read the state in.

use sandgate_core::{PairingReason, Role, ScopeSet};
use serde::Serialize;

use crate::attempt::{Connect, Device};
pub use crate::device_ops::DecisionContext;
use crate::device_ops::{metadata_matches, verify_token};
use crate::error::PairingError;
use crate::events::PairingEvent;
use crate::policy::{Credential, PolicyMode, SandboxPolicy, is_eligible};
use crate::records::{ApprovedVia, DeviceState, PairedDevice};
use crate::token::{Entropy, IssuedToken};

/// The pending part of a partial grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSummary {
    /// The live pending request.
    pub request_id: String,
    /// Requested scopes not granted now.
    pub missing: ScopeSet,
    /// What a human runs to grant the rest.
    pub remedy: String,
}

/// `error.details` of a pairing-required refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingDetails {
    /// Device id.
    pub device_id: String,
    /// Requested role.
    pub requested_role: Role,
    /// Requested scopes (normalised).
    pub requested_scopes: ScopeSet,
    /// Approved roles of the existing record (empty if none).
    pub approved_roles: Vec<Role>,
    /// Approved scope baseline of the existing record (empty if none).
    pub approved_scopes: ScopeSet,
}

/// What to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect accepted. `scopes` is the live authority (`hello-ok.auth.scopes`).
    Approved {
        /// Granted role.
        role: Role,
        /// Granted scopes.
        scopes: ScopeSet,
        /// A freshly minted device token to hand over, or `None` (no device, or the device's
        /// current token stays valid).
        device_token: Option<IssuedToken>,
        /// Requested scopes that were simply not granted (device-less connects only).
        not_granted: ScopeSet,
    },
    /// Connect accepted with part of the request; a pending request covers the rest.
    PartiallyGranted {
        /// Granted role.
        role: Role,
        /// Granted scopes (the live authority).
        granted: ScopeSet,
        /// As for `Approved`.
        device_token: Option<IssuedToken>,
        /// The pending remainder.
        pending: PendingSummary,
    },
    /// Connect refused (`NOT_PAIRED` / `PAIRING_REQUIRED`, close 1008).
    PairingRequired {
        /// Why.
        reason: PairingReason,
        /// The live pending request id.
        request_id: Option<String>,
        /// What a human runs to approve it.
        remedy: String,
        /// Structured details.
        details: PairingDetails,
    },
}

impl Decision {
    /// True for `Approved` and `PartiallyGranted`.
    pub fn is_accepted(&self) -> bool {
        !matches!(self, Decision::PairingRequired { .. })
    }

    /// The live scopes, or `None` when refused.
    pub fn granted_scopes(&self) -> Option<&ScopeSet> {
        match self {
            Decision::Approved { scopes, .. } => Some(scopes),
            Decision::PartiallyGranted { granted, .. } => Some(granted),
            Decision::PairingRequired { .. } => None,
        }
    }

    /// The minted token, if any.
    pub fn device_token(&self) -> Option<&IssuedToken> {
        match self {
            Decision::Approved { device_token, .. }
            | Decision::PartiallyGranted { device_token, .. } => device_token.as_ref(),
            Decision::PairingRequired { .. } => None,
        }
    }

    /// The pending request id created or refreshed by this decision.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Decision::Approved { .. } => None,
            Decision::PartiallyGranted { pending, .. } => Some(&pending.request_id),
            Decision::PairingRequired { request_id, .. } => request_id.as_deref(),
        }
    }

    /// The error message of a refusal: `pairing required: <requirement> (requestId: <id>)`.
    pub fn message(&self) -> Option<String> {
        match self {
            Decision::PairingRequired {
                reason, request_id, ..
            } => Some(match request_id {
                Some(id) => format!(
                    "pairing required: {} (requestId: {id})",
                    reason.requirement()
                ),
                None => format!("pairing required: {}", reason.requirement()),
            }),
            _ => None,
        }
    }
}

/// The command a human runs to approve `request_id` in `sandbox`.
pub fn remedy_command(sandbox: &str, request_id: &str) -> String {
    format!("sandgate {sandbox} devices approve {request_id}")
}

/// How the store should change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// Leave the stored state as it is.
    Keep,
    /// Replace everything stored for the device with this state.
    Replace(Box<DeviceState>),
}

/// The result of [`decide`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What to tell the client.
    pub decision: Decision,
    /// What to store.
    pub change: DeviceChange,
    /// What to publish after the change is committed.
    pub events: Vec<PairingEvent>,
}

/// OpenClaw's classification of a device connect (reference §5.5), first failing step wins.
pub fn classify(
    paired: Option<&PairedDevice>,
    device: &Device,
    role: Role,
    requested: &ScopeSet,
) -> Option<PairingReason> {
    let Some(rec) = paired.filter(|p| device.public_key == p.public_key) else {
        return Some(PairingReason::NotPaired);
    };
    if !metadata_matches(&rec.metadata, &device.metadata) {
        return Some(PairingReason::MetadataUpgrade);
    }
    if !rec.effective_roles().contains(&role) {
        return Some(PairingReason::RoleUpgrade);
    }
    if !requested.is_empty()
        && (rec.approved_scopes.is_empty() || !rec.approved_scopes.allows(requested))
    {
        return Some(PairingReason::ScopeUpgrade);
    }
    None
}

/// Decides a device-less connect. Only an eligible client (loopback + sandbox token) asking for
/// the operator role is accepted: it gets `requested ∩ ceiling`, no device token and no pending
/// request. Everything else needs a device identity.
pub fn decide_deviceless(
    connect: &Connect,
    policy: &SandboxPolicy,
) -> Result<Decision, PairingError> {
    if connect.device.is_some() {
        return Err(crate::ids::invalid(
            "device",
            "decide_deviceless called with a device",
        ));
    }
    if connect.role != Role::Operator || !is_eligible(connect.locality, &connect.credential) {
        return Err(PairingError::DeviceIdentityRequired);
    }
    Ok(Decision::Approved {
        role: Role::Operator,
        scopes: policy.ceiling.grantable_for(&connect.requested),
        device_token: None,
        not_granted: policy.ceiling.missing(&connect.requested),
    })
}

/// Decides a connect, given everything stored for its device in its sandbox. Pure: returns
/// the decision, the state change and the events.
pub fn decide(
    connect: &Connect,
    state: &DeviceState,
    policy: &SandboxPolicy,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
) -> Result<Outcome, PairingError> {
    let Some(device) = connect.device.as_ref() else {
        return decide_deviceless(connect, policy).map(|decision| Outcome {
            decision,
            change: DeviceChange::Keep,
            events: Vec::new(),
        });
    };
    let role = connect.role;
    let mut next = state.clone();
    next.prune(ctx);

    // Device-token credential: verify before anything else (reference §6.2).
    let mut token_verified = false;
    if let Credential::DeviceToken(presented) = &connect.credential {
        let same_key = next
            .paired
            .as_ref()
            .filter(|p| device.public_key == p.public_key);
        verify_token(same_key, role, presented, &connect.requested)?;
        token_verified = true;
        if let Some(t) = next.paired.as_mut().and_then(|p| p.tokens.get_mut(&role)) {
            t.last_used_at_ms = Some(ctx.now_ms);
        }
    }

    let eligible = is_eligible(connect.locality, &connect.credential);
    let key_changed = next
        .paired
        .as_ref()
        .is_some_and(|p| device.public_key != p.public_key);
    // A token a human revoked stays revoked until a human approves again: policy never
    // silently re-grants a revoked role.
    let revoked = next
        .paired
        .as_ref()
        .and_then(|p| p.tokens.get(&role))
        .is_some_and(|t| t.revoked_at_ms.is_some());

    let mut run = Deciding {
        connect,
        device,
        next,
        ctx,
        entropy,
        events: Vec::new(),
    };
    let decision = if eligible && role == Role::Operator && !key_changed && !revoked {
        run.eligible(policy)
    } else {
        run.standard(token_verified)
    };
    let change = if run.next == *state {
        DeviceChange::Keep
    } else {
        DeviceChange::Replace(Box::new(run.next))
    };
    Ok(Outcome {
        decision,
        change,
        events: run.events,
    })
}

/// One decision in progress: the connect, the state being built and what it emits.
struct Deciding<'a> {
    connect: &'a Connect,
    device: &'a Device,
    next: DeviceState,
    ctx: DecisionContext,
    entropy: &'a mut dyn Entropy,
    events: Vec<PairingEvent>,
}

impl Deciding<'_> {
    /// Grant-by-policy path for an eligible operator connect with an unchanged key.
    fn eligible(&mut self, policy: &SandboxPolicy) -> Decision {
        let role = Role::Operator;
        let now = self.ctx.now_ms;
        let requested = &self.connect.requested;
        let baseline = self
            .next
            .paired
            .as_ref()
            .map(|p| p.approved_scopes.clone())
            .unwrap_or_default();
        let grantable = baseline.union(&policy.ceiling);
        let grant = grantable.grantable_for(requested);
        let missing = grantable.missing(requested);

        if !missing.is_empty() && policy.mode == PolicyMode::Strict {
            let reason = classify(self.next.paired.as_ref(), self.device, role, requested)
                .unwrap_or(PairingReason::ScopeUpgrade);
            return self.refuse(reason);
        }

        let device = self.device;
        let rec = self.next.paired.get_or_insert_with(|| {
            PairedDevice::first(
                device.id.as_str(),
                device.public_key.as_str(),
                &device.metadata,
                role,
                now,
                ApprovedVia::Policy,
            )
        });
        let before = rec.clone();
        // Metadata re-pin by policy (same key, eligible loopback client); other fields refresh.
        rec.metadata = device.metadata.clone();
        rec.add_role(role);
        rec.role = role;
        rec.approved_scopes = rec.approved_scopes.union(&grant).normalized();
        if rec.approved_scopes != before.approved_scopes
            || rec.roles != before.roles
            || !metadata_matches(&before.metadata, &device.metadata)
            || before.roles.is_empty()
        {
            rec.approved_at_ms = now;
            rec.approved_via = ApprovedVia::Policy;
        }
        let device_token = rec.ensure_token(role, &grant, now, self.entropy);
        self.next
            .resolve_covered(&self.connect.sandbox, now, &mut self.events);

        if missing.is_empty() {
            return Decision::Approved {
                role,
                scopes: grant,
                device_token,
                not_granted: ScopeSet::new(),
            };
        }
        let pending =
            self.next
                .upsert_pending(self.connect, device, now, self.entropy, &mut self.events);
        Decision::PartiallyGranted {
            role,
            granted: grant,
            device_token,
            pending: PendingSummary {
                remedy: remedy_command(&self.connect.sandbox, &pending.request_id),
                request_id: pending.request_id,
                missing,
            },
        }
    }

    /// OpenClaw's standard path: anything beyond the approved baseline needs a human.
    fn standard(&mut self, token_verified: bool) -> Decision {
        let role = self.connect.role;
        let requested = &self.connect.requested;
        let reason = classify(self.next.paired.as_ref(), self.device, role, requested);
        let rec = match (reason, self.next.paired.as_mut()) {
            (None, Some(rec)) => rec,
            // classify() returns NotPaired when there is no record.
            (reason, _) => return self.refuse(reason.unwrap_or(PairingReason::NotPaired)),
        };
        let meta = &self.device.metadata;
        rec.metadata.display_name = meta.display_name.clone();
        rec.metadata.client_id = meta.client_id.clone();
        rec.metadata.client_mode = meta.client_mode.clone();
        let device_token = if token_verified {
            None
        } else {
            rec.ensure_token(role, requested, self.ctx.now_ms, self.entropy)
        };
        Decision::Approved {
            role,
            scopes: requested.clone(),
            device_token,
            not_granted: ScopeSet::new(),
        }
    }

    fn refuse(&mut self, reason: PairingReason) -> Decision {
        let pending = self.next.upsert_pending(
            self.connect,
            self.device,
            self.ctx.now_ms,
            self.entropy,
            &mut self.events,
        );
        let paired = self.next.paired.as_ref();
        Decision::PairingRequired {
            reason,
            remedy: format!(
                "{} Run: {}",
                reason.remediation_hint(),
                remedy_command(&self.connect.sandbox, &pending.request_id)
            ),
            request_id: Some(pending.request_id),
            details: PairingDetails {
                device_id: self.device.id.to_string(),
                requested_role: self.connect.role,
                requested_scopes: self.connect.requested.clone(),
                approved_roles: paired.map(|p| p.roles.clone()).unwrap_or_default(),
                approved_scopes: paired
                    .map(|p| p.approved_scopes.clone())
                    .unwrap_or_default(),
            },
        }
    }
}

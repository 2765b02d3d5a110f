//! Pure management operations: approve, reject, remove a device, rotate and revoke tokens.
//!
//! Like [`crate::decision::decide`], each takes the stored state of one device and returns the
//! new state plus the events to publish, or a typed error that changes nothing.

use sandgate_core::{Role, Scope, ScopeSet};

use crate::attempt::validate_scopes;
use crate::device_ops::DecisionContext;
use crate::error::PairingError;
use crate::events::{PairingEvent, Resolution, ResolutionDecision};
use crate::records::{
    ApprovedVia, DeviceState, HistoryOutcome, PairedDevice, PairedDeviceView, PendingRequest,
};
use crate::token::{Entropy, IssuedToken};

/// Who is asking for a management operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approver {
    /// The host admin (admin socket; trust from the kernel). May grant anything.
    HostAdmin,
    /// A gateway session. Needs `operator.pairing`; may approve only operator scopes it holds
    /// (implication rules apply); a non-operator role needs `operator.admin`; without admin it
    /// may remove/rotate/revoke only its own device.
    Session {
        /// The session's live scopes.
        scopes: ScopeSet,
        /// The session's own device, if it has one.
        device_id: Option<String>,
    },
}

impl Approver {
    fn is_admin(&self) -> bool {
        match self {
            Approver::HostAdmin => true,
            Approver::Session { scopes, .. } => scopes.satisfies(&Scope::Admin),
        }
    }

    fn provenance(&self) -> ApprovedVia {
        match self {
            Approver::HostAdmin => ApprovedVia::HostAdmin,
            Approver::Session { .. } => ApprovedVia::Session,
        }
    }

    /// Needs `operator.pairing` (sessions only).
    fn check_pairing(&self) -> Result<(), PairingError> {
        match self {
            Approver::Session { scopes, .. } if !scopes.satisfies(&Scope::Pairing) => {
                Err(PairingError::ApproverMissingScope {
                    scope: Scope::Pairing.to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Can the approver grant `roles` + `scopes`?
    fn check_grant(&self, roles: &[Role], scopes: &ScopeSet) -> Result<(), PairingError> {
        self.check_pairing()?;
        let Approver::Session { scopes: held, .. } = self else {
            return Ok(());
        };
        if let Some(role) = roles.iter().find(|r| **r != Role::Operator)
            && !self.is_admin()
        {
            return Err(PairingError::AdminRequired { role: *role });
        }
        if let Some(s) = scopes
            .iter()
            .find(|s| s.is_operator() && !held.satisfies(s))
        {
            return Err(PairingError::ApproverMissingScope {
                scope: s.to_string(),
            });
        }
        Ok(())
    }

    /// Self-only rule for remove/rotate/revoke.
    fn check_owner(&self, device_id: &str) -> Result<(), PairingError> {
        self.check_pairing()?;
        match self {
            Approver::Session {
                device_id: Some(own),
                ..
            } if own != device_id && !self.is_admin() => Err(PairingError::NotOwnDevice),
            _ => Ok(()),
        }
    }
}

/// Result of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The `device.pair.resolved` payload.
    pub resolution: Resolution,
    /// The device after approval (redacted).
    pub device: PairedDeviceView,
}

/// Result of removing a device: close its sockets (4001 `device removed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRemoved {
    /// The removed device.
    pub device_id: String,
    /// Roles it held (all its sockets should close).
    pub roles: Vec<Role>,
    /// Pending requests dropped with it (resolved as rejected).
    pub dropped_requests: Vec<String>,
}

/// Result of a rotation: close the device's sockets for `role` (4001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedToken {
    /// Device.
    pub device_id: String,
    /// Role.
    pub role: Role,
    /// The new token (its `Debug` is redacted).
    pub token: IssuedToken,
    /// When.
    pub rotated_at_ms: u64,
}

/// Result of a revocation: close the device's sockets for `role` (4001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    /// Device.
    pub device_id: String,
    /// Role.
    pub role: Role,
    /// When (the original time if it was already revoked).
    pub revoked_at_ms: u64,
}

/// A management result with the new state and the events to publish.
#[derive(Debug, Clone)]
pub struct Managed<T> {
    /// What the caller gets.
    pub result: T,
    /// New stored state for the device.
    pub next: DeviceState,
    /// Events to publish after commit.
    pub events: Vec<PairingEvent>,
}

/// Finds a live pending request, or explains precisely why it cannot be acted on.
pub fn find_pending<'a>(
    state: &'a DeviceState,
    request_id: &str,
    ctx: DecisionContext,
) -> Result<&'a PendingRequest, PairingError> {
    if let Some(p) = state.pending.iter().find(|p| p.request_id == request_id) {
        if p.is_expired(ctx.now_ms, ctx.pending_ttl_ms) {
            return Err(PairingError::RequestExpired);
        }
        return Ok(p);
    }
    match state.history.find(request_id) {
        Some(h) => Err(match h.outcome {
            HistoryOutcome::Approved => PairingError::AlreadyApproved,
            HistoryOutcome::Rejected => PairingError::AlreadyRejected,
            HistoryOutcome::Expired => PairingError::RequestExpired,
            HistoryOutcome::Superseded => PairingError::Superseded {
                by: h.superseded_by.clone().unwrap_or_default(),
            },
        }),
        None => Err(PairingError::UnknownRequest),
    }
}

/// Approves a pending request (reference §5.9 approve logic): merges roles and scopes into the
/// baseline, re-pins key and metadata from the request, mints a fresh token per requested role
/// (the old one dies; the device receives a new one at its next connect), deletes the request.
pub fn approve(
    state: &DeviceState,
    sandbox: &str,
    request_id: &str,
    approver: &Approver,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
) -> Result<Managed<Approval>, PairingError> {
    let p = find_pending(state, request_id, ctx)?.clone();
    let roles = p.all_roles();
    let scopes = p.scope_set();
    if let Some(s) = scopes
        .iter()
        .find(|s| !roles.iter().any(|r| s.belongs_to(*r)))
    {
        return Err(PairingError::ScopeNotForRole {
            scope: s.to_string(),
        });
    }
    approver.check_grant(&roles, &scopes)?;

    let now = ctx.now_ms;
    let mut next = state.clone();
    let mut events = Vec::new();
    let rec = next.paired.get_or_insert_with(|| {
        PairedDevice::first(
            &p.device_id,
            &p.public_key,
            &p.metadata,
            p.role,
            now,
            approver.provenance(),
        )
    });
    if rec.public_key != p.public_key {
        // A new key is a new device: it inherits nothing of the old key's baseline, roles or
        // tokens, so an approver grants exactly what the request shows (no escalation through
        // a key change).
        rec.roles.clear();
        rec.approved_scopes = ScopeSet::new();
        rec.tokens.clear();
    }
    rec.public_key = p.public_key.clone();
    rec.metadata = p.metadata.clone();
    rec.role = p.role;
    for r in &roles {
        rec.add_role(*r);
    }
    rec.approved_scopes = rec.approved_scopes.union(&scopes).normalized();
    rec.approved_at_ms = now;
    rec.approved_via = approver.provenance();
    for r in &roles {
        let mut wanted: ScopeSet = scopes.iter().filter(|s| s.belongs_to(*r)).collect();
        if wanted.is_empty() {
            wanted = rec
                .approved_scopes
                .iter()
                .filter(|s| s.belongs_to(*r))
                .collect();
        }
        // The secret is discarded: the device gets a fresh token at its next connect.
        let _ = rec.mint_token(*r, &wanted, false, now, entropy);
    }
    let device = rec.redacted();
    next.pending.retain(|q| q.request_id != p.request_id);
    let resolution =
        next.record_resolution(sandbox, &p, ResolutionDecision::Approved, now, &mut events);
    next.resolve_covered(sandbox, now, &mut events);
    next.prune(ctx);
    Ok(Managed {
        result: Approval { resolution, device },
        next,
        events,
    })
}

/// Rejects a pending request.
pub fn reject(
    state: &DeviceState,
    sandbox: &str,
    request_id: &str,
    approver: &Approver,
    ctx: DecisionContext,
) -> Result<Managed<Resolution>, PairingError> {
    let p = find_pending(state, request_id, ctx)?.clone();
    approver.check_pairing()?;
    let mut next = state.clone();
    let mut events = Vec::new();
    next.pending.retain(|q| q.request_id != p.request_id);
    let r = next.record_resolution(
        sandbox,
        &p,
        ResolutionDecision::Rejected,
        ctx.now_ms,
        &mut events,
    );
    next.prune(ctx);
    Ok(Managed {
        result: r,
        next,
        events,
    })
}

/// Removes a paired device and its pending requests.
pub fn remove_device(
    state: &DeviceState,
    sandbox: &str,
    device_id: &str,
    approver: &Approver,
    ctx: DecisionContext,
) -> Result<Managed<DeviceRemoved>, PairingError> {
    approver.check_owner(device_id)?;
    let mut next = state.clone();
    next.prune(ctx);
    if next.paired.is_none() && next.pending.is_empty() {
        return Err(PairingError::UnknownDevice);
    }
    let mut events = Vec::new();
    let roles = next.paired.take().map(|p| p.roles).unwrap_or_default();
    let dropped = std::mem::take(&mut next.pending);
    let dropped_requests = dropped.iter().map(|p| p.request_id.clone()).collect();
    for p in &dropped {
        next.record_resolution(
            sandbox,
            p,
            ResolutionDecision::Rejected,
            ctx.now_ms,
            &mut events,
        );
    }
    Ok(Managed {
        result: DeviceRemoved {
            device_id: device_id.to_owned(),
            roles,
            dropped_requests,
        },
        next,
        events,
    })
}

/// Rotates the token of (device, role) (reference §6.3). Target scopes: `scopes`, else the
/// current token's, else the baseline's for the role; they must lie within the baseline and
/// (for sessions) be held by the caller.
pub fn rotate_token(
    state: &DeviceState,
    role: Role,
    scopes: Option<&[Scope]>,
    approver: &Approver,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
) -> Result<Managed<RotatedToken>, PairingError> {
    let rec = state.paired.as_ref().ok_or(PairingError::UnknownDevice)?;
    approver.check_owner(&rec.device_id)?;
    if !rec.has_role(role) {
        return Err(PairingError::UnknownDeviceRole { role });
    }
    let target = match scopes {
        Some(list) => validate_scopes(role, list)?,
        None => match rec.tokens.get(&role) {
            Some(t) => t.scopes.clone(),
            None => rec
                .approved_scopes
                .iter()
                .filter(|s| s.belongs_to(role))
                .collect(),
        },
    };
    approver.check_grant(&[role], &target)?;
    if rec.approved_scopes.is_empty() && !target.is_empty() || !rec.approved_scopes.allows(&target)
    {
        return Err(PairingError::ScopeOutsideBaseline);
    }
    let mut next = state.clone();
    next.prune(ctx);
    let Some(rec) = next.paired.as_mut() else {
        return Err(PairingError::UnknownDevice);
    };
    // Rotation sets exactly the target scopes: drop the old token's scopes first.
    if let Some(t) = rec.tokens.get_mut(&role) {
        t.revoked_at_ms = Some(ctx.now_ms);
    }
    let token = rec.mint_token(role, &target, true, ctx.now_ms, entropy);
    let result = RotatedToken {
        device_id: rec.device_id.clone(),
        role,
        token,
        rotated_at_ms: ctx.now_ms,
    };
    Ok(Managed {
        result,
        next,
        events: Vec::new(),
    })
}

/// Revokes the token of (device, role). The role stops being effective; the device's next
/// connect is a role upgrade.
pub fn revoke_token(
    state: &DeviceState,
    role: Role,
    approver: &Approver,
    ctx: DecisionContext,
) -> Result<Managed<RevokedToken>, PairingError> {
    let rec = state.paired.as_ref().ok_or(PairingError::UnknownDevice)?;
    approver.check_owner(&rec.device_id)?;
    let t = rec
        .tokens
        .get(&role)
        .ok_or(PairingError::UnknownDeviceRole { role })?;
    if let Approver::Session { scopes: held, .. } = approver
        && let Some(s) = t
            .scopes
            .iter()
            .find(|s| s.is_operator() && !held.satisfies(s))
    {
        return Err(PairingError::ApproverMissingScope {
            scope: s.to_string(),
        });
    }
    let mut next = state.clone();
    let revoked_at_ms = match t.revoked_at_ms {
        Some(at) => at,
        None => {
            if let Some(t) = next.paired.as_mut().and_then(|p| p.tokens.get_mut(&role)) {
                t.revoked_at_ms = Some(ctx.now_ms);
            }
            ctx.now_ms
        }
    };
    let result = RevokedToken {
        device_id: rec.device_id.clone(),
        role,
        revoked_at_ms,
    };
    Ok(Managed {
        result,
        next,
        events: Vec::new(),
    })
}

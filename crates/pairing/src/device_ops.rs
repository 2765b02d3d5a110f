//! Operations on one device's stored state, shared by [`crate::decision`] and
//! [`crate::approval`]: pruning, resolving and recording requests, minting and checking tokens.

use sandgate_core::{Role, Scope, ScopeSet};

use crate::attempt::{Connect, Device};
use crate::error::{PairingError, TokenFailure};
use crate::events::{PairingEvent, Resolution, ResolutionDecision};
use crate::records::{
    DeviceMetadata, DeviceState, HistoryEntry, HistoryOutcome, PairedDevice, PendingRequest,
    TokenRecord,
};
use crate::token::{Entropy, IssuedToken, token_matches};

/// Clock reading and limits an operation runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionContext {
    /// Current time (ms since the Unix epoch, or any monotonic origin the caller keeps).
    pub now_ms: u64,
    /// Lifetime of a pending request, from creation.
    pub pending_ttl_ms: u64,
}

fn norm_meta(v: Option<&String>) -> String {
    v.map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default()
}

/// Do the presented `platform`/`deviceFamily` match the pinned ones (trim + ASCII-lowercase,
/// only for fields the record has)?
pub fn metadata_matches(pinned: &DeviceMetadata, presented: &DeviceMetadata) -> bool {
    let pairs = [
        (pinned.platform.as_ref(), presented.platform.as_ref()),
        (
            pinned.device_family.as_ref(),
            presented.device_family.as_ref(),
        ),
    ];
    pairs.into_iter().all(|(p, q)| {
        let p = norm_meta(p);
        p.is_empty() || p == norm_meta(q)
    })
}

/// Verifies a presented device token (reference §6.2).
pub fn verify_token(
    rec: Option<&PairedDevice>,
    role: Role,
    presented: &str,
    requested: &ScopeSet,
) -> Result<(), PairingError> {
    let mismatch = PairingError::DeviceTokenMismatch;
    let rec = rec.ok_or(mismatch(TokenFailure::DeviceNotPaired))?;
    let t = rec
        .tokens
        .get(&role)
        .ok_or(mismatch(TokenFailure::TokenMissing))?;
    if !t.is_live() {
        return Err(mismatch(TokenFailure::TokenRevoked));
    }
    if !token_matches(presented, &t.hash) {
        return Err(mismatch(TokenFailure::TokenMismatch));
    }
    if !rec.approved_scopes.allows(&t.scopes) || !t.scopes.allows(requested) {
        return Err(PairingError::ScopeMismatch);
    }
    Ok(())
}

impl PairedDevice {
    /// A fresh record for `device`, approved now with nothing granted yet.
    pub(crate) fn first(
        device_id: &str,
        public_key: &str,
        metadata: &DeviceMetadata,
        role: Role,
        now_ms: u64,
        via: crate::records::ApprovedVia,
    ) -> PairedDevice {
        PairedDevice {
            device_id: device_id.to_owned(),
            public_key: public_key.to_owned(),
            metadata: metadata.clone(),
            role,
            roles: Vec::new(),
            approved_scopes: ScopeSet::new(),
            tokens: Default::default(),
            created_at_ms: now_ms,
            approved_at_ms: now_ms,
            approved_via: via,
        }
    }

    /// Does this record already grant everything `p` asks for?
    pub(crate) fn covers(&self, p: &PendingRequest) -> bool {
        let effective = self.effective_roles();
        p.public_key == self.public_key
            && p.all_roles().iter().all(|r| effective.contains(r))
            && self.approved_scopes.allows(&p.scope_set())
            && metadata_matches(&self.metadata, &p.metadata)
    }

    /// Mints a token for `role` with `wanted` ∪ (scopes of the old live token that the
    /// baseline still allows). The previous secret for the role stops working.
    pub(crate) fn mint_token(
        &mut self,
        role: Role,
        wanted: &ScopeSet,
        delivered: bool,
        now_ms: u64,
        entropy: &mut dyn Entropy,
    ) -> IssuedToken {
        let old = self.tokens.get(&role);
        let keep = old
            .filter(|t| t.is_live())
            .map(|t| self.approved_scopes.granted(&t.scopes))
            .unwrap_or_default();
        let scopes: ScopeSet = wanted
            .union(&keep)
            .normalized()
            .into_iter()
            .filter(|s| s.belongs_to(role))
            .collect();
        let secret = entropy.token();
        let record = TokenRecord {
            role,
            scopes: scopes.clone(),
            hash: secret.hash(),
            created_at_ms: old.map_or(now_ms, |t| t.created_at_ms),
            rotated_at_ms: old.map(|_| now_ms),
            revoked_at_ms: None,
            last_used_at_ms: None,
            delivered,
        };
        self.tokens.insert(role, record);
        IssuedToken {
            role,
            scopes,
            secret,
            issued_at_ms: now_ms,
        }
    }

    /// Reuses the live token when it was delivered, covers `wanted` and lies within the
    /// baseline; otherwise mints a new one (reference §6.1).
    pub(crate) fn ensure_token(
        &mut self,
        role: Role,
        wanted: &ScopeSet,
        now_ms: u64,
        entropy: &mut dyn Entropy,
    ) -> Option<IssuedToken> {
        if let Some(t) = self.live_token(role)
            && t.delivered
            && t.scopes.allows(wanted)
            && self.approved_scopes.allows(&t.scopes)
        {
            return None;
        }
        Some(self.mint_token(role, wanted, true, now_ms, entropy))
    }
}

impl DeviceState {
    /// Moves expired pending requests to history and trims old history.
    pub(crate) fn prune(&mut self, ctx: DecisionContext) {
        let (expired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.is_expired(ctx.now_ms, ctx.pending_ttl_ms));
        self.pending = live;
        let expired = expired.into_iter().map(|p| HistoryEntry {
            request_id: p.request_id,
            device_id: p.device_id,
            outcome: HistoryOutcome::Expired,
            ts: p.ts.saturating_add(ctx.pending_ttl_ms),
            superseded_by: None,
        });
        self.history.backfill(expired, ctx.now_ms);
    }

    /// Resolves (as approved) every pending request the paired record now covers.
    pub(crate) fn resolve_covered(
        &mut self,
        sandbox: &str,
        now_ms: u64,
        events: &mut Vec<PairingEvent>,
    ) {
        let Some(rec) = self.paired.as_ref() else {
            return;
        };
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| rec.covers(p));
        self.pending = keep;
        for p in done {
            self.record_resolution(sandbox, &p, ResolutionDecision::Approved, now_ms, events);
        }
    }

    /// Records a resolution in history and queues its event.
    pub(crate) fn record_resolution(
        &mut self,
        sandbox: &str,
        p: &PendingRequest,
        decision: ResolutionDecision,
        now_ms: u64,
        events: &mut Vec<PairingEvent>,
    ) -> Resolution {
        let outcome = match decision {
            ResolutionDecision::Approved => HistoryOutcome::Approved,
            ResolutionDecision::Rejected => HistoryOutcome::Rejected,
        };
        self.history.record(HistoryEntry {
            request_id: p.request_id.clone(),
            device_id: p.device_id.clone(),
            outcome,
            ts: now_ms,
            superseded_by: None,
        });
        let r = Resolution {
            sandbox: sandbox.to_owned(),
            request_id: p.request_id.clone(),
            device_id: p.device_id.clone(),
            decision,
            ts: now_ms,
        };
        events.push(PairingEvent::Resolved(r.clone()));
        r
    }

    /// Creates, refreshes or supersedes the device's pending request (reference §5.4).
    /// Returns the live request.
    pub(crate) fn upsert_pending(
        &mut self,
        connect: &Connect,
        device: &Device,
        now_ms: u64,
        entropy: &mut dyn Entropy,
        events: &mut Vec<PairingEvent>,
    ) -> PendingRequest {
        let is_repair = self.paired.is_some();
        let mut roles: Vec<Role> = vec![connect.role];
        let mut scopes: Vec<Scope> = Vec::new();
        for old in &self.pending {
            roles.extend(old.all_roles());
            for s in &old.scopes {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
        }
        for s in &connect.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        roles.sort();
        roles.dedup();
        let merged_set: ScopeSet = scopes.iter().collect::<ScopeSet>().normalized();

        // Refresh: one live request whose snapshot equals what a supersede would produce.
        if let [old] = self.pending.as_mut_slice()
            && device.public_key == old.public_key
            && old.role == connect.role
            && old.all_roles() == roles
            && old.scope_set() == merged_set
        {
            old.metadata = device.metadata.clone();
            old.silent = false;
            old.is_repair = old.is_repair || is_repair;
            return old.clone();
        }

        let request = PendingRequest {
            sandbox: connect.sandbox.to_string(),
            request_id: entropy.request_id(),
            device_id: device.id.to_string(),
            public_key: device.public_key.to_string(),
            metadata: device.metadata.clone(),
            role: connect.role,
            roles,
            scopes,
            silent: false,
            is_repair: is_repair || self.pending.iter().any(|p| p.is_repair),
            ts: now_ms,
        };
        for old in std::mem::take(&mut self.pending) {
            self.history.record(HistoryEntry {
                request_id: old.request_id,
                device_id: old.device_id,
                outcome: HistoryOutcome::Superseded,
                ts: now_ms,
                superseded_by: Some(request.request_id.clone()),
            });
        }
        self.pending.push(request.clone());
        events.push(PairingEvent::Requested(request.clone()));
        request
    }
}

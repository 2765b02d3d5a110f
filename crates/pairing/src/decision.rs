//! The pure decision core: classify a connect and decide what to grant.
//!
//! [`decide`] is a function of (attempt, stored state for that device, policy, clock reading,
//! entropy) that returns the [`Decision`] plus the state change and the events to publish. It
//! performs no I/O; the store applies the change in the same transaction it read the state in.

use sandgate_core::{PairingReason, Role, Scope, ScopeSet};
use serde::Serialize;

use crate::error::{PairingError, TokenFailure};
use crate::events::{PairingEvent, Resolution, ResolutionDecision};
use crate::policy::{Credential, Locality, PolicyMode, SandboxPolicy, is_eligible};
use crate::records::{
    ApprovedVia, DeviceMetadata, DeviceState, HistoryEntry, HistoryOutcome, PairedDevice,
    PendingRequest, TokenRecord,
};
use crate::token::{Entropy, IssuedToken, token_matches};

/// Most scopes a connect may list.
pub const MAX_SCOPES: usize = 64;
/// Longest scope string.
pub const MAX_SCOPE_LEN: usize = 128;
/// Longest metadata string or public key.
pub const MAX_FIELD_LEN: usize = 256;
/// Longest presented device token.
pub const MAX_TOKEN_LEN: usize = 512;
/// Longest sandbox name.
pub const MAX_SANDBOX_LEN: usize = 64;
/// How long resolved request ids are remembered (for precise errors), in ms.
pub const HISTORY_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;
/// How many resolved request ids are remembered per device.
pub const HISTORY_PER_DEVICE: usize = 32;
/// Default lifetime of a pending request, counted from creation.
pub const DEFAULT_PENDING_TTL_MS: u64 = 5 * 60 * 1000;

/// The device part of a connect, after the gateway verified its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// 64-char lowercase hex (SHA-256 of the raw public key).
    pub device_id: String,
    /// base64url public key.
    pub public_key: String,
    /// `client.*` metadata (client id, mode, platform, device family, display name).
    pub metadata: DeviceMetadata,
}

/// One connect handshake as the pairing authority sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectAttempt {
    /// The sandbox whose port/token the client used.
    pub sandbox: String,
    /// The device identity, if the client sent one.
    pub device: Option<DeviceInfo>,
    /// Requested role.
    pub role: Role,
    /// Requested scopes, in the order sent.
    pub scopes: Vec<Scope>,
    /// Where the connection came from.
    pub locality: Locality,
    /// What the gateway already verified.
    pub credential: Credential,
}

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

/// Clock reading and limits a decision runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionContext {
    /// Current time (ms since the Unix epoch, or any monotonic origin the caller keeps).
    pub now_ms: u64,
    /// Lifetime of a pending request, from creation.
    pub pending_ttl_ms: u64,
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

// ---------------------------------------------------------------------------------------------
// Validation

fn invalid(field: &'static str, reason: impl Into<String>) -> PairingError {
    PairingError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// Checks a sandbox name: 1–64 chars of `[A-Za-z0-9._-]`, starting alphanumeric.
pub fn validate_sandbox(name: &str) -> Result<(), PairingError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SANDBOX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(())
    } else {
        Err(invalid("sandbox", "expected 1-64 chars of [A-Za-z0-9._-]"))
    }
}

/// Checks a device id: 64 lowercase hex characters.
pub fn validate_device_id(id: &str) -> Result<(), PairingError> {
    if id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(invalid("deviceId", "expected 64 lowercase hex characters"))
    }
}

fn validate_public_key(key: &str) -> Result<(), PairingError> {
    if !key.is_empty()
        && key.len() <= MAX_FIELD_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(invalid(
            "publicKey",
            "expected a base64url string of at most 256 chars",
        ))
    }
}

fn validate_meta_field(field: &'static str, v: Option<&String>) -> Result<(), PairingError> {
    match v {
        Some(s) if s.len() > MAX_FIELD_LEN => Err(invalid(field, "longer than 256 bytes")),
        Some(s) if s.chars().any(char::is_control) => Err(invalid(field, "control characters")),
        _ => Ok(()),
    }
}

fn validate_metadata(m: &DeviceMetadata) -> Result<(), PairingError> {
    validate_meta_field("displayName", m.display_name.as_ref())?;
    validate_meta_field("platform", m.platform.as_ref())?;
    validate_meta_field("deviceFamily", m.device_family.as_ref())?;
    validate_meta_field("clientId", m.client_id.as_ref())?;
    validate_meta_field("clientMode", m.client_mode.as_ref())
}

/// Validates a scope list for `role` and returns it as a normalised set.
///
/// Rejects more than [`MAX_SCOPES`] entries, empty or oversized strings, unknown `operator.*`
/// scopes, and scopes that do not belong to the role.
pub fn validate_scopes(role: Role, scopes: &[Scope]) -> Result<ScopeSet, PairingError> {
    if scopes.len() > MAX_SCOPES {
        return Err(invalid(
            "scopes",
            format!("{} scopes (at most {MAX_SCOPES})", scopes.len()),
        ));
    }
    let mut unknown = Vec::new();
    for s in scopes {
        let text = s.as_str();
        if text.is_empty()
            || text.len() > MAX_SCOPE_LEN
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(
                "scopes",
                "scope must be 1-128 printable ASCII chars",
            ));
        }
        match role {
            Role::Operator => {
                if s.is_unknown() {
                    unknown.push(text.to_owned());
                }
            }
            Role::Node => {
                if !s.belongs_to(Role::Node) {
                    return Err(PairingError::ScopeNotForRole {
                        scope: text.to_owned(),
                    });
                }
            }
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(PairingError::UnknownScopes(unknown));
    }
    Ok(scopes.iter().collect::<ScopeSet>().normalized())
}

/// Validates everything in an attempt and returns the normalised requested scopes.
pub fn validate_attempt(a: &ConnectAttempt) -> Result<ScopeSet, PairingError> {
    validate_sandbox(&a.sandbox)?;
    if let Some(d) = &a.device {
        validate_device_id(&d.device_id)?;
        validate_public_key(&d.public_key)?;
        validate_metadata(&d.metadata)?;
    }
    if let Credential::DeviceToken(t) = &a.credential
        && (t.is_empty() || t.len() > MAX_TOKEN_LEN)
    {
        return Err(invalid("deviceToken", "empty or longer than 512 bytes"));
    }
    validate_scopes(a.role, &a.scopes)
}

// ---------------------------------------------------------------------------------------------
// Helpers shared with approvals

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

/// OpenClaw's classification of a device connect (reference §5.5), first failing step wins.
pub fn classify(
    paired: Option<&PairedDevice>,
    device: &DeviceInfo,
    role: Role,
    requested: &ScopeSet,
) -> Option<PairingReason> {
    let Some(rec) = paired.filter(|p| p.public_key == device.public_key) else {
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

/// Moves expired pending requests to history and trims old history.
pub(crate) fn prune(state: &mut DeviceState, ctx: DecisionContext) {
    let (expired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut state.pending)
        .into_iter()
        .partition(|p| p.is_expired(ctx.now_ms, ctx.pending_ttl_ms));
    state.pending = live;
    for p in expired {
        state.history.push(HistoryEntry {
            request_id: p.request_id,
            device_id: p.device_id,
            outcome: HistoryOutcome::Expired,
            ts: p.ts.saturating_add(ctx.pending_ttl_ms),
            superseded_by: None,
        });
    }
    state
        .history
        .retain(|h| ctx.now_ms.saturating_sub(h.ts) <= HISTORY_RETENTION_MS);
    state.history.sort_by_key(|h| std::cmp::Reverse(h.ts));
    state.history.truncate(HISTORY_PER_DEVICE);
}

/// Does `rec` already grant everything `p` asks for?
pub(crate) fn covers(rec: &PairedDevice, p: &PendingRequest) -> bool {
    let effective = rec.effective_roles();
    p.public_key == rec.public_key
        && p.all_roles().iter().all(|r| effective.contains(r))
        && rec.approved_scopes.allows(&p.scope_set())
        && metadata_matches(&rec.metadata, &p.metadata)
}

/// Resolves (as approved) every pending request the record now covers.
pub(crate) fn resolve_covered(
    state: &mut DeviceState,
    sandbox: &str,
    now_ms: u64,
    events: &mut Vec<PairingEvent>,
) {
    let Some(rec) = state.paired.as_ref() else {
        return;
    };
    let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut state.pending)
        .into_iter()
        .partition(|p| covers(rec, p));
    state.pending = keep;
    for p in done {
        record_resolution(
            state,
            sandbox,
            &p,
            ResolutionDecision::Approved,
            now_ms,
            events,
        );
    }
}

/// Records a resolution in history and queues its event.
pub(crate) fn record_resolution(
    state: &mut DeviceState,
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
    state.history.insert(
        0,
        HistoryEntry {
            request_id: p.request_id.clone(),
            device_id: p.device_id.clone(),
            outcome,
            ts: now_ms,
            superseded_by: None,
        },
    );
    state.history.truncate(HISTORY_PER_DEVICE);
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

/// Mints a token for `role` on `rec` with `wanted` ∪ (scopes of the old live token that the
/// baseline still allows). The previous secret for the role stops working.
pub(crate) fn mint_token(
    rec: &mut PairedDevice,
    role: Role,
    wanted: &ScopeSet,
    delivered: bool,
    now_ms: u64,
    entropy: &mut dyn Entropy,
) -> IssuedToken {
    let old = rec.tokens.get(&role);
    let keep = old
        .filter(|t| t.is_live())
        .map(|t| rec.approved_scopes.granted(&t.scopes))
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
    rec.tokens.insert(role, record);
    IssuedToken {
        role,
        scopes,
        secret,
        issued_at_ms: now_ms,
    }
}

/// Reuses the live token when it was delivered, covers `wanted` and lies within the baseline;
/// otherwise mints a new one (reference §6.1).
fn ensure_token(
    rec: &mut PairedDevice,
    role: Role,
    wanted: &ScopeSet,
    now_ms: u64,
    entropy: &mut dyn Entropy,
) -> Option<IssuedToken> {
    if let Some(t) = rec.live_token(role)
        && t.delivered
        && t.scopes.allows(wanted)
        && rec.approved_scopes.allows(&t.scopes)
    {
        return None;
    }
    Some(mint_token(rec, role, wanted, true, now_ms, entropy))
}

/// Verifies a presented device token (reference §6.2). Returns the matching token's role.
pub fn verify_token(
    rec: Option<&PairedDevice>,
    role: Role,
    presented: &str,
    requested: &ScopeSet,
) -> Result<(), PairingError> {
    let rec = rec.ok_or(PairingError::DeviceTokenMismatch(
        TokenFailure::DeviceNotPaired,
    ))?;
    let t = rec
        .tokens
        .get(&role)
        .ok_or(PairingError::DeviceTokenMismatch(
            TokenFailure::TokenMissing,
        ))?;
    if !t.is_live() {
        return Err(PairingError::DeviceTokenMismatch(
            TokenFailure::TokenRevoked,
        ));
    }
    if !token_matches(presented, &t.hash) {
        return Err(PairingError::DeviceTokenMismatch(
            TokenFailure::TokenMismatch,
        ));
    }
    if !rec.approved_scopes.allows(&t.scopes) || !t.scopes.allows(requested) {
        return Err(PairingError::ScopeMismatch);
    }
    Ok(())
}

/// Creates, refreshes or supersedes the device's pending request (reference §5.4).
/// Returns the live request.
fn upsert_pending(
    state: &mut DeviceState,
    attempt: &ConnectAttempt,
    device: &DeviceInfo,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
    events: &mut Vec<PairingEvent>,
) -> PendingRequest {
    let is_repair = state.paired.is_some();
    let mut roles: Vec<Role> = vec![attempt.role];
    let mut scopes: Vec<Scope> = Vec::new();
    for old in &state.pending {
        roles.extend(old.all_roles());
        for s in &old.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
    }
    for s in &attempt.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    roles.sort();
    roles.dedup();
    let merged_set: ScopeSet = scopes.iter().collect::<ScopeSet>().normalized();

    // Refresh: one live request whose snapshot equals what a supersede would produce.
    if let [old] = state.pending.as_mut_slice()
        && old.public_key == device.public_key
        && old.role == attempt.role
        && old.all_roles() == roles
        && old.scope_set() == merged_set
    {
        old.metadata = device.metadata.clone();
        old.silent = false;
        old.is_repair = old.is_repair || is_repair;
        return old.clone();
    }

    let request = PendingRequest {
        sandbox: attempt.sandbox.clone(),
        request_id: entropy.request_id(),
        device_id: device.device_id.clone(),
        public_key: device.public_key.clone(),
        metadata: device.metadata.clone(),
        role: attempt.role,
        roles,
        scopes,
        silent: false,
        is_repair: is_repair || state.pending.iter().any(|p| p.is_repair),
        ts: ctx.now_ms,
    };
    for old in std::mem::take(&mut state.pending) {
        state.history.insert(
            0,
            HistoryEntry {
                request_id: old.request_id,
                device_id: old.device_id,
                outcome: HistoryOutcome::Superseded,
                ts: ctx.now_ms,
                superseded_by: Some(request.request_id.clone()),
            },
        );
    }
    state.history.truncate(HISTORY_PER_DEVICE);
    state.pending.push(request.clone());
    events.push(PairingEvent::Requested(request.clone()));
    request
}

fn details(
    paired: Option<&PairedDevice>,
    device: &DeviceInfo,
    role: Role,
    requested: &ScopeSet,
) -> PairingDetails {
    PairingDetails {
        device_id: device.device_id.clone(),
        requested_role: role,
        requested_scopes: requested.clone(),
        approved_roles: paired.map(|p| p.roles.clone()).unwrap_or_default(),
        approved_scopes: paired
            .map(|p| p.approved_scopes.clone())
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// The decision

/// Decides a device-less connect. Only an eligible client (loopback + sandbox token) asking for
/// the operator role is accepted: it gets `requested ∩ ceiling`, no device token and no pending
/// request. Everything else needs a device identity.
pub fn decide_deviceless(
    attempt: &ConnectAttempt,
    policy: &SandboxPolicy,
) -> Result<Decision, PairingError> {
    let requested = validate_attempt(attempt)?;
    if attempt.device.is_some() {
        return Err(invalid("device", "decide_deviceless called with a device"));
    }
    if attempt.role != Role::Operator || !is_eligible(attempt.locality, &attempt.credential) {
        return Err(PairingError::DeviceIdentityRequired);
    }
    Ok(Decision::Approved {
        role: Role::Operator,
        scopes: policy.ceiling.grantable_for(&requested),
        device_token: None,
        not_granted: policy.ceiling.missing(&requested),
    })
}

/// Decides a connect that carries a device identity, given everything stored for that device in
/// the attempt's sandbox. Pure: returns the decision, the state change and the events.
pub fn decide(
    attempt: &ConnectAttempt,
    state: &DeviceState,
    policy: &SandboxPolicy,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
) -> Result<Outcome, PairingError> {
    let requested = validate_attempt(attempt)?;
    let Some(device) = attempt.device.as_ref() else {
        return decide_deviceless(attempt, policy).map(|decision| Outcome {
            decision,
            change: DeviceChange::Keep,
            events: Vec::new(),
        });
    };
    let role = attempt.role;
    let now = ctx.now_ms;
    let mut next = state.clone();
    prune(&mut next, ctx);
    let mut events = Vec::new();

    // Device-token credential: verify before anything else (reference §6.2).
    let mut token_verified = false;
    if let Credential::DeviceToken(presented) = &attempt.credential {
        let same_key = next
            .paired
            .as_ref()
            .filter(|p| p.public_key == device.public_key);
        verify_token(same_key, role, presented, &requested)?;
        token_verified = true;
        if let Some(t) = next.paired.as_mut().and_then(|p| p.tokens.get_mut(&role)) {
            t.last_used_at_ms = Some(now);
        }
    }

    let eligible = is_eligible(attempt.locality, &attempt.credential);
    let key_changed = next
        .paired
        .as_ref()
        .is_some_and(|p| p.public_key != device.public_key);

    // A token a human revoked stays revoked until a human approves again: policy never
    // silently re-grants a revoked role.
    let revoked = next
        .paired
        .as_ref()
        .and_then(|p| p.tokens.get(&role))
        .is_some_and(|t| t.revoked_at_ms.is_some());

    let decision = if eligible && role == Role::Operator && !key_changed && !revoked {
        decide_eligible(
            attempt,
            device,
            &requested,
            &mut next,
            policy,
            ctx,
            entropy,
            &mut events,
        )
    } else {
        decide_standard(
            attempt,
            device,
            &requested,
            &mut next,
            token_verified,
            ctx,
            entropy,
            &mut events,
        )
    };

    let change = if next == *state {
        DeviceChange::Keep
    } else {
        DeviceChange::Replace(Box::new(next))
    };
    Ok(Outcome {
        decision,
        change,
        events,
    })
}

/// Grant-by-policy path for an eligible operator connect with an unchanged key.
#[allow(clippy::too_many_arguments)]
fn decide_eligible(
    attempt: &ConnectAttempt,
    device: &DeviceInfo,
    requested: &ScopeSet,
    next: &mut DeviceState,
    policy: &SandboxPolicy,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
    events: &mut Vec<PairingEvent>,
) -> Decision {
    let role = Role::Operator;
    let now = ctx.now_ms;
    let baseline = next
        .paired
        .as_ref()
        .map(|p| p.approved_scopes.clone())
        .unwrap_or_default();
    let grantable = baseline.union(&policy.ceiling);
    let grant = grantable.grantable_for(requested);
    let missing = grantable.missing(requested);

    if !missing.is_empty() && policy.mode == PolicyMode::Strict {
        let reason = classify(next.paired.as_ref(), device, role, requested)
            .unwrap_or(PairingReason::ScopeUpgrade);
        return refuse(
            attempt, device, requested, reason, next, ctx, entropy, events,
        );
    }

    let rec = next.paired.get_or_insert_with(|| PairedDevice {
        device_id: device.device_id.clone(),
        public_key: device.public_key.clone(),
        metadata: device.metadata.clone(),
        role,
        roles: Vec::new(),
        approved_scopes: ScopeSet::new(),
        tokens: Default::default(),
        created_at_ms: now,
        approved_at_ms: now,
        approved_via: ApprovedVia::Policy,
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
    let device_token = ensure_token(rec, role, &grant, now, entropy);
    resolve_covered(next, &attempt.sandbox, now, events);

    if missing.is_empty() {
        return Decision::Approved {
            role,
            scopes: grant,
            device_token,
            not_granted: ScopeSet::new(),
        };
    }
    let pending = upsert_pending(next, attempt, device, ctx, entropy, events);
    Decision::PartiallyGranted {
        role,
        granted: grant,
        device_token,
        pending: PendingSummary {
            remedy: remedy_command(&attempt.sandbox, &pending.request_id),
            request_id: pending.request_id,
            missing,
        },
    }
}

/// OpenClaw's standard path: anything beyond the approved baseline needs a human.
#[allow(clippy::too_many_arguments)]
fn decide_standard(
    attempt: &ConnectAttempt,
    device: &DeviceInfo,
    requested: &ScopeSet,
    next: &mut DeviceState,
    token_verified: bool,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
    events: &mut Vec<PairingEvent>,
) -> Decision {
    let role = attempt.role;
    if let Some(reason) = classify(next.paired.as_ref(), device, role, requested) {
        return refuse(
            attempt, device, requested, reason, next, ctx, entropy, events,
        );
    }
    let Some(rec) = next.paired.as_mut() else {
        // classify() returns NotPaired when there is no record; unreachable in practice.
        return refuse(
            attempt,
            device,
            requested,
            PairingReason::NotPaired,
            next,
            ctx,
            entropy,
            events,
        );
    };
    rec.metadata.display_name = device.metadata.display_name.clone();
    rec.metadata.client_id = device.metadata.client_id.clone();
    rec.metadata.client_mode = device.metadata.client_mode.clone();
    let device_token = if token_verified {
        None
    } else {
        ensure_token(rec, role, requested, ctx.now_ms, entropy)
    };
    Decision::Approved {
        role,
        scopes: requested.clone(),
        device_token,
        not_granted: ScopeSet::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn refuse(
    attempt: &ConnectAttempt,
    device: &DeviceInfo,
    requested: &ScopeSet,
    reason: PairingReason,
    next: &mut DeviceState,
    ctx: DecisionContext,
    entropy: &mut dyn Entropy,
    events: &mut Vec<PairingEvent>,
) -> Decision {
    let pending = upsert_pending(next, attempt, device, ctx, entropy, events);
    Decision::PairingRequired {
        reason,
        remedy: format!(
            "{} Run: {}",
            reason.remediation_hint(),
            remedy_command(&attempt.sandbox, &pending.request_id)
        ),
        request_id: Some(pending.request_id),
        details: details(next.paired.as_ref(), device, attempt.role, requested),
    }
}

//! The async façade: store + per-sandbox policies + events + clock.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sandgate_core::{Role, Scope};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::approval::{
    self, Approval, Approver, DeviceRemoved, Managed, RevokedToken, RotatedToken,
};
use crate::attempt::{ConnectAttempt, validate_scopes};
use crate::decision::{self, Decision, DecisionContext, DeviceChange};
use crate::device_ops::verify_token;
use crate::error::{PairingError, StoreError};
use crate::events::{PairingEvent, Resolution, ResolutionDecision, WaitError};
use crate::ids::{DeviceId, sandbox_name};
use crate::limits::DEFAULT_PENDING_TTL_MS;
use crate::policy::SandboxPolicy;
use crate::records::{HistoryOutcome, PairedDeviceView, PendingRequest, TokenSummary};
use crate::store::{SqliteStore, Store};
use crate::token::OsEntropy;

/// A source of "now" in milliseconds. Inject [`ManualClock`] in tests to move time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Current time in ms.
    fn now_ms(&self) -> u64;
}

/// Wall-clock time since the Unix epoch.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start_ms)))
    }
    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the time.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `device.pair.list`: pending (newest first) and paired devices (newest approval first),
/// with no token values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingList {
    /// Live pending requests, newest first.
    pub pending: Vec<PendingRequest>,
    /// Paired devices, redacted.
    pub paired: Vec<PairedDeviceView>,
}

/// Tunables of a [`PairingAuthority`].
#[derive(Debug, Clone)]
pub struct AuthorityConfig {
    /// Pending request lifetime from creation (default 5 minutes).
    pub pending_ttl: Duration,
    /// Capacity of the event channel (slow receivers lag, they never block decisions).
    pub event_capacity: usize,
    /// Policy for sandboxes without one (default: [`SandboxPolicy::default`]).
    pub default_policy: SandboxPolicy,
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        AuthorityConfig {
            pending_ttl: Duration::from_millis(DEFAULT_PENDING_TTL_MS),
            event_capacity: 1024,
            default_policy: SandboxPolicy::default(),
        }
    }
}

/// The pairing authority: decides connects, manages approvals and tokens, publishes events.
pub struct PairingAuthority<S: Store> {
    store: S,
    policies: RwLock<HashMap<String, SandboxPolicy>>,
    default_policy: SandboxPolicy,
    clock: Arc<dyn Clock>,
    ttl_ms: u64,
    events: broadcast::Sender<PairingEvent>,
}

impl<S: Store> fmt::Debug for PairingAuthority<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingAuthority")
            .field("clock", &self.clock)
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl PairingAuthority<SqliteStore> {
    /// Opens a SQLite-backed authority at `path` with the system clock and defaults.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(PairingAuthority::new(SqliteStore::open_async(path).await?))
    }
}

impl<S: Store> PairingAuthority<S> {
    /// An authority over `store` with the system clock and default configuration.
    pub fn new(store: S) -> Self {
        Self::with_config(store, Arc::new(SystemClock), AuthorityConfig::default())
    }

    /// An authority with an injected clock and configuration.
    pub fn with_config(store: S, clock: Arc<dyn Clock>, config: AuthorityConfig) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        PairingAuthority {
            store,
            policies: RwLock::new(HashMap::new()),
            default_policy: config.default_policy,
            clock,
            ttl_ms: u64::try_from(config.pending_ttl.as_millis()).unwrap_or(u64::MAX),
            events,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Sets the policy of a sandbox (takes effect at the next decision).
    pub fn set_policy(&self, sandbox: &str, policy: SandboxPolicy) {
        if let Ok(mut map) = self.policies.write() {
            map.insert(sandbox.to_owned(), policy);
        }
    }

    /// The policy in force for a sandbox.
    pub fn policy(&self, sandbox: &str) -> SandboxPolicy {
        self.policies
            .read()
            .ok()
            .and_then(|m| m.get(sandbox).cloned())
            .unwrap_or_else(|| self.default_policy.clone())
    }

    /// A receiver of every pairing event (all sandboxes; filter on [`PairingEvent::sandbox`]).
    pub fn subscribe(&self) -> broadcast::Receiver<PairingEvent> {
        self.events.subscribe()
    }

    fn ctx(&self) -> DecisionContext {
        DecisionContext {
            now_ms: self.clock.now_ms(),
            pending_ttl_ms: self.ttl_ms,
        }
    }

    fn publish(&self, events: Vec<PairingEvent>) {
        for e in events {
            tracing::debug!(event = e.name(), sandbox = e.sandbox(), "pairing event");
            // No receivers is fine.
            let _ = self.events.send(e);
        }
    }

    /// Decides a connect handshake and applies the resulting state change atomically.
    pub async fn connect(&self, attempt: &ConnectAttempt) -> Result<Decision, PairingError> {
        let connect = attempt.validate()?;
        let policy = self.policy(&connect.sandbox);
        let Some(device) = connect.device.clone() else {
            return decision::decide_deviceless(&connect, &policy);
        };
        let ctx = self.ctx();
        let sandbox = connect.sandbox.clone();
        let (decision, events) = self
            .store
            .transact(
                &sandbox,
                device.id.as_str(),
                Box::new(move |state| {
                    let out = decision::decide(&connect, state, &policy, ctx, &mut OsEntropy)?;
                    Ok(((out.decision, out.events), out.change))
                }),
            )
            .await?;
        if let Decision::PairingRequired {
            reason, request_id, ..
        } = &decision
        {
            tracing::info!(
                sandbox = %sandbox, device = %device.id, %reason,
                request_id = request_id.as_deref().unwrap_or(""),
                "security audit: device access upgrade requested"
            );
        }
        self.publish(events);
        Ok(decision)
    }

    async fn manage<T: Send + 'static>(
        &self,
        sandbox: &str,
        device_id: &str,
        op: impl FnOnce(&crate::records::DeviceState) -> Result<Managed<T>, PairingError>
        + Send
        + 'static,
    ) -> Result<T, PairingError> {
        let (value, events) = self
            .store
            .transact(
                sandbox,
                device_id,
                Box::new(move |state| {
                    let m = op(state)?;
                    let change = if m.next == *state {
                        DeviceChange::Keep
                    } else {
                        DeviceChange::Replace(Box::new(m.next))
                    };
                    Ok(((m.result, m.events), change))
                }),
            )
            .await?;
        self.publish(events);
        Ok(value)
    }

    async fn device_of_request(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<String, PairingError> {
        sandbox_name(sandbox)?;
        if request_id.is_empty() || request_id.len() > 128 {
            return Err(PairingError::UnknownRequest);
        }
        self.store
            .find_request(sandbox, request_id)
            .await?
            .ok_or(PairingError::UnknownRequest)
    }

    /// Approves a pending request; emits `device.pair.resolved` (approved).
    pub async fn approve(
        &self,
        sandbox: &str,
        request_id: &str,
        approver: &Approver,
    ) -> Result<Approval, PairingError> {
        let device_id = self.device_of_request(sandbox, request_id).await?;
        let (sb, id, who, ctx) = (
            sandbox.to_owned(),
            request_id.to_owned(),
            approver.clone(),
            self.ctx(),
        );
        self.manage(sandbox, &device_id, move |state| {
            approval::approve(state, &sb, &id, &who, ctx, &mut OsEntropy)
        })
        .await
    }

    /// Rejects a pending request; emits `device.pair.resolved` (rejected).
    pub async fn reject(
        &self,
        sandbox: &str,
        request_id: &str,
        approver: &Approver,
    ) -> Result<Resolution, PairingError> {
        let device_id = self.device_of_request(sandbox, request_id).await?;
        let (sb, id, who, ctx) = (
            sandbox.to_owned(),
            request_id.to_owned(),
            approver.clone(),
            self.ctx(),
        );
        self.manage(sandbox, &device_id, move |state| {
            approval::reject(state, &sb, &id, &who, ctx)
        })
        .await
    }

    /// Removes a device (and its pending requests). Close its sockets with 4001.
    pub async fn remove_device(
        &self,
        sandbox: &str,
        device_id: &str,
        approver: &Approver,
    ) -> Result<DeviceRemoved, PairingError> {
        sandbox_name(sandbox)?;
        DeviceId::parse(device_id).map_err(|_| PairingError::UnknownDevice)?;
        let (sb, dev, who, ctx) = (
            sandbox.to_owned(),
            device_id.to_owned(),
            approver.clone(),
            self.ctx(),
        );
        self.manage(sandbox, device_id, move |state| {
            approval::remove_device(state, &sb, &dev, &who, ctx)
        })
        .await
    }

    /// Rotates the token of (device, role); returns the new token. Close the device's sockets
    /// for that role with 4001.
    pub async fn rotate_token(
        &self,
        sandbox: &str,
        device_id: &str,
        role: Role,
        scopes: Option<Vec<Scope>>,
        approver: &Approver,
    ) -> Result<RotatedToken, PairingError> {
        sandbox_name(sandbox)?;
        DeviceId::parse(device_id).map_err(|_| PairingError::UnknownDevice)?;
        let (who, ctx) = (approver.clone(), self.ctx());
        self.manage(sandbox, device_id, move |state| {
            approval::rotate_token(state, role, scopes.as_deref(), &who, ctx, &mut OsEntropy)
        })
        .await
    }

    /// Revokes the token of (device, role). Close the device's sockets for that role with 4001.
    pub async fn revoke_token(
        &self,
        sandbox: &str,
        device_id: &str,
        role: Role,
        approver: &Approver,
    ) -> Result<RevokedToken, PairingError> {
        sandbox_name(sandbox)?;
        DeviceId::parse(device_id).map_err(|_| PairingError::UnknownDevice)?;
        let (who, ctx) = (approver.clone(), self.ctx());
        self.manage(sandbox, device_id, move |state| {
            approval::revoke_token(state, role, &who, ctx)
        })
        .await
    }

    /// `device.pair.list` for a sandbox: live pending requests (newest first) and redacted
    /// paired devices (newest approval first).
    pub async fn list(&self, sandbox: &str) -> Result<PairingList, PairingError> {
        sandbox_name(sandbox)?;
        let ctx = self.ctx();
        let states = self.store.load_sandbox(sandbox).await?;
        let mut out = PairingList::default();
        for st in states {
            out.pending.extend(
                st.pending
                    .into_iter()
                    .filter(|p| !p.is_expired(ctx.now_ms, ctx.pending_ttl_ms)),
            );
            if let Some(p) = st.paired {
                out.paired.push(p.redacted());
            }
        }
        out.pending.sort_by(|a, b| {
            b.ts.cmp(&a.ts)
                .then_with(|| a.request_id.cmp(&b.request_id))
        });
        out.paired.sort_by(|a, b| {
            b.approved_at_ms
                .cmp(&a.approved_at_ms)
                .then_with(|| a.device_id.cmp(&b.device_id))
        });
        Ok(out)
    }

    /// One paired device, redacted (or `None`).
    pub async fn device(
        &self,
        sandbox: &str,
        device_id: &str,
    ) -> Result<Option<PairedDeviceView>, PairingError> {
        sandbox_name(sandbox)?;
        DeviceId::parse(device_id)?;
        Ok(self
            .store
            .load_device(sandbox, device_id)
            .await?
            .paired
            .map(|p| p.redacted()))
    }

    /// Verifies a device token for (device, role) without changing anything (the connect path
    /// does this itself and also records `lastUsedAtMs`). `requested` scopes must be covered.
    pub async fn verify_device_token(
        &self,
        sandbox: &str,
        device_id: &str,
        role: Role,
        token: &str,
        requested: &[Scope],
    ) -> Result<TokenSummary, PairingError> {
        sandbox_name(sandbox)?;
        DeviceId::parse(device_id)?;
        let requested = validate_scopes(role, requested)?;
        let state = self.store.load_device(sandbox, device_id).await?;
        verify_token(state.paired.as_ref(), role, token, &requested)?;
        state
            .paired
            .as_ref()
            .and_then(|p| p.tokens.get(&role))
            .map(|t| t.summary())
            .ok_or(PairingError::UnknownDeviceRole { role })
    }

    /// Waits until `request_id` is approved or rejected, without polling. Errors when the
    /// request is unknown, expires (by its TTL), is superseded, or `timeout` elapses first.
    pub fn wait_for_resolution(
        &self,
        sandbox: &str,
        request_id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Resolution, WaitError>> + Send + '_ {
        let sandbox = sandbox.to_owned();
        let request_id = request_id.to_owned();
        async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                // Subscribe before looking, so nothing between the look and the wait is lost.
                let mut rx = self.events.subscribe();
                let (device_id, expires_in) =
                    match self.request_status(&sandbox, &request_id).await? {
                        RequestStatus::Pending {
                            device_id,
                            expires_in_ms,
                        } => (device_id, Duration::from_millis(expires_in_ms)),
                        RequestStatus::Done(result) => return result,
                    };
                let expiry = tokio::time::Instant::now() + expires_in;
                loop {
                    tokio::select! {
                        ev = rx.recv() => match ev {
                            Ok(PairingEvent::Resolved(r))
                                if r.sandbox == sandbox && r.request_id == request_id =>
                            {
                                return Ok(r);
                            }
                            Ok(PairingEvent::Requested(p))
                                if p.sandbox == sandbox
                                    && p.device_id == device_id
                                    && p.request_id != request_id =>
                            {
                                return Err(WaitError::Superseded { by: p.request_id });
                            }
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Err(broadcast::error::RecvError::Closed) => {
                                return Err(WaitError::Closed);
                            }
                        },
                        _ = tokio::time::sleep_until(deadline) => return Err(WaitError::Timeout),
                        _ = tokio::time::sleep_until(expiry) => return Err(WaitError::Expired),
                    }
                }
            }
        }
    }

    async fn request_status(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<RequestStatus, WaitError> {
        if sandbox_name(sandbox).is_err() {
            return Ok(RequestStatus::Done(Err(WaitError::UnknownRequest)));
        }
        let Some(device_id) = self.store.find_request(sandbox, request_id).await? else {
            return Ok(RequestStatus::Done(Err(WaitError::UnknownRequest)));
        };
        let state = self.store.load_device(sandbox, &device_id).await?;
        let ctx = self.ctx();
        if let Some(p) = state.pending.iter().find(|p| p.request_id == request_id) {
            if p.is_expired(ctx.now_ms, ctx.pending_ttl_ms) {
                return Ok(RequestStatus::Done(Err(WaitError::Expired)));
            }
            let left =
                p.ts.saturating_add(ctx.pending_ttl_ms)
                    .saturating_sub(ctx.now_ms);
            return Ok(RequestStatus::Pending {
                device_id,
                expires_in_ms: left,
            });
        }
        let result = match state.history.find(request_id) {
            Some(h) => {
                let decision = match h.outcome {
                    HistoryOutcome::Approved => ResolutionDecision::Approved,
                    HistoryOutcome::Rejected => ResolutionDecision::Rejected,
                    HistoryOutcome::Expired => {
                        return Ok(RequestStatus::Done(Err(WaitError::Expired)));
                    }
                    HistoryOutcome::Superseded => {
                        let by = h.superseded_by.clone().unwrap_or_default();
                        return Ok(RequestStatus::Done(Err(WaitError::Superseded { by })));
                    }
                };
                Ok(Resolution {
                    sandbox: sandbox.to_owned(),
                    request_id: request_id.to_owned(),
                    device_id,
                    decision,
                    ts: h.ts,
                })
            }
            None => Err(WaitError::UnknownRequest),
        };
        Ok(RequestStatus::Done(result))
    }
}

enum RequestStatus {
    Pending {
        device_id: String,
        expires_in_ms: u64,
    },
    Done(Result<Resolution, WaitError>),
}

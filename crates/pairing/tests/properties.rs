//! Property tests over random sequences of connects, approvals, rejections, rotations,
//! revocations, expiries and store reopens, on the SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use sandgate_pairing::{
    Approver, ConnectAttempt, Credential, Decision, Locality, ManualClock, PairingAuthority,
    PairingError, PairingList, Role, Scope, ScopeSet, SqliteStore,
};

const POOL: [&str; 6] = [
    "operator.read",
    "operator.write",
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
    "operator.talk.secrets",
];
const SANDBOXES: [&str; 2] = ["alpha", "beta"];

#[derive(Debug, Clone)]
enum Op {
    Connect {
        dev: u32,
        sb: usize,
        scopes: Vec<usize>,
        loopback: bool,
        cred: u8,
        node: bool,
        alt_key: bool,
        alt_platform: bool,
        deviceless: bool,
    },
    ApproveAdmin {
        pick: usize,
    },
    ApproveSession {
        pick: usize,
        scopes: Vec<usize>,
        own: bool,
    },
    Reject {
        pick: usize,
    },
    Rotate {
        dev: u32,
        sb: usize,
        scopes: Option<Vec<usize>>,
    },
    Revoke {
        dev: u32,
        sb: usize,
    },
    Remove {
        dev: u32,
        sb: usize,
    },
    Advance {
        secs: u64,
    },
    Reopen,
    Policy {
        sb: usize,
        strict: bool,
        ceiling: Vec<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let scopes = || prop::collection::vec(0..POOL.len(), 0..4);
    prop_oneof![
        8 => (0..4u32, 0..2usize, scopes(), any::<bool>(), 0..4u8, prop::bool::weighted(0.1),
              prop::bool::weighted(0.1), prop::bool::weighted(0.1), prop::bool::weighted(0.05))
            .prop_map(|(dev, sb, scopes, loopback, cred, node, alt_key, alt_platform, deviceless)| {
                Op::Connect { dev, sb, scopes, loopback, cred, node, alt_key, alt_platform, deviceless }
            }),
        3 => any::<usize>().prop_map(|pick| Op::ApproveAdmin { pick }),
        3 => (any::<usize>(), scopes(), any::<bool>())
            .prop_map(|(pick, scopes, own)| Op::ApproveSession { pick, scopes, own }),
        1 => any::<usize>().prop_map(|pick| Op::Reject { pick }),
        1 => (0..4u32, 0..2usize, prop::option::of(scopes()))
            .prop_map(|(dev, sb, scopes)| Op::Rotate { dev, sb, scopes }),
        1 => (0..4u32, 0..2usize).prop_map(|(dev, sb)| Op::Revoke { dev, sb }),
        1 => (0..4u32, 0..2usize).prop_map(|(dev, sb)| Op::Remove { dev, sb }),
        1 => prop_oneof![0..60u64, 250..400u64].prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Reopen),
        1 => (0..2usize, any::<bool>(), scopes())
            .prop_map(|(sb, strict, ceiling)| Op::Policy { sb, strict, ceiling }),
    ]
}

fn scope_list(idx: &[usize]) -> Vec<Scope> {
    idx.iter().map(|i| Scope::parse(POOL[*i])).collect()
}

fn dev_info(n: u32, alt_key: bool, alt_platform: bool) -> sandgate_pairing::DeviceInfo {
    let mut d = device(n);
    if alt_key {
        d.public_key = format!("altkey{n}ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    }
    if alt_platform {
        d.metadata.platform = Some("darwin".into());
    }
    d
}

type TokKey = (usize, u32, Role);

struct World {
    dir: tempfile::TempDir,
    clock: ManualClock,
    auth: PairingAuthority<SqliteStore>,
    policies: [sandgate_pairing::SandboxPolicy; 2],
    /// Every token ever handed out, newest last.
    known: BTreeMap<TokKey, Vec<String>>,
    /// Tokens that were rotated away, revoked or replaced: they must never authenticate again.
    dead: BTreeSet<(usize, u32, Role, String)>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let auth = sqlite(&dir.path().join("p.db"), &clock);
        World {
            dir,
            clock,
            auth,
            policies: Default::default(),
            known: BTreeMap::new(),
            dead: BTreeSet::new(),
        }
    }

    fn kill(&mut self, sb: usize, dev: u32, role: Role) {
        for t in self
            .known
            .get(&(sb, dev, role))
            .cloned()
            .unwrap_or_default()
        {
            self.dead.insert((sb, dev, role, t));
        }
    }

    fn learn(&mut self, sb: usize, dev: u32, role: Role, token: &str) {
        self.kill(sb, dev, role);
        self.known
            .entry((sb, dev, role))
            .or_default()
            .push(token.to_owned());
    }

    async fn snapshot(&self) -> Vec<PairingList> {
        let mut out = Vec::new();
        for sb in SANDBOXES {
            out.push(self.auth.list(sb).await.unwrap());
        }
        out
    }

    async fn baseline(&self, sb: usize, dev: u32, key: &str) -> ScopeSet {
        match self
            .auth
            .device(SANDBOXES[sb], &device(dev).device_id)
            .await
            .unwrap()
        {
            Some(v) if v.public_key == key => v.scopes,
            _ => ScopeSet::new(),
        }
    }

    /// Finds (sandbox index, device number, request) for the `pick`-th live pending request.
    async fn pick(&self, pick: usize) -> Option<(usize, u32, sandgate_pairing::PendingRequest)> {
        let mut all = Vec::new();
        for (i, l) in self.snapshot().await.into_iter().enumerate() {
            for p in l.pending {
                all.push((i, p));
            }
        }
        if all.is_empty() {
            return None;
        }
        let (sb, p) = all.swap_remove(pick % all.len());
        let dev = (0..4u32).find(|n| device(*n).device_id == p.device_id)?;
        Some((sb, dev, p))
    }

    async fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Connect {
                dev,
                sb,
                scopes,
                loopback,
                cred,
                node,
                alt_key,
                alt_platform,
                deviceless,
            } => {
                let info = dev_info(dev, alt_key, alt_platform);
                let role = if node { Role::Node } else { Role::Operator };
                let presented = self
                    .known
                    .get(&(sb, dev, role))
                    .and_then(|v| v.last())
                    .cloned();
                let credential = match (cred, &presented) {
                    (0, _) => Credential::SandboxToken,
                    (1, Some(t)) => Credential::DeviceToken(t.clone()),
                    (3, _) => Credential::DeviceToken(
                        "bogusAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                    ),
                    _ => Credential::None,
                };
                let locality = if loopback {
                    Locality::Loopback
                } else {
                    Locality::Remote
                };
                let eligible = loopback && matches!(credential, Credential::SandboxToken);
                let attempt = ConnectAttempt {
                    sandbox: SANDBOXES[sb].into(),
                    device: (!deviceless).then(|| info.clone()),
                    role,
                    scopes: if node {
                        Vec::new()
                    } else {
                        scope_list(&scopes)
                    },
                    locality,
                    credential: credential.clone(),
                };
                let before = self.baseline(sb, dev, &info.public_key).await;
                let snap = self.snapshot().await;
                let ceiling = self.policies[sb].ceiling.clone();
                match self.auth.connect(&attempt).await {
                    Ok(d) => {
                        if let Credential::DeviceToken(t) = &credential {
                            prop_assert!(
                                !self.dead.contains(&(sb, dev, role, t.clone())),
                                "a dead token authenticated"
                            );
                        }
                        if let Some(granted) = d.granted_scopes() {
                            let allowed = if eligible {
                                before.union(&ceiling)
                            } else {
                                before.clone()
                            };
                            prop_assert!(
                                allowed.allows(granted),
                                "granted {granted} beyond {allowed}"
                            );
                            if !deviceless {
                                let after = self.baseline(sb, dev, &info.public_key).await;
                                prop_assert!(
                                    after.allows(granted),
                                    "granted {granted} not in record {after}"
                                );
                            }
                        }
                        if let Some(t) = d.device_token() {
                            self.learn(sb, dev, t.role, t.token());
                        }
                        if matches!(d, Decision::PartiallyGranted { .. }) {
                            prop_assert!(eligible);
                        }
                    }
                    Err(e) => {
                        prop_assert!(
                            matches!(
                                e,
                                PairingError::DeviceTokenMismatch(_)
                                    | PairingError::ScopeMismatch
                                    | PairingError::DeviceIdentityRequired
                            ),
                            "unexpected {e:?}"
                        );
                        prop_assert_eq!(
                            self.snapshot().await,
                            snap,
                            "failed connect changed state"
                        );
                    }
                }
            }
            Op::ApproveAdmin { pick } => {
                if let Some((sb, dev, p)) = self.pick(pick).await {
                    let r = self
                        .auth
                        .approve(SANDBOXES[sb], &p.request_id, &Approver::HostAdmin)
                        .await;
                    prop_assert!(r.is_ok(), "admin could not approve a live request: {r:?}");
                    for role in p.all_roles() {
                        self.kill(sb, dev, role);
                    }
                }
            }
            Op::ApproveSession { pick, scopes, own } => {
                if let Some((sb, dev, p)) = self.pick(pick).await {
                    let held: ScopeSet = scope_list(&scopes).into_iter().collect();
                    let who = Approver::Session {
                        scopes: held.clone(),
                        device_id: own.then(|| device(dev).device_id),
                    };
                    let before = self.baseline(sb, dev, &p.public_key).await;
                    let snap = self.snapshot().await;
                    match self.auth.approve(SANDBOXES[sb], &p.request_id, &who).await {
                        Ok(a) => {
                            let added: ScopeSet = a
                                .device
                                .scopes
                                .iter()
                                .filter(|s| !before.satisfies(s))
                                .collect();
                            prop_assert!(held.allows(&added), "session {held} granted {added}");
                            prop_assert!(held.satisfies(&Scope::Pairing));
                            for role in p.all_roles() {
                                self.kill(sb, dev, role);
                            }
                        }
                        Err(_) => prop_assert_eq!(self.snapshot().await, snap),
                    }
                }
            }
            Op::Reject { pick } => {
                if let Some((sb, _, p)) = self.pick(pick).await {
                    self.auth
                        .reject(SANDBOXES[sb], &p.request_id, &Approver::HostAdmin)
                        .await
                        .unwrap();
                    let again = self
                        .auth
                        .approve(SANDBOXES[sb], &p.request_id, &Approver::HostAdmin)
                        .await;
                    prop_assert_eq!(again.unwrap_err(), PairingError::AlreadyRejected);
                }
            }
            Op::Rotate { dev, sb, scopes } => {
                let id = device(dev).device_id;
                let r = self
                    .auth
                    .rotate_token(
                        SANDBOXES[sb],
                        &id,
                        Role::Operator,
                        scopes.map(|s| scope_list(&s)),
                        &Approver::HostAdmin,
                    )
                    .await;
                if let Ok(r) = r {
                    let base = self
                        .auth
                        .device(SANDBOXES[sb], &id)
                        .await
                        .unwrap()
                        .unwrap()
                        .scopes;
                    prop_assert!(base.allows(&r.token.scopes));
                    self.learn(sb, dev, Role::Operator, r.token.token());
                }
            }
            Op::Revoke { dev, sb } => {
                let id = device(dev).device_id;
                if self
                    .auth
                    .revoke_token(SANDBOXES[sb], &id, Role::Operator, &Approver::HostAdmin)
                    .await
                    .is_ok()
                {
                    self.kill(sb, dev, Role::Operator);
                }
            }
            Op::Remove { dev, sb } => {
                let id = device(dev).device_id;
                if self
                    .auth
                    .remove_device(SANDBOXES[sb], &id, &Approver::HostAdmin)
                    .await
                    .is_ok()
                {
                    self.kill(sb, dev, Role::Operator);
                    self.kill(sb, dev, Role::Node);
                    prop_assert!(
                        self.auth
                            .device(SANDBOXES[sb], &id)
                            .await
                            .unwrap()
                            .is_none()
                    );
                }
            }
            Op::Advance { secs } => self.clock.advance(Duration::from_secs(secs)),
            Op::Reopen => {
                let before = self.snapshot().await;
                let auth = sqlite(&self.dir.path().join("p.db"), &self.clock);
                for (i, sb) in SANDBOXES.iter().enumerate() {
                    auth.set_policy(sb, self.policies[i].clone());
                }
                self.auth = auth;
                prop_assert_eq!(self.snapshot().await, before, "state lost across reopen");
            }
            Op::Policy {
                sb,
                strict,
                ceiling,
            } => {
                let mut p = sandgate_pairing::SandboxPolicy::with_ceiling(
                    scope_list(&ceiling).into_iter().collect(),
                );
                if strict {
                    p = p.strict();
                }
                self.auth.set_policy(SANDBOXES[sb], p.clone());
                self.policies[sb] = p;
            }
        }
        self.check_invariants().await
    }

    async fn check_invariants(&self) -> Result<(), TestCaseError> {
        for l in self.snapshot().await {
            let devs: BTreeSet<_> = l.pending.iter().map(|p| &p.device_id).collect();
            prop_assert_eq!(
                devs.len(),
                l.pending.len(),
                "more than one live pending per device"
            );
            for p in &l.paired {
                for t in &p.tokens {
                    prop_assert!(p.scopes.allows(&t.scopes), "token beyond baseline");
                }
            }
        }
        for (sb, dev, role, t) in &self.dead {
            let r = self
                .auth
                .verify_device_token(SANDBOXES[*sb], &device(*dev).device_id, *role, t, &[])
                .await;
            prop_assert!(r.is_err(), "dead token still verifies");
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn pairing_invariants_hold(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut w = World::new();
            for op in ops {
                w.step(op).await?;
            }
            // Every live pending request can be resolved by the host admin, after a restart too.
            w.step(Op::Reopen).await?;
            for (i, l) in w.snapshot().await.into_iter().enumerate() {
                for p in l.pending {
                    let r = w.auth.approve(SANDBOXES[i], &p.request_id, &Approver::HostAdmin).await;
                    prop_assert!(r.is_ok(), "admin could not resolve {}: {r:?}", p.request_id);
                }
                prop_assert!(w.auth.list(SANDBOXES[i]).await.unwrap().pending.is_empty());
            }
            w.check_invariants().await
        })?;
    }
}

//! A sandbox at run time: its token, scope policy, inference route and live connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sandgate_core::{CloseCode, Role};
use sandgate_pairing::SandboxPolicy;
use sandgate_providers::Route;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;

use crate::egress::{Egress, EgressPolicy, Host, Target};
use crate::shared::Shared;

/// A request to close one live connection (revocation, rotation, removal, shutdown).
#[derive(Debug, Clone)]
pub struct CloseRequest {
    /// Close code (4001 for device removal, 1012 for shutdown).
    pub code: CloseCode,
    /// Close reason.
    pub reason: String,
}

/// A live WebSocket session, as the sandbox tracks it.
#[derive(Debug)]
struct LiveConn {
    device_id: Option<String>,
    role: Role,
    close: mpsc::UnboundedSender<CloseRequest>,
}

/// Everything one sandbox's listener needs. Shared by all its connections.
pub struct SandboxCtx {
    /// Sandbox name.
    pub name: String,
    token: String,
    route: RwLock<Route>,
    /// Scope policy applied at the handshake.
    pub policy: SandboxPolicy,
    /// Process-wide services (pairing authority, inference client, registry, clock).
    pub shared: Arc<Shared>,
    /// Egress policy and refusals of this sandbox's proxy.
    pub egress: Egress,
    conns: Mutex<HashMap<u64, LiveConn>>,
    next_conn: AtomicU64,
}

impl std::fmt::Debug for SandboxCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCtx")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SandboxCtx {
    /// A context for sandbox `name`.
    pub fn new(
        name: String,
        token: String,
        route: Route,
        policy: SandboxPolicy,
        egress: EgressPolicy,
        shared: Arc<Shared>,
    ) -> Self {
        SandboxCtx {
            name,
            token,
            route: RwLock::new(route),
            policy,
            shared,
            egress: Egress::new(egress),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        }
    }

    /// Constant-time comparison of a presented token with this sandbox's token.
    pub fn token_matches(&self, presented: &str) -> bool {
        let a = presented.as_bytes();
        let b = self.token.as_bytes();
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// The current route (cloned: a route swap takes effect on the next request).
    pub fn route(&self) -> Route {
        match self.route.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the route (takes effect on the next request of this sandbox only).
    pub fn set_route(&self, route: Route) {
        match self.route.write() {
            Ok(mut r) => *r = route,
            Err(poisoned) => *poisoned.into_inner() = route,
        }
    }

    /// The route's endpoint as a target, when it is local (a loopback or private address, or
    /// `localhost`): what the `local-inference` preset opens.
    pub fn local_endpoint(&self) -> Option<Target> {
        let uri: http::Uri = self.route().endpoint.parse().ok()?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let target = Target {
            host: Host::parse(uri.host()?).ok()?,
            port,
        };
        let local = match &target.host {
            Host::Ip(ip) => crate::egress::addr::internal(*ip).is_some(),
            Host::Name(n) => {
                n == "localhost"
                    || n.ends_with(".localhost")
                    || n.ends_with(".local")
                    || n.ends_with(".internal")
            }
        };
        local.then_some(target)
    }

    /// Registers a live connection; returns its id and the receiver of close requests.
    pub fn register(
        &self,
        device_id: Option<String>,
        role: Role,
    ) -> (u64, mpsc::UnboundedReceiver<CloseRequest>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut conns) = self.conns.lock() {
            self.shared.metrics.sessions(&self.name).inc();
            conns.insert(
                id,
                LiveConn {
                    device_id,
                    role,
                    close: tx,
                },
            );
        }
        (id, rx)
    }

    /// Forgets a connection.
    pub fn unregister(&self, id: u64) {
        let removed = self.conns.lock().ok().and_then(|mut c| c.remove(&id));
        if removed.is_some() {
            self.shared.metrics.sessions(&self.name).dec();
        }
    }

    /// Asks every connection of `device_id` (optionally only `role`) to close with `code`.
    pub fn close_device(
        &self,
        device_id: &str,
        role: Option<Role>,
        code: CloseCode,
        reason: &str,
    ) -> usize {
        let Ok(conns) = self.conns.lock() else {
            return 0;
        };
        let mut n = 0;
        for conn in conns.values() {
            if conn.device_id.as_deref() == Some(device_id) && role.is_none_or(|r| r == conn.role) {
                let _ = conn.close.send(CloseRequest {
                    code,
                    reason: reason.to_owned(),
                });
                n += 1;
            }
        }
        n
    }

    /// Asks every connection to close (gateway shutdown or sandbox destroyed).
    pub fn close_all(&self, code: CloseCode, reason: &str) {
        if let Ok(conns) = self.conns.lock() {
            for conn in conns.values() {
                let _ = conn.close.send(CloseRequest {
                    code,
                    reason: reason.to_owned(),
                });
            }
        }
    }

    /// Number of live WebSocket sessions.
    pub fn live_connections(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }
}

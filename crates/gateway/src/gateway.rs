//! The gateway of one host: every sandbox's listener, the CA, the state database, the pairing
//! authority. The `sandgated` daemon owns exactly one [`Gateway`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use sandgate_core::CloseCode;
use sandgate_core::codes::close_reasons;
use sandgate_pairing::{PairingAuthority, SqliteStore, TokenSecret};
use sandgate_providers::{Credential, InferenceClient, InferenceService, Route};
use tokio::sync::{Mutex, watch};

use crate::ca::GatewayCa;
use crate::egress::{EgressPolicy, Resolver};
use crate::limits::ConnCap;
use crate::listener::{self, PortApp, ServeHandle};
use crate::metrics::Metrics;
use crate::proxy::{ConnectProxy, EgressCtx};
use crate::registry::{Registry, SandboxRecord};
use crate::sandbox::SandboxCtx;
use crate::shared::Shared;
mod attach;
mod cli_device;
mod devices;
mod egress_ops;
mod recover;

pub use crate::spec::{GatewayError, GatewayOptions, RouteSpec, SandboxInfo, SandboxSpec};
use crate::{inference, ws};
pub use devices::{DeviceApproved, DeviceRejected, DeviceRevoked};

struct Running {
    ctx: Arc<SandboxCtx>,
    record: SandboxRecord,
    /// What the sandbox's ports serve (the host port and the one inside its sandbox).
    app: PortApp,
    /// The host-side listener.
    handle: ServeHandle,
    /// The listener bound inside the sandbox's network namespace, while one is attached.
    inside: Option<ServeHandle>,
}

impl Running {
    async fn stop(self) {
        self.handle.shutdown().await;
        if let Some(inside) = self.inside {
            inside.shutdown().await;
        }
    }
}

/// The running gateway.
pub struct Gateway {
    opts: GatewayOptions,
    resolver: Arc<Resolver>,
    shared: Arc<Shared>,
    ca: Arc<GatewayCa>,
    service: InferenceService,
    stop: watch::Sender<bool>,
    sandboxes: Mutex<BTreeMap<String, Running>>,
    /// Connections of every sandbox port together ([`crate::Limits::max_connections_total`]).
    conn_total: ConnCap,
    started_at_ms: u64,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("state_dir", &self.opts.state_dir)
            .finish_non_exhaustive()
    }
}

/// True for a valid sandbox name ([`sandgate_core::SandboxName`]'s rule).
pub fn valid_name(name: &str) -> bool {
    sandgate_core::SandboxName::parse(name).is_ok()
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> GatewayError {
    let what = what.into();
    move |source| GatewayError::Io { what, source }
}

/// The stored egress policy. Entries that no longer parse are dropped with a warning, so an
/// old record never keeps a sandbox from starting (and never opens more than it names).
fn egress_of(rec: &SandboxRecord) -> EgressPolicy {
    EgressPolicy {
        presets: parsed_or_warned(&rec.name, &rec.network_policies),
        hosts: parsed_or_warned(&rec.name, &rec.egress_hosts),
    }
}

fn parsed_or_warned<T: std::str::FromStr + Ord>(
    sandbox: &str,
    raw: &[String],
) -> std::collections::BTreeSet<T>
where
    T::Err: std::fmt::Display,
{
    raw.iter()
        .filter_map(|r| match r.parse() {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(sandbox = %sandbox, entry = %r, error = %e, "stored egress rule ignored");
                None
            }
        })
        .collect()
}

/// The stored route with the gateway's upstream timeouts.
fn route_of(rec: &SandboxRecord, opts: &GatewayOptions) -> Route {
    stored_route(rec)
        .with_timeout(opts.upstream_timeout)
        .with_idle_timeout(opts.upstream_idle_timeout)
}

fn stored_route(rec: &SandboxRecord) -> Route {
    let mut route = Route::new(rec.provider, rec.model.clone()).with_endpoint(rec.endpoint.clone());
    if let Some(c) = &rec.credential {
        route = route.with_credential(Credential::new(c.clone()));
    }
    route
}

impl Gateway {
    /// Opens the state directory (database, CA) and starts a listener for every stored sandbox.
    pub async fn open(opts: GatewayOptions) -> Result<Gateway, GatewayError> {
        let dir = &opts.state_dir;
        for sub in ["", "tls", "sandboxes", "logs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(io(format!("create {}", dir.join(sub).display())))?;
        }
        let ca = Arc::new(GatewayCa::load_or_create(&dir.join("tls"))?);
        let db = dir.join("sandgate.db");
        let registry = Registry::open(&db)?;
        let store = SqliteStore::open_async(&db).await?;
        let pairing =
            PairingAuthority::with_config(store, opts.clock.clone(), opts.pairing.clone());
        let inference = InferenceClient::new()?;
        let (stop, stopping) = watch::channel(false);
        let shared = Arc::new(Shared {
            pairing,
            inference: inference.clone(),
            gateway_id: registry.gateway_id().await?,
            registry,
            started: Instant::now(),
            stopping,
            handshake_timeout: opts.handshake_timeout,
            clock: opts.clock.clone(),
            metrics: Arc::new(Metrics::new()?),
        });
        if opts.resolver.has_overrides() {
            tracing::warn!(
                "TEST EQUIPMENT: the egress resolver has overrides ({}); never use this in production",
                crate::egress::resolve::OVERRIDE_ENV
            );
        }
        let started_at_ms = shared.now_ms();
        let conn_total = ConnCap::new(opts.limits.max_connections_total);
        let gw = Gateway {
            resolver: Arc::new(opts.resolver.clone()),
            opts,
            shared,
            ca,
            service: InferenceService::new(inference),
            stop,
            sandboxes: Mutex::new(BTreeMap::new()),
            conn_total,
            started_at_ms,
        };
        let stored = gw.shared.registry.sandboxes().await?;
        for rec in stored.iter().cloned() {
            let tcp = gw.bind(rec.port).await?;
            let running = gw.start(rec, tcp)?;
            gw.sandboxes
                .lock()
                .await
                .insert(running.record.name.clone(), running);
        }
        // A crash may have interrupted a create or a destroy: finish it before serving.
        gw.recover(&stored).await?;
        Ok(gw)
    }

    async fn bind(&self, port: u16) -> Result<tokio::net::TcpListener, GatewayError> {
        tokio::net::TcpListener::bind(SocketAddr::new(self.opts.bind, port))
            .await
            .map_err(|e| GatewayError::PortInUse {
                port,
                why: e.to_string(),
            })
    }

    fn start(
        &self,
        rec: SandboxRecord,
        tcp: tokio::net::TcpListener,
    ) -> Result<Running, GatewayError> {
        let policy = rec.policy.clone();
        self.shared.pairing.set_policy(&rec.name, policy.clone());
        let ctx = Arc::new(SandboxCtx::new(
            rec.name.clone(),
            rec.token.clone(),
            route_of(&rec, &self.opts),
            policy,
            egress_of(&rec),
            self.shared.clone(),
        ));
        let router = Router::new()
            .route("/", get(ws::upgrade))
            .with_state(ctx.clone())
            .merge(inference::direct_router(ctx.clone(), self.service.clone()));
        let proxy = ConnectProxy::new(
            rec.name.clone(),
            self.ca.server_config(),
            inference::tunnel_router(ctx.clone(), self.service.clone()),
        )
        .with_egress(EgressCtx {
            sandbox: ctx.clone(),
            resolver: self.resolver.clone(),
            timeouts: self.opts.tunnel,
        });
        let (stop, _) = watch::channel(false);
        let app = PortApp {
            router,
            proxy: Arc::new(proxy),
        };
        let handle = listener::spawn_counted(
            tcp,
            app.clone(),
            stop,
            self.opts.limits.clone(),
            self.port_cap(&rec.name),
        )
        .map_err(io("start listener"))?;
        tracing::info!(sandbox = %rec.name, addr = %handle.local_addr(), provider = %rec.provider, model = %rec.model, "sandbox listener started");
        Ok(Running {
            ctx,
            record: rec,
            app,
            handle,
            inside: None,
        })
    }

    /// Sandbox `name`'s connection cap: its own limit, within the gateway's total, counted
    /// on its metric.
    fn port_cap(&self, name: &str) -> ConnCap {
        ConnCap::new(self.opts.limits.max_connections_per_sandbox)
            .within(&self.conn_total)
            .with_gauge(Some(self.shared.metrics.connections(name)))
    }

    fn info(&self, running: &Running) -> SandboxInfo {
        let rec = &running.record;
        SandboxInfo {
            name: rec.name.clone(),
            port: rec.port,
            provider: rec.provider,
            model: rec.model.clone(),
            endpoint: rec.endpoint.clone(),
            url: format!("ws://{}", SocketAddr::new(self.opts.bind, rec.port)),
            created_at_ms: rec.created_at_ms,
            egress: running.ctx.egress.policy(),
            egress_denied: running.ctx.egress.denied_count(),
            sandboxed_listener: running.inside.is_some(),
            device_dir: self.device_dir(&rec.name),
            token: rec.token.clone(),
        }
    }

    /// `<state>/sandboxes/<name>`: the sandbox CLI's identity, token and OpenClaw state.
    pub fn device_dir(&self, name: &str) -> PathBuf {
        self.opts.state_dir.join("sandboxes").join(name)
    }

    /// Runs `f` on `<state>/sandboxes/<name>` while sandbox `name` exists, under the lock of
    /// creates and destroys. The gateway alone creates and removes that directory; an
    /// embedder writes its own files there through this, so a write racing a destroy fails
    /// with [`GatewayError::UnknownSandbox`] instead of leaving a directory behind.
    pub async fn with_sandbox_dir<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Path) -> T,
    ) -> Result<T, GatewayError> {
        let sandboxes = self.sandboxes.lock().await;
        if !sandboxes.contains_key(name) {
            return Err(GatewayError::UnknownSandbox(name.into()));
        }
        Ok(f(&self.device_dir(name)))
    }

    /// Creates a sandbox: token, policy, route, listener, and a pre-approved device identity
    /// for the sandbox's own CLI. Nothing is left behind when a step fails.
    pub async fn create_sandbox(&self, spec: SandboxSpec) -> Result<SandboxInfo, GatewayError> {
        if !valid_name(&spec.name) {
            return Err(GatewayError::InvalidName(spec.name));
        }
        let mut sandboxes = self.sandboxes.lock().await;
        if sandboxes.contains_key(&spec.name) {
            return Err(GatewayError::NameTaken(spec.name));
        }
        if let Some(other) = sandboxes
            .values()
            .find(|r| spec.port != 0 && r.record.port == spec.port)
        {
            return Err(GatewayError::PortInUse {
                port: spec.port,
                why: format!("recorded for sandbox {}", other.record.name),
            });
        }
        let tcp = self.bind(spec.port).await?;
        // Port 0 asks the OS for a free port (tests, embedders); the bound port is recorded.
        let port = tcp.local_addr().map_err(io("read bound address"))?.port();
        let kind = spec.route.provider;
        let rec = SandboxRecord {
            name: spec.name.clone(),
            port,
            token: TokenSecret::generate().expose().to_owned(),
            provider: kind,
            model: spec.route.model.clone(),
            endpoint: spec
                .route
                .endpoint
                .clone()
                .unwrap_or_else(|| kind.profile().default_endpoint.to_owned()),
            credential: spec.route.credential.clone(),
            credential_env: spec.route.credential_env.clone(),
            network_policies: spec.egress.preset_names(),
            egress_hosts: spec.egress.host_strings(),
            policy: self.opts.pairing.default_policy.clone(),
            created_at_ms: self.shared.now_ms(),
        };
        self.shared.registry.insert(rec.clone()).await?;
        let running = match self.start(rec.clone(), tcp) {
            Ok(r) => r,
            Err(e) => {
                let _ = self.shared.registry.delete(&rec.name).await;
                return Err(e);
            }
        };
        if let Err(e) = self.preapprove_cli_device(&rec).await {
            running.handle.shutdown().await;
            let _ = self.shared.registry.delete(&rec.name).await;
            let _ = std::fs::remove_dir_all(self.device_dir(&rec.name));
            return Err(e);
        }
        let info = self.info(&running);
        sandboxes.insert(rec.name.clone(), running);
        tracing::info!(sandbox = %rec.name, port = rec.port, "sandbox created");
        Ok(info)
    }

    /// Removes one sandbox: closes its sessions, stops its listener, deletes its records.
    /// The gateway and every other sandbox are untouched.
    pub async fn destroy_sandbox(&self, name: &str) -> Result<(), GatewayError> {
        let running = self
            .sandboxes
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))?;
        running
            .ctx
            .close_all(CloseCode::AuthChanged, close_reasons::SANDBOX_DESTROYED);
        running.stop().await;
        // The registry row is the commit point; if a crash stops us after it, `recover`
        // finishes the purge and the removal at the next open.
        self.shared.registry.delete(name).await?;
        self.purge_pairing(name).await;
        let dir = self.device_dir(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(format!("remove {}", dir.display())))?;
        }
        self.shared.metrics.forget(name);
        tracing::info!(sandbox = %name, "sandbox destroyed");
        Ok(())
    }

    /// Every sandbox.
    pub async fn sandboxes(&self) -> Vec<SandboxInfo> {
        self.sandboxes
            .lock()
            .await
            .values()
            .map(|r| self.info(r))
            .collect()
    }

    /// One sandbox.
    pub async fn sandbox(&self, name: &str) -> Option<SandboxInfo> {
        self.sandboxes.lock().await.get(name).map(|r| self.info(r))
    }

    /// Swaps one sandbox's route; its next request uses it, no other sandbox is touched.
    pub async fn set_route(
        &self,
        name: &str,
        spec: RouteSpec,
    ) -> Result<SandboxInfo, GatewayError> {
        self.update_record(
            name,
            |rec| {
                rec.provider = spec.provider;
                rec.model = spec.model;
                rec.endpoint = spec
                    .endpoint
                    .unwrap_or_else(|| spec.provider.profile().default_endpoint.to_owned());
                if spec.credential.is_some() {
                    rec.credential = spec.credential;
                    rec.credential_env = spec.credential_env;
                }
                Ok(route_of(rec, &self.opts))
            },
            |ctx, route| ctx.set_route(route),
        )
        .await
    }

    /// Changes one sandbox's stored record and then its live state, under the sandboxes lock:
    /// `prepare` edits the record and validates (nothing is stored if it fails), the record is
    /// persisted, then `apply` hands what `prepare` produced to the running sandbox.
    async fn update_record<T>(
        &self,
        name: &str,
        prepare: impl FnOnce(&mut SandboxRecord) -> Result<T, GatewayError>,
        apply: impl FnOnce(&SandboxCtx, T),
    ) -> Result<SandboxInfo, GatewayError> {
        let mut sandboxes = self.sandboxes.lock().await;
        let running = sandboxes
            .get_mut(name)
            .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))?;
        let mut rec = running.record.clone();
        let prepared = prepare(&mut rec)?;
        self.shared.registry.update(rec.clone()).await?;
        apply(&running.ctx, prepared);
        running.record = rec;
        Ok(self.info(running))
    }

    /// Probes a sandbox's route by listing models (bounded to 5 s).
    pub async fn inference_health(&self, name: &str) -> Result<(), GatewayError> {
        let route = {
            let sandboxes = self.sandboxes.lock().await;
            sandboxes
                .get(name)
                .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))?
                .ctx
                .route()
        };
        let route = route.with_timeout(Duration::from_secs(5));
        self.shared.inference.models(&route).await?;
        Ok(())
    }

    async fn ctx(&self, name: &str) -> Result<Arc<SandboxCtx>, GatewayError> {
        self.sandboxes
            .lock()
            .await
            .get(name)
            .map(|r| r.ctx.clone())
            .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))
    }

    /// Pairing events (`device.pair.requested` / `device.pair.resolved`) of every sandbox, for
    /// embedders and tests that react to them instead of polling.
    pub fn pairing_events(
        &self,
    ) -> tokio::sync::broadcast::Receiver<sandgate_pairing::PairingEvent> {
        self.shared.pairing.subscribe()
    }

    /// The gateway's metrics (serve them with [`crate::metrics::router`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// A sandbox's inference usage since the gateway started.
    pub async fn usage(&self, name: &str) -> Result<crate::metrics::SandboxUsage, GatewayError> {
        self.ctx(name).await?;
        Ok(self.shared.metrics.usage(name))
    }

    /// The persistent gateway id.
    pub fn id(&self) -> &str {
        &self.shared.gateway_id
    }

    /// When this process opened the gateway.
    pub fn started_at_ms(&self) -> u64 {
        self.started_at_ms
    }

    /// The CA fingerprint (`sha256:<hex>`).
    pub fn ca_fingerprint(&self) -> String {
        self.ca.fingerprint().to_owned()
    }

    /// The CA bundle sandboxes trust (`SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`).
    pub fn ca_bundle_path(&self) -> PathBuf {
        self.ca.ca_cert_path().to_path_buf()
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.opts.state_dir
    }

    /// Stops every listener: sessions get a `shutdown` event and close 1012, in-flight HTTP
    /// exchanges finish (bounded), then the state is left consistent on disk.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let running: Vec<Running> = std::mem::take(&mut *self.sandboxes.lock().await)
            .into_values()
            .collect();
        for r in running {
            r.stop().await;
        }
        tracing::info!("gateway stopped");
    }
}

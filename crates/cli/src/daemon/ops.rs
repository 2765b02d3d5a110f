//! Admin requests carried out on the gateway library. The only module of the daemon that
//! calls `sandgate_gateway::Gateway`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use sandgate_gateway::egress::{EgressPolicy, Preset, Resolver, resolve};
use sandgate_gateway::{
    Gateway, GatewayError, GatewayOptions, RouteSpec, SandboxInfo, SandboxSpec,
};
use tokio::sync::Mutex;

use crate::admin::proto::{Health, InferenceHealth, Request, Route, SandboxView, StatusReply};
use crate::admin::reply::{Attached, Destroyed, Detached, Reply};
use crate::args::Isolation;
use crate::env;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;
use crate::{ports, validate};

mod attach;
mod policy;

/// How long one inference probe may take in `status`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(8);

/// The daemon's state: the gateway and what the admin socket reports about it.
#[derive(Debug)]
pub struct Daemon {
    gw: Gateway,
    state: StateDir,
    health: Health,
    /// Serialises sandbox creation (port allocation + bind).
    create: Mutex<()>,
}

fn gateway_error(what: &str, e: &GatewayError, state: &StateDir) -> CliError {
    let kind = match e {
        GatewayError::InvalidName(_) => ErrorKind::InvalidName,
        GatewayError::NameTaken(_) => ErrorKind::NameTaken,
        GatewayError::UnknownSandbox(_) => ErrorKind::UnknownSandbox,
        GatewayError::PortInUse { .. } => ErrorKind::PortInUse,
        GatewayError::Inference(_) => ErrorKind::UpstreamError,
        GatewayError::Pairing(_) | GatewayError::PairingStore(_) => ErrorKind::PairingError,
        _ => ErrorKind::GatewayError,
    };
    CliError::new(
        kind,
        format!("{what}: {e}"),
        format!("see {} for details", state.log_file().display()),
    )
}

impl Daemon {
    /// Opens the gateway (store, CA, one listener per stored sandbox).
    pub async fn open(state: StateDir, mut health: Health) -> CliResult<Daemon> {
        let mut opts = GatewayOptions::new(state.root());
        opts.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
        opts.resolver = test_resolver()?;
        // Read after `rlimit::raise_nofile`: the cap follows the limit actually in force.
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        opts.limits = opts.limits.within_fd_budget(nofile);
        tracing::info!(
            nofile = ?nofile,
            per_sandbox_cap = opts.limits.max_connections_per_sandbox,
            total_cap = opts.limits.max_connections_total,
            "connection caps (per sandbox port, all ports together)"
        );
        let gw = Gateway::open(opts)
            .await
            .map_err(|e| gateway_error("cannot open the gateway", &e, &state))?;
        health.id = gw.id().to_string();
        health.ca_fingerprint = gw.ca_fingerprint();
        health.ca_bundle = gw.ca_bundle_path();
        let d = Daemon {
            gw,
            state,
            health,
            create: Mutex::new(()),
        };
        match env::write_combined_ca_bundle(&d.state, &d.gw.ca_bundle_path()) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "no system trust roots found: the sandbox CA bundle holds the gateway CA only"
            ),
            Err(e) => tracing::warn!(error = %e.message, "cannot write the combined CA bundle"),
        }
        d.reattach_running().await;
        for info in d.gw.sandboxes().await {
            let view = d.view(&info);
            if let Err(e) = d.write_files(&view, Some(&info.token), false).await {
                tracing::warn!(sandbox = %info.name, error = %e, "cannot refresh sandbox files");
            }
        }
        Ok(d)
    }

    /// The health answer.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The gateway's metrics (the daemon serves them on its host-only listener).
    pub fn metrics(&self) -> std::sync::Arc<sandgate_gateway::metrics::Metrics> {
        self.gw.metrics()
    }

    /// Stops listeners and lets in-flight turns finish.
    pub async fn shutdown(self) {
        self.gw.shutdown().await;
    }

    fn view(&self, info: &SandboxInfo) -> SandboxView {
        let old = env::read_record(&self.state, &info.name);
        SandboxView {
            name: info.name.clone(),
            port: info.port,
            provider: info.provider,
            model: info.model.clone(),
            endpoint: info.endpoint.clone(),
            url: info.url.clone(),
            created_at_ms: info.created_at_ms,
            policies: info.egress.presets.iter().copied().collect(),
            egress_hosts: info.egress.hosts.iter().cloned().collect(),
            egress_denied: info.egress_denied,
            isolation: old.as_ref().and_then(|o| o.isolation),
            sandbox_running: info.sandboxed_listener,
            device_dir: info.device_dir.clone(),
            ca_bundle: self.gw.ca_bundle_path(),
            verified: old.as_ref().is_some_and(|o| o.verified),
            verify_error: old.and_then(|o| o.verify_error),
            inference: None,
            usage: None,
        }
    }

    async fn existing(&self, name: &str) -> CliResult<SandboxInfo> {
        self.gw
            .sandbox(name)
            .await
            .ok_or_else(|| env::unknown_sandbox(&self.state, name))
    }

    fn route_spec(route: &Route) -> RouteSpec {
        RouteSpec {
            provider: route.provider,
            model: route.model.clone(),
            endpoint: route.endpoint.clone(),
            credential: route.credential.as_ref().map(|s| s.expose().to_string()),
            credential_env: route.credential_env.clone(),
        }
    }

    /// Runs `f` on the sandbox's directory, which the gateway owns (creates and removes).
    async fn in_sandbox_dir(
        &self,
        name: &str,
        f: impl FnOnce(&std::path::Path) -> CliResult<()>,
    ) -> CliResult<()> {
        self.gw
            .with_sandbox_dir(name, f)
            .await
            .map_err(|e| gateway_error("cannot write the sandbox's files", &e, &self.state))?
    }

    /// A sandbox's `sandbox.json`; with `token`, its token and env file too; with
    /// `openclaw`, OpenClaw's configuration of its route.
    async fn write_files(
        &self,
        view: &SandboxView,
        token: Option<&str>,
        openclaw: bool,
    ) -> CliResult<()> {
        self.in_sandbox_dir(&view.name, |dir| {
            match token {
                Some(token) => env::write_sandbox_files(dir, &self.state, view, token)?,
                None => env::write_record(dir, view)?,
            }
            if openclaw {
                crate::openclaw_config::write_for_sandbox(
                    &dir.join(crate::paths::OPENCLAW_DIR),
                    &view.name,
                    view.provider,
                    &view.model,
                );
            }
            Ok(())
        })
        .await
    }

    /// Carries out one request.
    pub async fn handle(&self, req: Request) -> CliResult<Reply> {
        match req {
            Request::Health => Ok(self.health.clone().into()),
            Request::Status { probe } => self.status(probe).await,
            Request::CreateSandbox {
                name,
                route,
                port,
                policies,
                isolation,
            } => self.create(name, route, port, policies, isolation).await,
            Request::AttachSandbox { name, replace } => {
                let info = self.existing(&name).await?;
                if info.sandboxed_listener && !replace {
                    return Ok(Attached {
                        addr: None,
                        already: true,
                        attached: name,
                    }
                    .into());
                }
                let addr = self.attach(&name).await?;
                Ok(Attached {
                    addr: Some(addr.to_string()),
                    already: false,
                    attached: name,
                }
                .into())
            }
            Request::DetachSandbox { name } => {
                self.existing(&name).await?;
                let had = self.gw.detach_listener(&name).await.map_err(|e| {
                    gateway_error("cannot detach the sandbox listener", &e, &self.state)
                })?;
                Ok(Detached { detached: had }.into())
            }
            Request::DestroySandbox { name } => {
                self.existing(&name).await?;
                self.gw
                    .destroy_sandbox(&name)
                    .await
                    .map_err(|e| gateway_error("cannot destroy the sandbox", &e, &self.state))?;
                // The gateway removed the sandbox's directory with it.
                Ok(Destroyed { destroyed: name }.into())
            }
            Request::SetRoute { name, route } => {
                self.existing(&name).await?;
                let info = self
                    .gw
                    .set_route(&name, Self::route_spec(&route))
                    .await
                    .map_err(|e| gateway_error("cannot change the route", &e, &self.state))?;
                let view = self.view(&info);
                self.write_files(&view, None, true).await?;
                Ok(view.into())
            }
            Request::MarkVerified {
                name,
                verified,
                error,
            } => {
                let info = self.existing(&name).await?;
                let mut view = self.view(&info);
                view.verified = verified;
                view.verify_error = if verified { None } else { error };
                self.write_files(&view, None, false).await?;
                Ok(view.into())
            }
            Request::PolicyList { name } => {
                let info = self.existing(&name).await?;
                Ok(self.policy_reply(&info, false).into())
            }
            Request::PolicyChange { name, change } => self.policy_change(&name, change).await,
            Request::EgressDenials { name, since_ms } => {
                self.existing(&name).await?;
                let d =
                    self.gw.egress_denials(&name, since_ms).await.map_err(|e| {
                        gateway_error("cannot read egress refusals", &e, &self.state)
                    })?;
                Ok(d.into())
            }
            Request::DevicesList { name } => {
                self.existing(&name).await?;
                self.gw
                    .devices_list(&name)
                    .await
                    .map(Reply::from)
                    .map_err(|e| self.device_err(&e))
            }
            Request::DevicesApprove { name, request_id } => {
                self.existing(&name).await?;
                self.gw
                    .devices_approve(&name, &request_id)
                    .await
                    .map(Reply::from)
                    .map_err(|e| self.device_err(&e))
            }
            Request::DevicesReject { name, request_id } => {
                self.existing(&name).await?;
                self.gw
                    .devices_reject(&name, &request_id)
                    .await
                    .map(Reply::from)
                    .map_err(|e| self.device_err(&e))
            }
            Request::DevicesRevoke { name, device_id } => {
                self.existing(&name).await?;
                self.gw
                    .devices_revoke(&name, &device_id)
                    .await
                    .map(Reply::from)
                    .map_err(|e| self.device_err(&e))
            }
        }
    }

    fn device_err(&self, e: &GatewayError) -> CliError {
        CliError::new(
            ErrorKind::PairingError,
            e.to_string(),
            "list pending requests and paired devices with `sandgate <name> devices list`",
        )
    }

    async fn status(&self, probe: bool) -> CliResult<Reply> {
        let infos = self.gw.sandboxes().await;
        let mut views: Vec<SandboxView> = infos.iter().map(|i| self.view(i)).collect();
        if probe {
            let probes = views.iter().map(|v| async move {
                match tokio::time::timeout(PROBE_TIMEOUT, self.gw.inference_health(&v.name)).await {
                    Ok(Ok(())) => InferenceHealth {
                        state: "healthy".into(),
                        error: None,
                    },
                    Ok(Err(e)) => InferenceHealth {
                        state: "unreachable".into(),
                        error: Some(e.to_string()),
                    },
                    Err(_) => InferenceHealth {
                        state: "unreachable".into(),
                        error: Some(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
                    },
                }
            });
            let results = futures::future::join_all(probes).await;
            for (v, r) in views.iter_mut().zip(results) {
                v.inference = Some(r);
            }
        }
        views.sort_by(|a, b| a.name.cmp(&b.name));
        let metrics = self.gw.metrics();
        for v in &mut views {
            v.usage = Some(metrics.usage(&v.name));
        }
        Ok(StatusReply {
            gateway: self.health.clone(),
            sandboxes: views,
        }
        .into())
    }

    async fn create(
        &self,
        name: String,
        route: Route,
        port: Option<u16>,
        policies: Vec<Preset>,
        isolation: Option<Isolation>,
    ) -> CliResult<Reply> {
        validate::sandbox_name(&name)?;
        let _guard = self.create.lock().await;
        if self.gw.sandbox(&name).await.is_some() {
            return Err(CliError::new(
                ErrorKind::NameTaken,
                format!("a sandbox named `{name}` already exists"),
                format!(
                    "use it (`{}`), destroy it first (`{}`), or pick another --name",
                    self.state.cmd(&format!("{name} status")),
                    self.state.cmd(&format!("{name} destroy"))
                ),
            ));
        }
        let mut recorded: BTreeMap<u16, String> = self
            .gw
            .sandboxes()
            .await
            .into_iter()
            .map(|i| (i.port, i.name))
            .collect();
        let mut attempts = 0;
        let info = loop {
            attempts += 1;
            let chosen = ports::allocate(port, &recorded, ports::bindable)?;
            let spec = SandboxSpec {
                name: name.clone(),
                route: Self::route_spec(&route),
                port: chosen,
                egress: EgressPolicy::with_presets(policies.iter().copied()),
            };
            match self.gw.create_sandbox(spec).await {
                Ok(info) => break info,
                // Someone took the port between our check and the gateway's bind: try the next.
                Err(_) if port.is_none() && !ports::bindable(chosen) && attempts < 5 => {
                    recorded.insert(chosen, String::from("(busy)"));
                }
                Err(_) if port.is_some() && !ports::bindable(chosen) => {
                    return Err(ports::port_taken(chosen));
                }
                Err(e) => {
                    return Err(gateway_error("cannot create the sandbox", &e, &self.state));
                }
            }
        };
        let view = self.view(&info);
        let view = SandboxView {
            verified: false,
            verify_error: None,
            isolation,
            ..view
        };
        self.write_files(&view, Some(&info.token), true).await?;
        tracing::info!(sandbox = %name, port = info.port, provider = %info.provider, model = %info.model, "sandbox created");
        Ok(view.into())
    }
}

/// The egress resolver, with the test-only override table from `SANDGATE_TEST_RESOLVE` when
/// set (test equipment; the gateway logs a warning at start).
fn test_resolver() -> CliResult<Resolver> {
    let Ok(spec) = std::env::var(resolve::OVERRIDE_ENV) else {
        return Ok(Resolver::default());
    };
    let map = Resolver::parse_overrides(&spec).map_err(|e| {
        CliError::new(
            ErrorKind::BadResolverOverride,
            format!("{}: {e}", resolve::OVERRIDE_ENV),
            format!(
                "unset {} (it is test equipment) or fix it: name:port=ip:port,…",
                resolve::OVERRIDE_ENV
            ),
        )
    })?;
    Ok(Resolver::with_overrides(map))
}

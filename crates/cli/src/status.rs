//! `sandgate list`, `sandgate status` and `sandgate <name> status`: the truth about the one
//! gateway and every sandbox.

use serde_json::{Value, json};

use crate::admin::client;
use crate::admin::proto::{Health, Request, SandboxView, StatusReply};
use crate::env;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::gateway_cmd::health_json;
use crate::paths::StateDir;
use crate::sys;
use crate::ui;

/// What the CLI knows: the gateway (when it answers) and every sandbox.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The gateway, when healthy.
    pub gateway: Option<Health>,
    /// Every sandbox (from the daemon, or from disk when it is down).
    pub sandboxes: Vec<SandboxView>,
    /// What sandbox isolation this host allows (`sandgate_sandbox::probe`).
    pub isolation: sandgate_sandbox::IsolationReport,
}

impl Snapshot {
    /// Asks the daemon; falls back to the records on disk when it does not answer.
    pub async fn gather(state: &StateDir, probe: bool) -> CliResult<Snapshot> {
        let isolation = sandgate_sandbox::probe();
        match client::call::<StatusReply>(state, &Request::Status { probe }).await {
            Ok(r) if sys::pid_alive(r.gateway.pid) => Ok(Snapshot {
                gateway: Some(r.gateway),
                sandboxes: r.sandboxes,
                isolation: isolation.clone(),
            }),
            Ok(_) => Ok(Snapshot {
                gateway: None,
                sandboxes: env::read_all_records(state),
                isolation: isolation.clone(),
            }),
            Err(e) if e.kind == ErrorKind::GatewayDown => Ok(Snapshot {
                gateway: None,
                sandboxes: env::read_all_records(state),
                isolation: isolation.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether a sandbox is ready: the gateway serves it and onboarding verified it.
    pub fn ready(&self, v: &SandboxView) -> bool {
        self.gateway.is_some() && v.verified
    }

    /// Why a sandbox is degraded, if it is.
    pub fn problem(&self, state: &StateDir, v: &SandboxView) -> Option<String> {
        if self.gateway.is_none() {
            return Some("gateway is down".into());
        }
        if let Some(inf) = &v.inference
            && inf.state != "healthy"
        {
            return Some(format!(
                "inference {}: {}",
                inf.state,
                inf.error.as_deref().unwrap_or("no detail")
            ));
        }
        if !v.verified {
            return Some(format!(
                "not verified{} (retry: `{}`)",
                v.verify_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
                state.cmd(&format!("{} agent --agent main -m hello", v.name))
            ));
        }
        None
    }

    /// One sandbox as JSON.
    pub fn sandbox_json(&self, v: &SandboxView) -> Value {
        json!({
            "name": v.name,
            "provider": v.provider,
            "model": v.model,
            "endpoint": v.endpoint,
            "port": v.port,
            "url": v.url,
            "ready": self.ready(v),
            "verified": v.verified,
            "verifyError": v.verify_error,
            "inference": v.inference.as_ref().map(|i| i.state.clone()).unwrap_or_else(|| "not probed".into()),
            "inferenceError": v.inference.as_ref().and_then(|i| i.error.clone()),
            "policies": v.policies,
            "egressHosts": v.egress_hosts,
            "egressDenied": v.egress_denied,
            "isolation": self.isolation_json(v),
            "running": v.sandbox_running,
            "createdAtMs": v.created_at_ms,
            "usage": v.usage,
        })
    }

    /// One line: the setting and what it achieves here.
    pub fn isolation_line(&self, v: &SandboxView) -> String {
        match v.isolation.unwrap_or(crate::args::Isolation::Auto) {
            crate::args::Isolation::None => "none (set at onboarding: --isolation none)".into(),
            s => format!(
                "{} ({}{})",
                crate::sandbox_run::describe(&self.isolation),
                if s == crate::args::Isolation::Require {
                    "required"
                } else {
                    "auto"
                },
                if v.sandbox_running { ", running" } else { "" }
            ),
        }
    }

    /// `{setting, mode, namespaces, landlockAbi, seccomp}`: what this sandbox's sessions get.
    pub fn isolation_json(&self, v: &SandboxView) -> Value {
        let setting = v.isolation.unwrap_or(crate::args::Isolation::Auto);
        if setting == crate::args::Isolation::None {
            return json!({"setting": setting, "mode": "none", "namespaces": [], "landlockAbi": null, "seccomp": false});
        }
        let r = &self.isolation;
        json!({
            "setting": setting,
            "mode": r.mode,
            "namespaces": r.namespaces,
            "landlockAbi": r.landlock_abi,
            "seccomp": r.seccomp,
            "warnings": r.warnings,
        })
    }

    /// The whole snapshot as JSON (`schemaVersion` 1).
    pub fn to_json(&self) -> Value {
        json!({
            "schemaVersion": 1,
            "gateway": health_json(self.gateway.as_ref()),
            "sandboxes": self.sandboxes.iter().map(|v| self.sandbox_json(v)).collect::<Vec<_>>(),
        })
    }

    fn print_gateway(&self, state: &StateDir) {
        match &self.gateway {
            Some(h) => {
                println!(
                    "Gateway: {}  id {}  pid {}  up {}",
                    ui::ok("running"),
                    h.id,
                    h.pid,
                    ui::uptime(h.started_at_ms)
                );
                println!("  Endpoint: unix:{}", h.admin_socket.display());
                println!("  CA fingerprint: {}", h.ca_fingerprint);
            }
            None => {
                println!("Gateway: {}", ui::bad("down"));
                println!("  Start it with `{}`", state.cmd("gateway start"));
            }
        }
    }

    fn print_sandbox(&self, state: &StateDir, v: &SandboxView) {
        println!("    {} ({})  :{}", v.name, v.model, v.port);
        let inference = match &v.inference {
            Some(i) if i.state == "healthy" => ui::ok("healthy"),
            Some(i) => ui::bad(&format!(
                "{} ({})",
                i.state,
                i.error.as_deref().unwrap_or("no detail")
            )),
            None => "not probed".to_string(),
        };
        println!("      Inference: {} / {}  {inference}", v.provider, v.model);
        let ready = if self.ready(v) {
            ui::ok("yes")
        } else {
            ui::bad("no")
        };
        println!(
            "      Ready: {ready}  egress: {}  refused: {}",
            egress_summary(v),
            v.egress_denied
        );
        println!("      isolation: {}", self.isolation_line(v));
        println!("      gateway: {}", v.url);
        if let Some(p) = self.problem(state, v) {
            println!("      {}", ui::warn(&format!("Degraded: {p}")));
        }
    }
}

/// `sandgate list`: exits 0 even when the gateway is down.
pub async fn list(state: &StateDir, json: bool) -> CliResult<u8> {
    let snap = Snapshot::gather(state, false).await?;
    if json {
        ui::print_json(&snap.to_json());
        return Ok(0);
    }
    if snap.sandboxes.is_empty() {
        println!(
            "No sandboxes. Create one with `{}`.",
            state.cmd("onboard --name NAME --provider mock --model mock-model")
        );
    } else {
        println!("  Sandboxes:");
        for v in &snap.sandboxes {
            snap.print_sandbox(state, v);
        }
    }
    if snap.gateway.is_none() {
        println!();
        snap.print_gateway(state);
    }
    Ok(0)
}

/// `sandgate status`: non-zero when the gateway is down or a sandbox is degraded.
pub async fn status(state: &StateDir, json: bool) -> CliResult<u8> {
    let snap = Snapshot::gather(state, true).await?;
    let problems: Vec<String> = snap
        .sandboxes
        .iter()
        .filter_map(|v| snap.problem(state, v).map(|p| format!("{}: {p}", v.name)))
        .collect();
    let degraded = snap.gateway.is_none() || !problems.is_empty();
    if json {
        let mut v = snap.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("degraded".into(), json!(degraded));
            o.insert("problems".into(), json!(problems));
        }
        ui::print_json(&v);
    } else {
        snap.print_gateway(state);
        println!();
        if snap.sandboxes.is_empty() {
            println!("No sandboxes.");
        } else {
            println!("  Sandboxes:");
            for v in &snap.sandboxes {
                snap.print_sandbox(state, v);
            }
        }
        if degraded {
            println!();
            if snap.gateway.is_none() {
                println!("{}", ui::bad("Degraded: the gateway is down."));
            }
            for p in &problems {
                println!("{}", ui::bad(&format!("Degraded: {p}")));
            }
        }
    }
    Ok(if degraded { 1 } else { 0 })
}

/// `sandgate <name> status`.
pub async fn sandbox_status(state: &StateDir, name: &str, json: bool) -> CliResult<u8> {
    let snap = Snapshot::gather(state, true).await?;
    let Some(v) = snap.sandboxes.iter().find(|v| v.name == name) else {
        return Err(env::unknown_sandbox(state, name));
    };
    let problem = snap.problem(state, v);
    if json {
        let mut out = snap.sandbox_json(v);
        if let Some(o) = out.as_object_mut() {
            o.insert("schemaVersion".into(), json!(1));
            o.insert("gateway".into(), health_json(snap.gateway.as_ref()));
            o.insert("degraded".into(), json!(problem.is_some()));
            o.insert("problem".into(), json!(problem));
        }
        ui::print_json(&out);
    } else {
        println!("Sandbox: {}", v.name);
        println!(
            "  Model: {}   Provider: {}   Endpoint: {}",
            v.model, v.provider, v.endpoint
        );
        println!("  Port: {}   Gateway: {}", v.port, v.url);
        let inf = match &v.inference {
            Some(i) if i.state == "healthy" => ui::ok("healthy"),
            Some(i) => ui::bad(&format!(
                "{} ({})",
                i.state,
                i.error.as_deref().unwrap_or("")
            )),
            None => "not probed (gateway down)".into(),
        };
        println!("  Inference: {inf}");
        println!(
            "  Ready: {}",
            if snap.ready(v) {
                ui::ok("yes")
            } else {
                ui::bad("no")
            }
        );
        println!("  Isolation: {}", snap.isolation_line(v));
        println!("  Egress: {}", egress_summary(v));
        println!("  Egress refused since start: {}", v.egress_denied);
        print_usage(v);
        match &snap.gateway {
            Some(h) => println!(
                "  Shared gateway: pid {} id {} CA {}",
                h.pid, h.id, h.ca_fingerprint
            ),
            None => println!(
                "  Shared gateway: {} (start it with `{}`)",
                ui::bad("down"),
                state.cmd("gateway start")
            ),
        }
        if let Some(p) = &problem {
            println!("{}", ui::bad(&format!("Degraded: {p}")));
        }
    }
    Ok(if problem.is_some() { 1 } else { 0 })
}

/// The usage lines of `sandgate <name> status`.
fn print_usage(v: &SandboxView) {
    let Some(u) = &v.usage else {
        println!("  Usage since start: unknown (gateway down)");
        return;
    };
    println!(
        "  Usage since start: {} requests, {} errors, {} input / {} output tokens",
        u.requests, u.errors, u.input_tokens, u.output_tokens
    );
    if let Some(e) = &u.last_error {
        println!("  Last error: {} ago: {}", ui::uptime(e.at_ms), e.message);
    }
}

/// The snapshot's view of one sandbox, or the unknown-sandbox error.
pub fn find<'a>(snap: &'a Snapshot, state: &StateDir, name: &str) -> CliResult<&'a SandboxView> {
    snap.sandboxes
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| env::unknown_sandbox(state, name))
}

/// Requires a running gateway (for commands that change state).
pub fn require_gateway(snap: &Snapshot, state: &StateDir) -> CliResult<()> {
    if snap.gateway.is_some() {
        Ok(())
    } else {
        Err(CliError::new(
            ErrorKind::GatewayDown,
            "the sandgate gateway is not running",
            format!("start it with `{}`", state.cmd("gateway start")),
        ))
    }
}

/// Presets and explicit hosts, comma-separated, or `inference.local only`.
pub fn egress_summary(v: &SandboxView) -> String {
    let parts: Vec<String> = v
        .policies
        .iter()
        .map(ToString::to_string)
        .chain(v.egress_hosts.iter().map(ToString::to_string))
        .collect();
    if parts.is_empty() {
        "inference.local only".into()
    } else {
        parts.join(", ")
    }
}

//! `sandgate onboard`: eight numbered steps ending in a real gateway-mode agent turn.

use crate::admin::client;
use crate::admin::proto::{Request, Route, SandboxView};
use crate::agent;
use crate::args::{AgentArgs, OnboardArgs};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::gateway_cmd::{self, Started};
use crate::paths::StateDir;
use crate::ui::{self, Steps};
use crate::{ports, providers, validate};

/// Number of onboarding steps.
pub const STEPS: u8 = 8;

/// The outcome of a successful onboard.
#[derive(Debug)]
pub struct Onboarded {
    /// The sandbox.
    pub sandbox: SandboxView,
    /// How the gateway was obtained.
    pub gateway: Started,
    /// The verification turn's reply.
    pub reply: String,
}

/// Runs the eight steps. On a failed verification the sandbox stays, marked not verified.
pub async fn onboard(
    state: &StateDir,
    args: &OnboardArgs,
    steps: &mut Steps,
) -> CliResult<Onboarded> {
    // [1/8] Nothing is created before every input checks out.
    steps.start(1, "Preflight checks");
    validate::sandbox_name(&args.name)?;
    let kind = providers::parse(&args.provider)?;
    if args.model.trim().is_empty() {
        return Err(CliError::new(
            ErrorKind::InvalidModel,
            "the model is empty",
            "pass a model with --model, e.g. `--model mock-model`",
        ));
    }
    let policies = validate::policies(&args.policy)?;
    let credential = providers::credential(kind, args.credential_env.as_deref(), |k| {
        std::env::var(k).ok()
    })?;
    if let Some(port) = args.port {
        let taken_by_sandbox = crate::env::read_all_records(state)
            .into_iter()
            .find(|v| v.port == port && v.name != args.name);
        match taken_by_sandbox {
            Some(v) => {
                return Err(CliError::new(
                    ErrorKind::PortInUse,
                    format!("port {port} is already used by sandbox `{}`", v.name),
                    "omit --port to take the next free port, or pick another with --port",
                ));
            }
            None if !ports::bindable(port) => return Err(ports::port_taken(port)),
            None => {}
        }
    }
    if crate::env::read_record(state, &args.name).is_some() {
        return Err(CliError::new(
            ErrorKind::NameTaken,
            format!("a sandbox named `{}` already exists", args.name),
            format!(
                "use it (`{}`), destroy it first (`{}`), or pick another --name",
                state.cmd(&format!("{} status", args.name)),
                state.cmd(&format!("{} destroy", args.name))
            ),
        ));
    }
    steps.note(&format!("Sandbox name `{}` is valid", args.name));
    match &credential.env {
        Some(var) => steps.note(&format!("Credential found in ${var}")),
        None => steps.note(&format!("Provider {kind} needs no credential")),
    }

    // [2/8]
    steps.start(2, "Starting gateway");
    let gateway = {
        let mut lines = Vec::new();
        let g = gateway_cmd::ensure_running(state, &mut |l| lines.push(l.to_string())).await?;
        for l in lines {
            steps.note(&l);
        }
        g
    };
    match &gateway {
        Started::Reused(h) => {
            steps.note("[reuse] Skipping gateway (running)");
            steps.note("Reusing healthy gateway.");
            steps.note(&format!("Gateway pid {}, id {}", h.pid, h.id));
        }
        Started::Spawned(h, _) => {
            steps.note(&ui::ok(&format!(
                "✓ Gateway started (pid {}, id {})",
                h.pid, h.id
            )));
        }
    }
    steps.note(&format!(
        "CA fingerprint: {}",
        gateway.health().ca_fingerprint
    ));

    // [3/8]
    steps.start(3, "Configuring inference provider");
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| kind.profile().default_endpoint.to_string());
    steps.note(&format!(
        "Provider: {kind}   Model: {}   Endpoint: {endpoint}",
        args.model
    ));

    // [4/8]
    steps.start(4, "Creating sandbox");
    let req = Request::CreateSandbox {
        name: args.name.clone(),
        route: Route {
            provider: kind,
            model: args.model.clone(),
            endpoint: args.endpoint.clone(),
            credential: credential.value.clone(),
            credential_env: credential.env.clone(),
        },
        port: args.port,
        policies: policies.clone(),
        isolation: args.isolation,
    };
    let sandbox: SandboxView = client::call(state, &req).await?;
    steps.note(&ui::ok(&format!(
        "✓ Sandbox '{}' created on port {} ({})",
        sandbox.name, sandbox.port, sandbox.url
    )));

    // [5/8]
    steps.start(5, "Setting up inference route");
    steps.note(&format!(
        "Route: inference.local → {} / {}",
        sandbox.provider, sandbox.model
    ));
    if let Some(var) = &credential.env {
        steps.note(&format!(
            "Credential from ${var} is held by the gateway only"
        ));
    }

    // [6/8]
    steps.start(6, "Pairing the sandbox CLI device");
    steps.note(&format!(
        "Device identity in {} (pre-approved within the sandbox's scope policy)",
        sandbox.device_dir.display()
    ));

    // [7/8]
    steps.start(7, "Policy presets");
    steps.note(&format!(
        "Network policies: {} (enforced by the sandbox's proxy; see `{}`)",
        crate::status::egress_summary(&sandbox),
        state.cmd(&format!("{} policy list", sandbox.name))
    ));

    // [8/8]
    steps.start(8, "Verifying gateway agent turn");
    let turn = AgentArgs {
        agent: "main".into(),
        message: "sandgate onboarding check: reply with a short greeting.".into(),
        session_id: Some("sandgate-onboard-verify".into()),
    };
    // The turn must also have been answered by this sandbox's own route.
    let verified = agent::run_turn(state, &sandbox.name, &turn, false)
        .await
        .and_then(|r| {
            if r.provider == sandbox.provider.as_str() && r.model == sandbox.model {
                Ok(r)
            } else {
                Err(CliError::new(
                    ErrorKind::RouteMismatch,
                    format!(
                        "the verification turn was answered by {} / {}, not this sandbox's route {} / {}",
                        r.provider, r.model, sandbox.provider, sandbox.model
                    ),
                    format!("check `sandgate {} inference get` and the gateway log", sandbox.name),
                ))
            }
        });
    match verified {
        Ok(r) => {
            let marked: SandboxView = client::call(
                state,
                &Request::MarkVerified {
                    name: sandbox.name.clone(),
                    verified: true,
                    error: None,
                },
            )
            .await?;
            steps.note(&ui::ok(&format!(
                "✓ Agent turn through the gateway succeeded ({} / {}, {} ms)",
                r.provider, r.model, r.elapsed_ms
            )));
            steps.finish();
            Ok(Onboarded {
                sandbox: marked,
                gateway,
                reply: r.reply,
            })
        }
        Err(e) => {
            let _ = client::call::<SandboxView>(
                state,
                &Request::MarkVerified {
                    name: sandbox.name.clone(),
                    verified: false,
                    error: Some(format!("{}: {}", e.kind, e.message)),
                },
            )
            .await;
            steps.note(&ui::bad(&format!("✗ Verification failed ({})", e.kind)));
            steps.finish();
            let n = &sandbox.name;
            Err(CliError::new(
                e.kind,
                format!(
                    "sandbox `{n}` was created but its verification turn failed: {}. It stays, marked not verified",
                    e.message
                ),
                format!(
                    "{}; then retry with `{}`, or remove it with `{}`",
                    e.remedy,
                    state.cmd(&format!("{n} agent --agent main -m hello")),
                    state.cmd(&format!("{n} destroy"))
                ),
            ))
        }
    }
}

/// `sandgate onboard …` as a command.
pub async fn command(state: &StateDir, args: &OnboardArgs, json: bool) -> CliResult<u8> {
    let mut steps = Steps::new(STEPS, json);
    let done = onboard(state, args, &mut steps).await?;
    let s = &done.sandbox;
    if json {
        ui::print_json(&serde_json::json!({
            "schemaVersion": 1,
            "ok": true,
            "reusedGateway": matches!(done.gateway, Started::Reused(_)),
            "gateway": crate::gateway_cmd::health_json(Some(done.gateway.health())),
            "sandbox": s,
        }));
        return Ok(0);
    }
    println!();
    println!("{}", ui::ok("Deployment verified."));
    println!("  Sandbox:   {} (port {})", s.name, s.port);
    println!("  Inference: {} / {}", s.provider, s.model);
    println!("  Connect:   {}", state.cmd(&format!("{} connect", s.name)));
    println!(
        "  Agent:     {}",
        state.cmd(&format!("{} agent --agent main -m \"hello\"", s.name))
    );
    println!("  Status:    {}", state.cmd(&format!("{} status", s.name)));
    println!("  Logs:      {}", state.cmd(&format!("{} logs", s.name)));
    Ok(0)
}

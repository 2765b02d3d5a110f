//! `sandgate <name> …`: devices, inference, destroy (connect/exec/stop, status, agent, logs and
//! policy live in their own modules).

use sandgate_gateway::PairingList;

use crate::admin::client;
use crate::admin::proto::{Request, Route, SandboxView};
use crate::admin::reply::{Destroyed, Reply};
use crate::args::{DevicesAction, InferenceAction};
use crate::env;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;
use crate::status::Snapshot;
use crate::{providers, ui};

fn print_devices(list: &PairingList) {
    let scopes = |s: &mut dyn Iterator<Item = &sandgate_core::Scope>| {
        s.map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    };
    let name = |m: &sandgate_gateway::DeviceMetadata| {
        m.display_name
            .clone()
            .or_else(|| m.client_id.clone())
            .unwrap_or_default()
    };
    println!("Pending requests: {}", list.pending.len());
    for p in &list.pending {
        let (role, scopes) = (p.role, scopes(&mut p.scopes.iter()));
        println!(
            "  {}  {role}  {scopes}  {}",
            p.request_id,
            name(&p.metadata)
        );
    }
    println!("Paired devices: {}", list.paired.len());
    for d in &list.paired {
        let (role, scopes) = (d.role, scopes(&mut d.scopes.iter()));
        println!("  {}  {role}  {scopes}  {}", d.device_id, name(&d.metadata));
    }
}

/// `sandgate <name> devices …`.
pub async fn devices(
    state: &StateDir,
    name: &str,
    action: &DevicesAction,
    json: bool,
) -> CliResult<u8> {
    let name = name.to_string();
    let (req, verb) = match action.clone() {
        DevicesAction::List => (Request::DevicesList { name: name.clone() }, ""),
        DevicesAction::Approve { request_id } => (
            Request::DevicesApprove {
                name: name.clone(),
                request_id,
            },
            "Approved",
        ),
        DevicesAction::Reject { request_id } => (
            Request::DevicesReject {
                name: name.clone(),
                request_id,
            },
            "Rejected",
        ),
        DevicesAction::Revoke { device_id } => (
            Request::DevicesRevoke {
                name: name.clone(),
                device_id,
            },
            "Revoked",
        ),
    };
    let reply = client::call_reply(state, &req).await?;
    if json {
        ui::print_json(&serde_json::json!({"schemaVersion": 1, "sandbox": name, "result": reply}));
    } else if let Reply::Devices(list) = &reply {
        print_devices(list);
    } else {
        println!("{verb}.");
        ui::print_json(&serde_json::json!(reply));
    }
    Ok(0)
}

/// `sandgate <name> inference get|set`.
pub async fn inference(
    state: &StateDir,
    name: &str,
    action: &InferenceAction,
    json: bool,
) -> CliResult<u8> {
    match action {
        InferenceAction::Get => {
            let snap = Snapshot::gather(state, true).await?;
            let v = crate::status::find(&snap, state, name)?;
            if json {
                let mut out = snap.sandbox_json(v);
                if let Some(o) = out.as_object_mut() {
                    o.insert("schemaVersion".into(), serde_json::json!(1));
                }
                ui::print_json(&out);
            } else {
                println!("Sandbox: {name}");
                println!("  Provider: {}", v.provider);
                println!("  Model: {}", v.model);
                println!("  Endpoint: {}", v.endpoint);
                let health = v
                    .inference
                    .as_ref()
                    .map(|i| i.state.clone())
                    .unwrap_or_else(|| "not probed (gateway down)".into());
                println!("  Health: {health}");
            }
            Ok(0)
        }
        InferenceAction::Set {
            provider,
            model,
            endpoint,
            credential_env,
        } => {
            let kind = providers::parse(provider)?;
            // Same provider and no variable named: a missing variable keeps the stored key.
            let same_provider = env::read_record(state, name).is_some_and(|v| v.provider == kind);
            let cred = match providers::credential(kind, credential_env.as_deref(), |k| {
                std::env::var(k).ok()
            }) {
                Err(e)
                    if same_provider
                        && credential_env.is_none()
                        && e.kind == ErrorKind::MissingCredential =>
                {
                    providers::Credential::default()
                }
                other => other?,
            };
            let req = Request::SetRoute {
                name: name.to_string(),
                route: Route {
                    provider: kind,
                    model: model.clone(),
                    endpoint: endpoint.clone(),
                    credential: cred.value,
                    credential_env: cred.env,
                },
            };
            let v: SandboxView = client::call(state, &req).await?;
            if json {
                ui::print_json(&serde_json::json!({"schemaVersion": 1, "ok": true, "sandbox": v}));
            } else {
                println!(
                    "Route of `{name}` is now {} / {} ({}).",
                    v.provider, v.model, v.endpoint
                );
                println!("  Check it with `{}`", state.cmd(&format!("{name} status")));
            }
            Ok(0)
        }
    }
}

/// `sandgate <name> destroy`.
pub async fn destroy(state: &StateDir, name: &str, json: bool) -> CliResult<u8> {
    // A running sandbox ends with it (its processes, its listener).
    let control = state.sandbox_control(name);
    let _ = tokio::task::spawn_blocking(move || sandgate_sandbox::stop(&control)).await;
    let _: Destroyed = client::call(
        state,
        &Request::DestroySandbox {
            name: name.to_string(),
        },
    )
    .await
    .map_err(|e| {
        if e.kind == ErrorKind::GatewayDown {
            CliError::new(
                e.kind,
                format!("cannot destroy `{name}`: {}", e.message),
                e.remedy,
            )
        } else {
            e
        }
    })?;
    if json {
        ui::print_json(&serde_json::json!({"schemaVersion": 1, "ok": true, "destroyed": name}));
    } else {
        println!("Sandbox `{name}` destroyed. The gateway and the other sandboxes are untouched.");
    }
    Ok(0)
}

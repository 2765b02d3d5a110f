//! `sandgate <name> …`: devices, inference, destroy (connect/exec/stop, status, agent, logs and
//! policy live in their own modules).

use serde_json::Value;

use crate::admin::client;
use crate::admin::proto::{Request, Route, SandboxView};
use crate::args::{DevicesAction, InferenceAction};
use crate::env;
use crate::error::{CliError, CliResult};
use crate::paths::StateDir;
use crate::status::Snapshot;
use crate::{providers, ui};

fn print_devices(v: &Value) {
    for (section, title) in [
        ("pending", "Pending requests"),
        ("paired", "Paired devices"),
    ] {
        let items = v
            .get(section)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        println!("{title}: {}", items.len());
        for item in items {
            let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
            let id = field("requestId")
                .or_else(|| field("deviceId"))
                .unwrap_or_else(|| "?".into());
            let scopes = item
                .get("scopes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let role = field("role").unwrap_or_default();
            let name = field("displayName")
                .or_else(|| field("clientId"))
                .unwrap_or_default();
            println!("  {id}  {role}  {scopes}  {name}");
        }
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
    let v = client::call_value(state, &req).await?;
    if json {
        ui::print_json(&serde_json::json!({"schemaVersion": 1, "sandbox": name, "result": v}));
    } else if matches!(action, DevicesAction::List) {
        print_devices(&v);
    } else {
        println!("{verb}.");
        ui::print_json(&v);
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
            let same_provider =
                env::read_record(state, name).is_some_and(|v| v.provider == kind.as_str());
            let cred = match providers::credential(kind, credential_env.as_deref(), |k| {
                std::env::var(k).ok()
            }) {
                Err(e)
                    if same_provider
                        && credential_env.is_none()
                        && e.kind == "missing_credential" =>
                {
                    providers::Credential::default()
                }
                other => other?,
            };
            let req = Request::SetRoute {
                name: name.to_string(),
                route: Route {
                    provider: kind.as_str().to_string(),
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
    let _: Value = client::call_value(
        state,
        &Request::DestroySandbox {
            name: name.to_string(),
        },
    )
    .await
    .map_err(|e| {
        if e.kind == "gateway_down" {
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

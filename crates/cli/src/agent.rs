//! `sandgate <name> agent`: one turn in gateway mode over the sandbox's WebSocket, with the
//! sandbox's pre-approved device identity. Never falls back; every failure has a typed cause.

use std::io::Write;
use std::time::{Duration, Instant};

use sandgate_core::Scope;
use sandgate_gateway::client::{self, AgentTurn, ClientError, ClientOptions};
use serde::Serialize;

use crate::args::AgentArgs;
use crate::env;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;

/// How long connecting (handshake included) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one turn may take.
const TURN_TIMEOUT: Duration = Duration::from_secs(600);

/// A finished turn.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnResult {
    /// Always `gateway`.
    pub transport: &'static str,
    /// Sandbox name.
    pub sandbox: String,
    /// Provider that answered.
    pub provider: String,
    /// Model that answered.
    pub model: String,
    /// The reply text.
    pub reply: String,
    /// Session id used.
    pub session_id: String,
    /// Gateway session key.
    pub session_key: String,
    /// Run id.
    pub run_id: String,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

fn client_error(state: &StateDir, sandbox: &str, url: &str, e: &ClientError) -> CliError {
    let remedy = match e {
        ClientError::Unreachable { .. } => format!(
            "start the gateway with `{}` (check `{}`)",
            state.cmd("gateway start"),
            state.cmd("status")
        ),
        ClientError::Upstream { .. } => format!(
            "check the provider (`{}`), fix it with `{}`, or see `{}`",
            state.cmd(&format!("{sandbox} status")),
            state.cmd(&format!("{sandbox} inference set --provider P --model M")),
            state.cmd(&format!("{sandbox} logs"))
        ),
        _ => e.remedy(),
    };
    let message = match e {
        ClientError::Unreachable { .. } => {
            format!("the gateway for sandbox `{sandbox}` is unreachable at {url}: {e}")
        }
        _ => format!("agent turn in sandbox `{sandbox}` failed: {e}"),
    };
    // The client's cause ids are all kinds; one it adds later reads as a protocol error.
    let kind = e.cause().parse().unwrap_or(ErrorKind::ProtocolError);
    CliError::new(kind, message, remedy)
}

/// Runs one turn. With `stream`, reply deltas are written to stdout as they arrive.
pub async fn run_turn(
    state: &StateDir,
    sandbox: &str,
    args: &AgentArgs,
    stream: bool,
) -> CliResult<TurnResult> {
    let view =
        env::read_record(state, sandbox).ok_or_else(|| env::unknown_sandbox(state, sandbox))?;
    let token = env::read_token(state, sandbox);
    let session_id = args
        .session_id
        .clone()
        .unwrap_or_else(|| format!("sandgate-{}", uuid::Uuid::new_v4()));
    let url = format!("ws://127.0.0.1:{}", view.port);
    let mut opts = ClientOptions::new(url.clone());
    opts.token = token;
    opts.identity_dir = Some(state.sandbox_dir(sandbox));
    opts.scopes = vec![Scope::Read, Scope::Write];
    opts.wait_for_approval = None;
    opts.timeout = CONNECT_TIMEOUT;
    let started = Instant::now();
    let mut conn = match tokio::time::timeout(
        CONNECT_TIMEOUT + Duration::from_secs(5),
        client::connect(opts),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(client_error(state, sandbox, &url, &e)),
        Err(_) => {
            return Err(CliError::new(
                ErrorKind::GatewayUnreachable,
                format!(
                    "the gateway for sandbox `{sandbox}` did not complete the handshake within {}s at {url}",
                    CONNECT_TIMEOUT.as_secs()
                ),
                format!(
                    "check `{}` and {}",
                    state.cmd("status"),
                    state.log_file().display()
                ),
            ));
        }
    };
    let turn = AgentTurn {
        agent_id: args.agent.clone(),
        message: args.message.clone(),
        session_id: session_id.clone(),
    };
    let mut streamed = false;
    let on_delta = |delta: &str| {
        if stream {
            streamed = true;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(delta.as_bytes());
            let _ = out.flush();
        }
    };
    let reply = tokio::time::timeout(TURN_TIMEOUT, conn.agent(turn, on_delta)).await;
    conn.close().await;
    let reply = match reply {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            if streamed {
                println!();
            }
            return Err(client_error(state, sandbox, &url, &e));
        }
        Err(_) => {
            return Err(CliError::new(
                ErrorKind::UpstreamError,
                format!("no reply within {}s", TURN_TIMEOUT.as_secs()),
                format!(
                    "check the provider with `{}`",
                    state.cmd(&format!("{sandbox} status"))
                ),
            ));
        }
    };
    if stream {
        if !streamed {
            print!("{}", reply.text);
        }
        println!();
    }
    Ok(TurnResult {
        transport: "gateway",
        sandbox: sandbox.to_string(),
        provider: reply.provider,
        model: reply.model,
        reply: reply.text,
        session_id,
        session_key: reply.session_key,
        run_id: reply.run_id,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// `sandgate <name> agent …` / `sandgate agent --sandbox N …`.
pub async fn command(
    state: &StateDir,
    sandbox: &str,
    args: &AgentArgs,
    json: bool,
) -> CliResult<u8> {
    let r = run_turn(state, sandbox, args, !json).await?;
    if json {
        let mut v = serde_json::to_value(&r).map_err(|e| CliError::internal(e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), serde_json::Value::Bool(true));
        }
        crate::ui::print_json(&v);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_cause_is_an_error_kind() {
        let s = String::new;
        for e in [
            ClientError::Unreachable {
                url: s(),
                detail: s(),
            },
            ClientError::PairingRequired {
                request_id: None,
                reason: s(),
                remedy: s(),
            },
            ClientError::ScopeDenied {
                scope: s(),
                remedy: s(),
            },
            ClientError::AuthFailed {
                code: sandgate_core::codes::DetailCode::parse("AUTH_TOKEN_MISMATCH"),
                message: s(),
            },
            ClientError::Upstream {
                message: s(),
                remedy: s(),
            },
            ClientError::Protocol(s()),
            ClientError::Closed {
                code: 4001,
                reason: s(),
            },
            ClientError::Identity(s()),
        ] {
            assert!(e.cause().parse::<ErrorKind>().is_ok(), "{}", e.cause());
        }
    }
}

//! The CLI side of the admin socket.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::proto::{Health, Request, Response};
use crate::error::{CliError, CliResult};
use crate::paths::StateDir;

/// How long a request may take before the CLI gives up.
pub fn timeout_for(req: &Request) -> Duration {
    match req {
        Request::Health => Duration::from_secs(3),
        Request::Status { probe: false } => Duration::from_secs(10),
        _ => Duration::from_secs(60),
    }
}

/// The error for "no daemon answers on the admin socket".
pub fn gateway_down(state: &StateDir, detail: &str) -> CliError {
    CliError::new(
        "gateway_down",
        format!(
            "the sandgate gateway is not running for {} ({detail})",
            state.root().display()
        ),
        format!("start it with `{}`", state.cmd("gateway start")),
    )
}

/// Sends one request and decodes the result.
pub async fn call<T: DeserializeOwned>(state: &StateDir, req: &Request) -> CliResult<T> {
    let value = call_value(state, req).await?;
    serde_json::from_value(value).map_err(|e| protocol(state, &e.to_string()))
}

/// Sends one request and returns the raw result.
pub async fn call_value(state: &StateDir, req: &Request) -> CliResult<serde_json::Value> {
    let timeout = timeout_for(req);
    let sock = state.admin_socket();
    let fut = async {
        let stream = UnixStream::connect(&sock)
            .await
            .map_err(|e| gateway_down(state, &format!("{}: {e}", sock.display())))?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_string(req).map_err(|e| protocol(state, &e.to_string()))?;
        line.push('\n');
        write
            .write_all(line.as_bytes())
            .await
            .map_err(|e| gateway_down(state, &e.to_string()))?;
        let mut reader = BufReader::new(read);
        let mut answer = String::new();
        let n = reader
            .read_line(&mut answer)
            .await
            .map_err(|e| gateway_down(state, &e.to_string()))?;
        if n == 0 {
            return Err(protocol(
                state,
                "the gateway closed the admin connection without answering",
            ));
        }
        let resp: Response =
            serde_json::from_str(answer.trim_end()).map_err(|e| protocol(state, &e.to_string()))?;
        match (resp.ok, resp.result, resp.error) {
            (true, Some(v), _) => Ok(v),
            (true, None, _) => Ok(serde_json::Value::Null),
            (false, _, Some(e)) => Err(e.into()),
            (false, _, None) => Err(protocol(state, "error response without an error body")),
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| {
            Err(CliError::new(
                "gateway_timeout",
                format!("the gateway did not answer within {}s", timeout.as_secs()),
                format!(
                    "check {} and `{}`",
                    state.log_file().display(),
                    state.cmd("gateway status")
                ),
            ))
        })
}

/// Asks the daemon for its health; `None` when nothing answers.
pub async fn health(state: &StateDir) -> Option<Health> {
    call::<Health>(state, &Request::Health).await.ok()
}

fn protocol(state: &StateDir, detail: &str) -> CliError {
    CliError::new(
        "admin_protocol_error",
        format!("unexpected answer on the admin socket: {detail}"),
        format!(
            "make sure `sandgate` and `sandgated` are the same version; see {}",
            state.log_file().display()
        ),
    )
}

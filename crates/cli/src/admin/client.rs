//! The CLI side of the admin socket.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::proto::{Health, Request};
use super::reply::{FromReply, Reply, Response};
use crate::error::{CliError, CliResult, ErrorKind};
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
        ErrorKind::GatewayDown,
        format!(
            "the sandgate gateway is not running for {} ({detail})",
            state.root().display()
        ),
        format!("start it with `{}`", state.cmd("gateway start")),
    )
}

/// Sends one request and returns its answer as the type the caller expects (`SandboxView`,
/// `PolicyReply`, …); an answer of another shape is a protocol error.
pub async fn call<T: FromReply>(state: &StateDir, req: &Request) -> CliResult<T> {
    T::from_reply(call_reply(state, req).await?)
        .ok_or_else(|| protocol(state, "the answer has the shape of another request's"))
}

/// Sends one request and returns its typed answer.
pub async fn call_reply(state: &StateDir, req: &Request) -> CliResult<Reply> {
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
        // The result is read raw, then decoded as the shape `req` answers with.
        let resp: Response<serde_json::Value> =
            serde_json::from_str(answer.trim_end()).map_err(|e| protocol(state, &e.to_string()))?;
        match (resp.ok, resp.result, resp.error) {
            (true, v, _) => Reply::decode(req, v.unwrap_or_default())
                .map_err(|e| protocol(state, &e.to_string())),
            (false, _, Some(e)) => Err(e.into()),
            (false, _, None) => Err(protocol(state, "error response without an error body")),
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| {
            Err(CliError::new(
                ErrorKind::GatewayTimeout,
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
        ErrorKind::AdminProtocolError,
        format!("unexpected answer on the admin socket: {detail}"),
        format!(
            "make sure `sandgate` and `sandgated` are the same version; see {}",
            state.log_file().display()
        ),
    )
}

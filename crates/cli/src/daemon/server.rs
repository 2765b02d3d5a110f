//! The admin socket listener: one task per connection, one JSON request per line,
//! peers from another uid refused.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use super::ops::Daemon;
use crate::admin::proto::{Request, Response};
use crate::error::CliError;

/// Longest request line accepted.
const MAX_LINE: usize = 1 << 20;

/// Accepts connections until `shutdown` resolves; returns the connection tasks still running.
pub async fn serve(
    listener: UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl std::future::Future<Output = ()>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let d = Arc::clone(&daemon);
                    tasks.spawn(async move { connection(stream, d).await });
                }
                Err(e) => tracing::warn!(error = %e, "admin socket accept failed"),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks
}

async fn connection(stream: UnixStream, daemon: Arc<Daemon>) {
    let me = crate::sys::euid();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => {}
        Ok(cred) => {
            tracing::warn!(
                peer_uid = cred.uid(),
                "admin connection from another user refused"
            );
            let resp = Response::err(CliError::new(
                "permission_denied",
                "the admin socket only accepts the user that runs the gateway",
                "run sandgate as the user that started the gateway",
            ));
            let _ = write(stream, &resp).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read admin peer credentials; refused");
            return;
        }
    }
    let (read, mut write_half) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(n) if n > MAX_LINE => return,
            Ok(_) => {}
        }
        let resp = match serde_json::from_str::<Request>(line.trim_end()) {
            Ok(req) => {
                let op = op_name(&req);
                tracing::debug!(op, "admin request");
                match daemon.handle(req).await {
                    Ok(v) => Response::ok(v),
                    Err(e) => {
                        tracing::info!(op, kind = %e.kind, error = %e.message, "admin request failed");
                        Response::err(e)
                    }
                }
            }
            Err(e) => Response::err(CliError::new(
                "bad_request",
                format!("cannot parse the admin request: {e}"),
                "make sure `sandgate` and `sandgated` are the same version",
            )),
        };
        let Ok(mut bytes) = serde_json::to_vec(&resp) else {
            return;
        };
        bytes.push(b'\n');
        if write_half.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn write(mut stream: UnixStream, resp: &Response) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    stream.write_all(&bytes).await
}

/// The request's op, for logs (never its payload: it may carry a credential).
fn op_name(req: &Request) -> &'static str {
    match req {
        Request::Health => "health",
        Request::Status { .. } => "status",
        Request::CreateSandbox { .. } => "create_sandbox",
        Request::DestroySandbox { .. } => "destroy_sandbox",
        Request::SetRoute { .. } => "set_route",
        Request::MarkVerified { .. } => "mark_verified",
        Request::PolicyList { .. } => "policy_list",
        Request::PolicyChange { .. } => "policy_change",
        Request::EgressDenials { .. } => "egress_denials",
        Request::DevicesList { .. } => "devices_list",
        Request::DevicesApprove { .. } => "devices_approve",
        Request::DevicesReject { .. } => "devices_reject",
        Request::DevicesRevoke { .. } => "devices_revoke",
    }
}

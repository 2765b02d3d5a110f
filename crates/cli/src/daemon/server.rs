//! The admin socket listener: one task per connection, one JSON request per line,
//! peers from another uid refused. Lines are bounded while they are read (1 MiB) and an
//! idle connection is closed after [`READ_TIMEOUT`], so no peer can pin memory or tasks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use sandgate_gateway::fdreserve::{FdReserve, out_of_descriptors};
use sandgate_gateway::ratelimit::{Backoff, LogLimiter};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use super::line::{self, LineError};
use super::ops::Daemon;
use crate::admin::proto::Request;
use crate::admin::reply::Response;
use crate::error::{CliError, ErrorKind};

/// Longest request line accepted.
pub const MAX_LINE: usize = 1 << 20;

/// How long a connection may sit without completing a request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until `shutdown` resolves; returns the connection tasks still running.
pub async fn serve(
    listener: UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl std::future::Future<Output = ()>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let mut backoff = Backoff::accept();
    let mut warn = LogLimiter::new(sandgate_gateway::listener::WARN_INTERVAL);
    let mut reserve = FdReserve::new();
    tokio::pin!(shutdown);
    loop {
        reserve.refill();
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff.reset();
                    let d = Arc::clone(&daemon);
                    tasks.spawn(async move { connection(stream, d).await });
                }
                // Out of descriptors: serve the queued request with the reserve descriptor, so
                // the admin path answers even when a flood holds every other one.
                Err(e) if out_of_descriptors(&e) && reserve.release() => {
                    if let Some(suppressed) = warn.check(Instant::now()) {
                        tracing::warn!(error = %e, suppressed, "out of file descriptors; admin request served with the reserve");
                    }
                    if let Some(Ok((stream, _))) = listener.accept().now_or_never() {
                        let d = Arc::clone(&daemon);
                        tasks.spawn(async move { connection(stream, d).await });
                    }
                }
                Err(e) => {
                    // Out of descriptors: wait (longer each time) instead of spinning.
                    let delay = backoff.fail();
                    if let Some(suppressed) = warn.check(Instant::now()) {
                        tracing::warn!(error = %e, suppressed, "admin socket accept failed; backing off");
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
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
                ErrorKind::PermissionDenied,
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
    let mut line = Vec::new();
    loop {
        match line::read_line(&mut lines, &mut line, MAX_LINE, READ_TIMEOUT).await {
            Ok(true) => {}
            Ok(false) | Err(LineError::Io(_)) => return,
            Err(LineError::TimedOut(_)) => {
                tracing::debug!("idle admin connection closed");
                return;
            }
            Err(e @ LineError::TooLong { .. }) => {
                tracing::warn!(error = %e, "oversized admin request refused");
                let resp = Response::err(CliError::new(
                    ErrorKind::BadRequest,
                    format!("admin request refused: {e}"),
                    "send one JSON request per line, at most 1 MiB",
                ));
                let _ = send(&mut write_half, &resp).await;
                return;
            }
        }
        let text = String::from_utf8_lossy(&line);
        let resp = match serde_json::from_str::<Request>(text.trim_end()) {
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
                ErrorKind::BadRequest,
                format!("cannot parse the admin request: {e}"),
                "make sure `sandgate` and `sandgated` are the same version",
            )),
        };
        if send(&mut write_half, &resp).await.is_err() {
            return;
        }
    }
}

async fn write(mut stream: UnixStream, resp: &Response) -> std::io::Result<()> {
    send(&mut stream, resp).await
}

/// Writes `resp` as one line.
async fn send(out: &mut (impl AsyncWriteExt + Unpin), resp: &Response) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    out.write_all(&bytes).await
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
        Request::AttachSandbox { .. } => "attach_sandbox",
        Request::DetachSandbox { .. } => "detach_sandbox",
        Request::PolicyList { .. } => "policy_list",
        Request::PolicyChange { .. } => "policy_change",
        Request::EgressDenials { .. } => "egress_denials",
        Request::DevicesList { .. } => "devices_list",
        Request::DevicesApprove { .. } => "devices_approve",
        Request::DevicesReject { .. } => "devices_reject",
        Request::DevicesRevoke { .. } => "devices_revoke",
    }
}

//! One TCP listener per sandbox, served by hyper (HTTP/1.1) with upgrades, multiplexing three
//! things on one port: the WebSocket gateway (`GET /` upgrade), the direct `/v1` API, and an
//! HTTP proxy (CONNECT and absolute-form HTTP) that terminates TLS for `inference.local:443`
//! and enforces the sandbox's egress policy for everything else (see [`crate::proxy`]).
//!
//! Hostile clients are bounded by [`Limits`]: headers must arrive within `header_read`, idle
//! keep-alive connections are closed, stalled request bodies get `408`, and connections beyond
//! the port's cap are answered `503` at once. Accept errors back off instead of spinning.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use futures::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::body_timeout::{ProgressBody, Stalled};
use crate::conn_io::TrackedIo;
use crate::fdreserve::{self, FdReserve};
use crate::limits::{ConnCap, Limits};
use crate::proxy::ConnectProxy;
use crate::ratelimit::{Backoff, LogLimiter};

/// How long a graceful shutdown waits for in-flight HTTP exchanges before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// At most one line per this interval for the same repeated listener warning.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What one sandbox's port serves.
#[derive(Clone, Debug)]
pub struct PortApp {
    /// Plain HTTP routes: the WebSocket upgrade at `/` and the direct `/v1` API.
    pub router: Router,
    /// The CONNECT proxy for `inference.local:443`.
    pub proxy: Arc<ConnectProxy>,
}

/// A running listener. Dropping it does not stop it; call [`ServeHandle::shutdown`].
#[derive(Debug)]
pub struct ServeHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    cap: ConnCap,
    task: JoinHandle<()>,
}

impl ServeHandle {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A receiver that flips to `true` when shutdown starts (for long-lived sessions).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Open connections of this port (upgraded sessions and tunnels included).
    pub fn open_connections(&self) -> usize {
        self.cap.active()
    }

    /// Stops accepting, lets in-flight exchanges finish (up to [`SHUTDOWN_GRACE`]), then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts serving `app` on an already bound listener with the default [`Limits`].
pub fn spawn(
    listener: TcpListener,
    app: PortApp,
    stop: watch::Sender<bool>,
) -> std::io::Result<ServeHandle> {
    spawn_with(listener, app, stop, Limits::default())
}

/// Starts serving `app` on an already bound listener, within `limits` (the port's own cap).
pub fn spawn_with(
    listener: TcpListener,
    app: PortApp,
    stop: watch::Sender<bool>,
    limits: Limits,
) -> std::io::Result<ServeHandle> {
    let cap = ConnCap::new(limits.max_connections_per_sandbox);
    spawn_counted(listener, app, stop, limits, cap)
}

/// [`spawn_with`], with the connections counted by `cap` (the port's cap, which may sit within
/// a gateway-wide total and count on the sandbox's metric).
pub fn spawn_counted(
    listener: TcpListener,
    app: PortApp,
    stop: watch::Sender<bool>,
    limits: Limits,
    cap: ConnCap,
) -> std::io::Result<ServeHandle> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(
        listener,
        app,
        stop.subscribe(),
        limits,
        cap.clone(),
    ));
    Ok(ServeHandle {
        addr,
        stop,
        cap,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    app: PortApp,
    mut stop_rx: watch::Receiver<bool>,
    limits: Limits,
    cap: ConnCap,
) {
    let addr = listener.local_addr().ok();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    // Connection tasks are tracked, not joined one by one: reaping each finished connection
    // would wake this loop once per connection.
    let conns = TaskTracker::new();
    let abort = CancellationToken::new();
    let mut backoff = Backoff::accept();
    let mut accept_warn = LogLimiter::new(WARN_INTERVAL);
    let mut cap_warn = LogLimiter::new(WARN_INTERVAL);
    let mut reserve = FdReserve::new();
    loop {
        reserve.refill();
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(v) => v,
                    // Out of descriptors: take the queued connection with the reserve and
                    // tell it so at once, rather than leave it (and every later one) hanging.
                    Err(err) if fdreserve::out_of_descriptors(&err) && reserve.release() => {
                        if let Some(suppressed) = accept_warn.check(Instant::now()) {
                            tracing::warn!(%err, ?addr, suppressed, "out of file descriptors; refusing new connections with 503");
                        }
                        if let Some(Ok((stream, _))) = listener.accept().now_or_never() {
                            refuse(&stream, "the gateway is out of file descriptors; retry shortly\n");
                        }
                        reserve.refill();
                        continue;
                    }
                    Err(err) => {
                        // EMFILE/ENFILE/ENOBUFS…: the pending connection stays queued, so
                        // retrying at once would spin. Wait, longer each time.
                        let delay = backoff.fail();
                        if let Some(suppressed) = accept_warn.check(Instant::now()) {
                            tracing::warn!(%err, ?addr, suppressed, retry_in_ms = delay.as_millis() as u64, "accept failed; backing off");
                        }
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            _ = stop_rx.changed() => break,
                        }
                        continue;
                    }
                };
                backoff.reset();
                let slot = match cap.try_acquire() {
                    Ok(slot) => slot,
                    Err(full) => {
                        if let Some(suppressed) = cap_warn.check(Instant::now()) {
                            tracing::warn!(?addr, %peer, %full, suppressed, "connection cap reached; refusing with 503");
                        }
                        refuse(&stream, &format!("{full}; retry when some close\n"));
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let io = TrackedIo::new(stream, slot);
                let conn = serve_conn(io, builder.clone(), app.clone(), peer, limits.clone(), stop_rx.clone());
                let abort = abort.clone();
                conns.spawn(async move {
                    tokio::select! {
                        () = conn => {}
                        () = abort.cancelled() => {}
                    }
                });
            }
            _ = stop_rx.changed() => break,
        }
    }
    drop(listener);
    conns.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, conns.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            ?addr,
            "graceful shutdown timed out; closing remaining connections"
        );
        abort.cancel();
        conns.wait().await;
    }
}

/// Answers a connection that cannot be served (over the cap, or no descriptors left) with a
/// short `503` (best effort, never waits) and closes it.
fn refuse(stream: &TcpStream, body: &str) {
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(resp.as_bytes());
}

/// Serves one connection until it ends, closing it gracefully when the listener stops or
/// when it has been idle for `keep_alive_idle`.
async fn serve_conn(
    io: TrackedIo,
    builder: http1::Builder,
    app: PortApp,
    peer: SocketAddr,
    limits: Limits,
    mut stop_rx: watch::Receiver<bool>,
) {
    let activity = io.activity();
    let body_timeout = limits.body_progress;
    let service = service_fn(move |req| handle(req, app.clone(), peer, body_timeout));
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut closing = *stop_rx.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(err) = res {
                    tracing::debug!(%err, %peer, "connection ended with error");
                }
                return;
            }
            _ = stop_rx.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.idle_for(limits.keep_alive_idle), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn handle(
    mut req: http::Request<Incoming>,
    app: PortApp,
    peer: SocketAddr,
    body_timeout: Duration,
) -> Result<http::Response<Body>, Infallible> {
    req.extensions_mut().insert(PeerAddr(peer));
    if req.method() == http::Method::CONNECT {
        return Ok(app.proxy.handle(req).await);
    }
    if req.uri().scheme().is_some() {
        // Absolute form (`GET http://host/…`): a proxy request, decided by the egress policy.
        return Ok(app.proxy.handle_http(req).await);
    }
    let stalled = Stalled::default();
    let req = req.map(|b| Body::new(ProgressBody::new(b, body_timeout, stalled.clone())));
    let resp = match app.router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    if stalled.is_set() {
        return Ok(request_timeout(body_timeout));
    }
    Ok(resp)
}

/// `408` for a body that stopped making progress; the connection closes after it.
fn request_timeout(after: Duration) -> http::Response<Body> {
    let mut resp = crate::inference::error(
        http::StatusCode::REQUEST_TIMEOUT,
        &format!(
            "the request body stalled: no bytes arrived for {} ms",
            after.as_millis()
        ),
        "request_timeout",
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// The TCP peer of a request, inserted as a request extension by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

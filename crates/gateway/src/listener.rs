//! One TCP listener per sandbox, served by hyper with upgrades, multiplexing three things on
//! one port: the WebSocket gateway (`GET /` upgrade), the direct `/v1` API, and an HTTP
//! proxy (CONNECT and absolute-form HTTP) that terminates TLS for `inference.local:443` and
//! enforces the sandbox's egress policy for everything else (see [`crate::proxy`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::proxy::ConnectProxy;

/// How long a graceful shutdown waits for in-flight HTTP exchanges before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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

    /// Stops accepting, lets in-flight exchanges finish (up to [`SHUTDOWN_GRACE`]), then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts serving `app` on an already bound listener.
pub fn spawn(
    listener: TcpListener,
    app: PortApp,
    stop: watch::Sender<bool>,
) -> std::io::Result<ServeHandle> {
    let addr = listener.local_addr()?;
    let mut stop_rx = stop.subscribe();
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(v) => v,
                        Err(err) => {
                            tracing::warn!(%err, "accept failed");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let service = service_fn(move |req| handle(req, app.clone(), peer));
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn.into_owned());
                    tokio::spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(%err, %peer, "connection ended with error");
                        }
                    });
                }
                _ = stop_rx.changed() => break,
            }
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(%addr, "graceful shutdown timed out; closing remaining connections");
        }
    });
    Ok(ServeHandle { addr, stop, task })
}

async fn handle(
    mut req: http::Request<Incoming>,
    app: PortApp,
    peer: SocketAddr,
) -> Result<http::Response<Body>, Infallible> {
    req.extensions_mut().insert(PeerAddr(peer));
    if req.method() == http::Method::CONNECT {
        return Ok(app.proxy.handle(req).await);
    }
    if req.uri().scheme().is_some() {
        // Absolute form (`GET http://host/…`): a proxy request, decided by the egress policy.
        return Ok(app.proxy.handle_http(req).await);
    }
    let req = req.map(Body::new);
    match app.router.oneshot(req).await {
        Ok(resp) => Ok(resp),
        Err(never) => match never {},
    }
}

/// The TCP peer of a request, inserted as a request extension by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

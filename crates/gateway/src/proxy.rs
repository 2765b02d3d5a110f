//! HTTP CONNECT proxy for `inference.local:443` on each sandbox's port.
//!
//! A sandbox with `HTTPS_PROXY=http://127.0.0.1:<port>` and the gateway CA trusted calls
//! `https://inference.local/v1/...`: the client sends `CONNECT inference.local:443`, we answer
//! 200, terminate TLS with the leaf issued by the gateway CA, and serve that sandbox's
//! inference API over the tunnel. The sandbox is identified by the port; whatever credentials
//! the caller sends are stripped by the inference route. Every other CONNECT target is refused
//! with 403 and a message saying what is allowed.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::ca::INFERENCE_HOST;

/// The CONNECT proxy of one sandbox.
#[derive(Clone)]
pub struct ConnectProxy {
    sandbox: String,
    tls: TlsAcceptor,
    inference: Router,
}

impl std::fmt::Debug for ConnectProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectProxy")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

impl ConnectProxy {
    /// A proxy that serves `inference` (the sandbox's `/v1` routes, already bound to it)
    /// inside TLS made with `tls`.
    pub fn new(
        sandbox: impl Into<String>,
        tls: Arc<rustls::ServerConfig>,
        inference: Router,
    ) -> Self {
        ConnectProxy {
            sandbox: sandbox.into(),
            tls: TlsAcceptor::from(tls),
            inference,
        }
    }

    /// Handles one CONNECT request: 200 and a TLS tunnel for `inference.local:443`, 403 otherwise.
    pub async fn handle(&self, req: http::Request<Incoming>) -> http::Response<Body> {
        let target = req
            .uri()
            .authority()
            .map(|a| (a.host().to_ascii_lowercase(), a.port_u16()));
        match target {
            Some((host, Some(443))) if host == INFERENCE_HOST => {}
            other => {
                let shown = other
                    .map(|(h, p)| format!("{h}:{}", p.map(|p| p.to_string()).unwrap_or_default()))
                    .unwrap_or_else(|| req.uri().to_string());
                tracing::info!(sandbox = %self.sandbox, target = %shown, "CONNECT refused");
                return text(
                    http::StatusCode::FORBIDDEN,
                    format!(
                        "sandgate: CONNECT to {shown} is not allowed for sandbox {}: this proxy only serves {INFERENCE_HOST}:443 (the managed inference route)\n",
                        self.sandbox
                    ),
                );
            }
        }
        let proxy = self.clone();
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => proxy.serve_tunnel(upgraded).await,
                Err(err) => tracing::debug!(%err, "CONNECT upgrade failed"),
            }
        });
        http::Response::new(Body::empty())
    }

    async fn serve_tunnel(self, upgraded: hyper::upgrade::Upgraded) {
        let tls = match self.tls.accept(TokioIo::new(upgraded)).await {
            Ok(tls) => tls,
            Err(err) => {
                tracing::debug!(sandbox = %self.sandbox, %err, "TLS handshake in CONNECT tunnel failed");
                return;
            }
        };
        let router = self.inference.clone();
        let service = service_fn(move |req: http::Request<Incoming>| {
            let router = router.clone();
            async move {
                match router.oneshot(req.map(Body::new)).await {
                    Ok(resp) => Ok::<_, std::convert::Infallible>(resp),
                    Err(never) => match never {},
                }
            }
        });
        if let Err(err) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            tracing::debug!(sandbox = %self.sandbox, %err, "tunnelled connection ended with error");
        }
    }
}

fn text(status: http::StatusCode, body: String) -> http::Response<Body> {
    let mut resp = http::Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

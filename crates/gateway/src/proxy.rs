//! The proxy on each sandbox's port: the sandbox's only way out.
//!
//! `CONNECT inference.local:443` is answered 200 and TLS is terminated with the leaf issued by
//! the gateway CA; the sandbox's inference API is served inside. Any other `CONNECT host:port`
//! and any absolute-form plain-HTTP request (`GET http://host/…`) is decided by the sandbox's
//! egress policy ([`crate::egress`]): allowed targets are resolved by the daemon, guarded
//! against internal addresses, connected and relayed; everything else gets a 403 whose body
//! names the target, the preset that would allow it and the command. A refused target is
//! never connected.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::egress::{self, Denial, Resolver, Rule, Target, TunnelTimeouts, Verdict};
use crate::sandbox::SandboxCtx;

/// What the proxy needs to let allowed egress through.
#[derive(Debug, Clone)]
pub struct EgressCtx {
    /// The sandbox (its egress state and its route's endpoint for `local-inference`).
    pub sandbox: Arc<SandboxCtx>,
    /// The daemon's resolver.
    pub resolver: Arc<Resolver>,
    /// Connect and idle timeouts.
    pub timeouts: TunnelTimeouts,
}

/// The proxy of one sandbox.
#[derive(Clone)]
pub struct ConnectProxy {
    sandbox: String,
    tls: TlsAcceptor,
    inference: Router,
    egress: Option<EgressCtx>,
}

impl std::fmt::Debug for ConnectProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectProxy")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

/// Why a target is refused, for the log, the 403 body and the sandbox's denial list.
struct Refusal {
    target: String,
    reason: String,
    suggest: Option<egress::Preset>,
}

impl ConnectProxy {
    /// A proxy that serves `inference` (the sandbox's `/v1` routes, already bound to it)
    /// inside TLS made with `tls`, and refuses all other egress.
    pub fn new(
        sandbox: impl Into<String>,
        tls: Arc<rustls::ServerConfig>,
        inference: Router,
    ) -> Self {
        ConnectProxy {
            sandbox: sandbox.into(),
            tls: TlsAcceptor::from(tls),
            inference,
            egress: None,
        }
    }

    /// Lets egress allowed by the sandbox's policy through.
    pub fn with_egress(mut self, egress: EgressCtx) -> Self {
        self.egress = Some(egress);
        self
    }

    fn decide(&self, target: &Target) -> Verdict {
        // `inference.local` is decided without the sandbox's policy: no copy of it and no
        // parse of the route's endpoint on every inference tunnel.
        let Some(e) = self
            .egress
            .as_ref()
            .filter(|_| target.host.name() != Some(crate::ca::INFERENCE_HOST))
        else {
            return egress::EgressPolicy::default().decide(target, None);
        };
        let policy = e.sandbox.egress.policy();
        let local = if policy.presets.contains(&egress::Preset::LocalInference) {
            e.sandbox.local_endpoint()
        } else {
            None
        };
        policy.decide(target, local.as_ref())
    }

    /// Handles one CONNECT request.
    pub async fn handle(&self, req: http::Request<Incoming>) -> http::Response<Body> {
        let raw = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| req.uri().to_string());
        let target = match Target::parse(&raw, None) {
            Ok(t) => t,
            Err(e) => {
                return self.refuse(
                    "CONNECT",
                    Refusal {
                        target: raw,
                        reason: e.to_string(),
                        suggest: None,
                    },
                );
            }
        };
        let rule = match self.decide(&target) {
            Verdict::Inference => {
                let proxy = self.clone();
                tokio::spawn(async move {
                    match hyper::upgrade::on(req).await {
                        Ok(upgraded) => proxy.serve_inference(upgraded).await,
                        Err(err) => tracing::debug!(%err, "CONNECT upgrade failed"),
                    }
                });
                return http::Response::new(Body::empty());
            }
            Verdict::Deny { suggest } => {
                return self.refuse("CONNECT", not_allowed(&target, suggest));
            }
            Verdict::Allow(rule) => rule,
        };
        let started = Instant::now();
        let upstream = match self.open("CONNECT", &target, &rule).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let (sandbox, shown, idle) = (
            self.sandbox.clone(),
            target.to_string(),
            self.timeouts().idle,
        );
        let proxy = self.clone();
        tokio::spawn(async move {
            let relayed = match hyper::upgrade::on(req).await {
                Ok(upgraded) => egress::tunnel::relay(TokioIo::new(upgraded), upstream, idle).await,
                Err(err) => {
                    tracing::debug!(%err, "CONNECT upgrade failed");
                    return;
                }
            };
            proxy.log(&egress::Decision {
                sandbox: &sandbox,
                kind: "CONNECT",
                target: &shown,
                outcome: "allowed",
                rule: &rule.to_string(),
                bytes_up: relayed.up,
                bytes_down: relayed.down,
                duration_ms: started.elapsed().as_millis() as u64,
            });
        });
        http::Response::new(Body::empty())
    }

    /// Handles an absolute-form plain-HTTP request (`GET http://host/path`).
    pub async fn handle_http(&self, mut req: http::Request<Incoming>) -> http::Response<Body> {
        let raw = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        if req.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
            let reason = "only http:// URLs can be proxied in absolute form; use CONNECT for https"
                .to_owned();
            return self.refuse(
                "HTTP",
                Refusal {
                    target: req.uri().to_string(),
                    reason,
                    suggest: None,
                },
            );
        }
        let target = match Target::parse(&raw, Some(80)) {
            Ok(t) => t,
            Err(e) => {
                return self.refuse(
                    "HTTP",
                    Refusal {
                        target: raw,
                        reason: e.to_string(),
                        suggest: None,
                    },
                );
            }
        };
        let rule = match self.decide(&target) {
            Verdict::Allow(rule) => rule,
            Verdict::Inference => {
                let reason =
                    "the inference route is served over https only (https://inference.local/v1)"
                        .to_owned();
                return self.refuse(
                    "HTTP",
                    Refusal {
                        target: target.to_string(),
                        reason,
                        suggest: None,
                    },
                );
            }
            Verdict::Deny { suggest } => return self.refuse("HTTP", not_allowed(&target, suggest)),
        };
        let started = Instant::now();
        let upstream = match self.open("HTTP", &target, &rule).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = path.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
        strip_hop_by_hop(req.headers_mut());
        let result = async {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
        .await;
        let (outcome, resp) = match result {
            Ok(resp) => ("allowed", resp.map(Body::new)),
            Err(e) => (
                "failed",
                text(
                    http::StatusCode::BAD_GATEWAY,
                    format!("sandgate: {target}: {e}\n"),
                ),
            ),
        };
        self.log(&egress::Decision {
            sandbox: &self.sandbox,
            kind: "HTTP",
            target: &target.to_string(),
            outcome,
            rule: &rule.to_string(),
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        resp
    }

    /// Logs an egress decision and counts it.
    fn log(&self, d: &egress::Decision<'_>) {
        egress::log_decision(d);
        if let Some(e) = &self.egress {
            e.sandbox.shared.metrics.egress(d.sandbox, d.outcome);
        }
    }

    fn timeouts(&self) -> TunnelTimeouts {
        self.egress.as_ref().map(|e| e.timeouts).unwrap_or_default()
    }

    /// Resolves, guards and connects an allowed target; a refusal or failure is the response.
    async fn open(
        &self,
        kind: &'static str,
        target: &Target,
        rule: &Rule,
    ) -> Result<tokio::net::TcpStream, http::Response<Body>> {
        let Some(e) = &self.egress else {
            return Err(self.refuse(kind, not_allowed(target, None)));
        };
        let addrs = match e.resolver.vetted(target, rule.trusts_internal()).await {
            Ok(a) => a,
            Err(err @ egress::resolve::ResolveError::Internal { .. }) => {
                return Err(self.refuse(
                    kind,
                    Refusal {
                        target: target.to_string(),
                        reason: err.to_string(),
                        suggest: None,
                    },
                ));
            }
            Err(err) => return Err(self.failed(kind, target, rule, &err.to_string())),
        };
        egress::tunnel::connect(&addrs, e.timeouts.connect)
            .await
            .map_err(|err| {
                self.failed(
                    kind,
                    target,
                    rule,
                    &format!("cannot connect to {target}: {err}"),
                )
            })
    }

    fn failed(
        &self,
        kind: &'static str,
        target: &Target,
        rule: &Rule,
        why: &str,
    ) -> http::Response<Body> {
        self.log(&egress::Decision {
            sandbox: &self.sandbox,
            kind,
            target: &target.to_string(),
            outcome: "failed",
            rule: &format!("{rule}: {why}"),
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 0,
        });
        text(http::StatusCode::BAD_GATEWAY, format!("sandgate: {why}\n"))
    }

    fn refuse(&self, kind: &'static str, r: Refusal) -> http::Response<Body> {
        self.log(&egress::Decision {
            sandbox: &self.sandbox,
            kind,
            target: &r.target,
            outcome: "denied",
            rule: &r.reason,
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 0,
        });
        let remedy = match r.suggest {
            Some(p) => format!(
                "The `{p}` preset allows it: run `sandgate {} policy add {p}`",
                self.sandbox
            ),
            None => format!(
                "To allow it: run `sandgate {} policy add --host {}`",
                self.sandbox, r.target
            ),
        };
        let body = format!(
            "sandgate: egress to {} refused for sandbox {}: {}.\n{remedy}\n",
            r.target, self.sandbox, r.reason
        );
        if let Some(e) = &self.egress {
            e.sandbox.egress.record_denial(Denial {
                at_ms: e.sandbox.shared.now_ms(),
                target: r.target,
                reason: r.reason,
                suggest: r.suggest,
            });
        }
        text(http::StatusCode::FORBIDDEN, body)
    }

    async fn serve_inference(self, upgraded: hyper::upgrade::Upgraded) {
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

fn not_allowed(target: &Target, suggest: Option<egress::Preset>) -> Refusal {
    let reason = match suggest {
        Some(_) => "not in this sandbox's network policy".to_owned(),
        None => "no network policy of this sandbox allows it".to_owned(),
    };
    Refusal {
        target: target.to_string(),
        reason,
        suggest,
    }
}

/// Removes hop-by-hop and proxy headers before a request goes upstream.
fn strip_hop_by_hop(h: &mut http::HeaderMap) {
    let named: Vec<String> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for n in named {
        h.remove(n.as_str());
    }
    for n in [
        "connection",
        "proxy-connection",
        "proxy-authorization",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
    ] {
        h.remove(n);
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

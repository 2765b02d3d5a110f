//! The inference route on a sandbox's port: `/v1/*` served by `sandgate-providers`, bound to
//! this sandbox's current route.
//!
//! Two entrances share one router (the providers' [`InferenceService::router`], where the
//! path is matched) behind one layer ([`entrance`]): the direct API on the port, where the
//! sandbox token (`Authorization: Bearer …`) is checked once, and the `inference.local` TLS
//! tunnel of the CONNECT proxy, where the sandbox is known by the port it connected to.
//! The layer counts and times the request and puts the sandbox's route on it. The caller's
//! credentials are never forwarded: the route's own credential is injected upstream.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use http::StatusCode;
use sandgate_providers::{ErrorBody, InferenceService};

use crate::metrics::Surface;
use crate::sandbox::SandboxCtx;

mod observed;
use observed::observed;

/// `/v1/*` for the direct API (sandbox token required).
pub fn direct_router(ctx: Arc<SandboxCtx>, service: InferenceService) -> Router {
    service
        .router()
        .layer(from_fn_with_state((ctx, Surface::V1), entrance))
}

/// Everything inside the `inference.local` tunnel (the port identifies the sandbox).
pub fn tunnel_router(ctx: Arc<SandboxCtx>, service: InferenceService) -> Router {
    service
        .router()
        .layer(from_fn_with_state((ctx, Surface::Tunnel), entrance))
}

/// The one layer in front of the providers' router: every request is counted and timed;
/// on the direct API its sandbox token is checked; then the sandbox's route goes on it.
async fn entrance(
    State((ctx, surface)): State<(Arc<SandboxCtx>, Surface)>,
    req: Request,
    next: Next,
) -> Response {
    let inner = |mut req: Request| async {
        if surface == Surface::V1
            && let Some(refused) = token_refusal(&ctx, &req)
        {
            return refused;
        }
        req.extensions_mut().insert(ctx.route());
        next.run(req).await
    };
    observed(&ctx, surface, req, inner).await
}

/// Why the direct API refuses `req`'s sandbox token (`Authorization: Bearer …`, compared in
/// constant time), if it does.
fn token_refusal(ctx: &SandboxCtx, req: &Request) -> Option<Response> {
    let presented = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        None => Some(error(
            StatusCode::UNAUTHORIZED,
            "missing sandbox token: send `Authorization: Bearer <OPENCLAW_GATEWAY_TOKEN>`",
            "missing_token",
        )),
        Some(t) if !ctx.token_matches(t) => Some(error(
            StatusCode::UNAUTHORIZED,
            &format!(
                "invalid token for sandbox {}: use this sandbox's token (see `sandgate {} connect`)",
                ctx.name, ctx.name
            ),
            "invalid_token",
        )),
        Some(_) => None,
    }
}

/// An OpenAI-style error response, rendered by the providers' one renderer.
pub fn error(status: StatusCode, message: &str, code: &str) -> Response {
    ErrorBody::new(status, message, code).render(status)
}

//! The inference route on a sandbox's port: `/v1/*` served by `sandgate-providers`, bound to
//! this sandbox's current route.
//!
//! Two entrances share one handler: the direct API on the port, which requires the sandbox
//! token as `Authorization: Bearer …`, and the `inference.local` TLS tunnel of the CONNECT
//! proxy, where the sandbox is known by the port it connected to. Either way the caller's
//! credentials are never forwarded: the route's own credential is injected upstream.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use sandgate_providers::InferenceService;

use crate::sandbox::SandboxCtx;

/// State of the `/v1` routes of one sandbox.
#[derive(Clone, Debug)]
pub struct InferenceState {
    ctx: Arc<SandboxCtx>,
    service: InferenceService,
    require_token: bool,
}

/// `/v1/*` for the direct API (sandbox token required).
pub fn direct_router(ctx: Arc<SandboxCtx>, service: InferenceService) -> Router {
    router(InferenceState {
        ctx,
        service,
        require_token: true,
    })
}

/// Everything inside the `inference.local` tunnel (the port identifies the sandbox).
pub fn tunnel_router(ctx: Arc<SandboxCtx>, service: InferenceService) -> Router {
    router(InferenceState {
        ctx,
        service,
        require_token: false,
    })
}

fn router(state: InferenceState) -> Router {
    Router::new()
        .route("/v1/{*rest}", axum::routing::any(handle))
        .fallback(not_found)
        .with_state(state)
}

async fn handle(State(st): State<InferenceState>, req: Request) -> Response {
    if st.require_token {
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
            None => {
                return error(
                    http::StatusCode::UNAUTHORIZED,
                    "missing sandbox token: send `Authorization: Bearer <OPENCLAW_GATEWAY_TOKEN>`",
                    "missing_token",
                );
            }
            Some(t) if !st.ctx.token_matches(t) => {
                return error(
                    http::StatusCode::UNAUTHORIZED,
                    &format!(
                        "invalid token for sandbox {}: use this sandbox's token (see `sandgate {} connect`)",
                        st.ctx.name, st.ctx.name
                    ),
                    "invalid_token",
                );
            }
            Some(_) => {}
        }
    }
    let route = st.ctx.route();
    st.service.handle(&route, req).await
}

async fn not_found(req: Request) -> Response {
    error(
        http::StatusCode::NOT_FOUND,
        &format!(
            "no such endpoint: {} {} (inference.local serves /v1/chat/completions, /v1/models, /v1/embeddings)",
            req.method(),
            req.uri().path()
        ),
        "not_found",
    )
}

/// An OpenAI-style error response.
pub fn error(status: http::StatusCode, message: &str, code: &str) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}});
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

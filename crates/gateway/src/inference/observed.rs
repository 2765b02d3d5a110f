//! The metrics layer of the inference routes: status class and latency of every request,
//! first-token time and usage through the providers' [`Observer`] hook, and the last error's
//! message (read from the small JSON error body).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http_body_util::{BodyExt, Limited};
use sandgate_providers::{InferenceObserver, Observer, Usage};

use crate::metrics::{Metrics, Surface};
use crate::sandbox::SandboxCtx;

/// Error bodies are read up to this size to take their message.
const ERROR_BODY_MAX: usize = 64 * 1024;

#[derive(Debug)]
struct Watch {
    metrics: Arc<Metrics>,
    sandbox: String,
    surface: Surface,
    started: Instant,
}

impl InferenceObserver for Watch {
    fn first_token(&self) {
        let secs = self.started.elapsed().as_secs_f64();
        self.metrics.first_token(&self.sandbox, self.surface, secs);
    }

    fn usage(&self, u: &Usage) {
        let (input, output) = (u.prompt_tokens, u.completion_tokens);
        self.metrics
            .tokens(&self.sandbox, self.surface, input, output);
    }
}

/// Counts and times one inference request of `ctx` on `surface`, served by `inner`.
pub(super) async fn observed<F, Fut>(
    ctx: &SandboxCtx,
    surface: Surface,
    mut req: Request,
    inner: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    let metrics = ctx.shared.metrics.clone();
    let watch = Watch {
        metrics: metrics.clone(),
        sandbox: ctx.name.clone(),
        surface,
        started,
    };
    req.extensions_mut().insert(Observer(Arc::new(watch)));
    let path = req.uri().path().to_owned();
    let resp = inner(req).await;
    let status = resp.status();
    metrics.latency(&ctx.name, surface, started.elapsed().as_secs_f64());
    metrics.request(&ctx.name, surface, status.as_u16());
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match Limited::new(body, ERROR_BODY_MAX).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            parts.headers.remove(http::header::CONTENT_LENGTH);
            bytes::Bytes::new()
        }
    };
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let what = format!("{} {path}: {status}: {message}", surface.as_str());
    metrics.error(&ctx.name, ctx.shared.now_ms(), what);
    Response::from_parts(parts, Body::from(bytes))
}

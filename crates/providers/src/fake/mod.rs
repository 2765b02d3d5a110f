//! Fake upstream servers — **test equipment**, not a provider.
//!
//! A [`FakeUpstream`] is a real HTTP server on `127.0.0.1` (port 0 by default) that speaks
//! one provider's native wire format ([`FakeKind`]) well enough to exercise the adapters:
//! chat (buffered and streamed), model listing, embeddings (except Anthropic), its
//! provider's auth header and error shapes. Tests in this and other crates, the demo and
//! the benchmarks use it; it never touches the network beyond loopback.
//!
//! Every reply is marked with the fake's label: the text is
//! `"[fake-<kind>:<label>] token1 token2 … tokenN"`, streamed one word per chunk with the
//! configured latency before each chunk, so a test can prove which upstream answered.
//! When the request offers tools and holds no tool result yet, the fake calls the first
//! tool instead (agents such as OpenClaw append context after a tool result, so "the last
//! message is a tool result" would loop), with arguments `{"label": <label>, "input": <last user text>}`.
//! Usage: prompt tokens = words in the request's texts; completion tokens = words replied.
//!
//! Every request is counted and recorded ([`FakeUpstream::requests`]) before anything else,
//! so tests can assert that nothing was forwarded, which headers arrived and what body.
//! Injected [`Failure`]s simulate broken upstreams. The server stops when the
//! [`FakeUpstream`] is dropped (or on [`FakeUpstream::shutdown`]); hanging requests are
//! released at that moment.

mod anthropic;
mod gemini;
mod ollama;
mod openai;
mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::serve::ListenerExt;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::kind::ProviderKind;
use crate::route::{Credential, Route};

/// Which native wire format a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeKind {
    /// OpenAI chat completions under `/v1`.
    OpenAi,
    /// Ollama native under `/api`.
    Ollama,
    /// Gemini native under `/v1beta`.
    Gemini,
    /// Anthropic messages under `/v1`.
    Anthropic,
}

impl FakeKind {
    /// Short name used in reply labels (`openai`, `ollama`, `gemini`, `anthropic`).
    pub fn as_str(self) -> &'static str {
        match self {
            FakeKind::OpenAi => "openai",
            FakeKind::Ollama => "ollama",
            FakeKind::Gemini => "gemini",
            FakeKind::Anthropic => "anthropic",
        }
    }

    /// The provider whose native API this fake imitates.
    pub fn provider_kind(self) -> ProviderKind {
        match self {
            FakeKind::OpenAi => ProviderKind::OpenAiApi,
            FakeKind::Ollama => ProviderKind::OllamaLocal,
            FakeKind::Gemini => ProviderKind::GeminiApi,
            FakeKind::Anthropic => ProviderKind::AnthropicProd,
        }
    }
}

impl fmt::Display for FakeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FakeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" => Ok(FakeKind::OpenAi),
            "ollama" => Ok(FakeKind::Ollama),
            "gemini" => Ok(FakeKind::Gemini),
            "anthropic" => Ok(FakeKind::Anthropic),
            other => Err(format!(
                "unknown fake kind `{other}`; valid: openai, ollama, gemini, anthropic"
            )),
        }
    }
}

/// A failure the fake injects into chat requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Behave.
    None,
    /// Answer with this status and the provider's error shape.
    Status5xx(u16),
    /// Never answer (until the fake shuts down).
    Timeout,
    /// Send this many stream chunks, then break the connection.
    CutStream(usize),
    /// Send this many stream chunks, then go silent without closing (idle timeout bait).
    Stall(usize),
}

/// Configuration of a fake upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Wire format.
    pub kind: FakeKind,
    /// Marks every reply.
    pub label: String,
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Delay before each streamed chunk (and per word for buffered replies).
    pub latency: Duration,
    /// Number of `tokenN` words after the label.
    pub tokens: usize,
    /// Credential the fake requires in its provider's auth header.
    pub credential: Option<String>,
    /// Injected failure for chat requests.
    pub failure: Failure,
    /// Model ids the fake lists.
    pub models: Vec<String>,
}

impl FakeConfig {
    /// Defaults: label `fake`, port 0, no latency, 4 tokens, no credential, no failure.
    pub fn new(kind: FakeKind) -> Self {
        Self {
            kind,
            label: "fake".to_string(),
            port: 0,
            latency: Duration::ZERO,
            tokens: 4,
            credential: None,
            failure: Failure::None,
            models: vec!["fake-model-a".to_string(), "fake-model-b".to_string()],
        }
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the per-chunk latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the number of filler tokens.
    pub fn tokens(mut self, tokens: usize) -> Self {
        self.tokens = tokens;
        self
    }

    /// Requires this credential.
    pub fn credential(mut self, credential: impl Into<String>) -> Self {
        self.credential = Some(credential.into());
        self
    }

    /// Injects a failure.
    pub fn failure(mut self, failure: Failure) -> Self {
        self.failure = failure;
        self
    }

    /// Sets the port (0 = any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Starts the server.
    pub async fn spawn(self) -> std::io::Result<FakeUpstream> {
        FakeUpstream::spawn(self).await
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub(crate) struct State {
    config: Mutex<FakeConfig>,
    count: AtomicUsize,
    recorded: Mutex<Vec<RecordedRequest>>,
    pub(crate) shutdown: CancellationToken,
}

impl State {
    pub(crate) fn config(&self) -> FakeConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A running fake upstream. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    kind: FakeKind,
    state: Arc<State>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("count", &self.count.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl FakeUpstream {
    /// Binds `127.0.0.1:<port>` and serves until dropped.
    pub async fn spawn(config: FakeConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        // Small stream frames must leave at once, not wait for Nagle + delayed ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "fake upstream: TCP_NODELAY not set");
            }
        });
        let kind = config.kind;
        let state = Arc::new(State {
            config: Mutex::new(config),
            count: AtomicUsize::new(0),
            recorded: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
        });
        let st = state.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let st = st.clone();
            async move { handle(st, req).await }
        });
        let token = state.shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "fake upstream stopped with an error");
            }
        });
        Ok(Self { addr, kind, state })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The wire format.
    pub fn kind(&self) -> FakeKind {
        self.kind
    }

    /// The base URL to put in a route's endpoint (matching the provider's profile shape).
    pub fn base_url(&self) -> String {
        let root = format!("http://{}", self.addr);
        match self.kind {
            FakeKind::OpenAi => format!("{root}/v1"),
            FakeKind::Gemini => format!("{root}/v1beta"),
            FakeKind::Ollama | FakeKind::Anthropic => root,
        }
    }

    /// A route to this fake for its provider kind, with short test-friendly timeouts (5 s
    /// buffered/head, 5 s idle) and the credential the fake requires — or, when it requires
    /// none but the provider's profile does, a placeholder `fake-key` it accepts.
    pub fn route(&self, model: &str) -> Route {
        let kind = self.kind.provider_kind();
        let mut route = Route::new(kind, model)
            .with_endpoint(self.base_url())
            .with_timeout(Duration::from_secs(5))
            .with_idle_timeout(Duration::from_secs(5));
        match self.state.config().credential {
            Some(cred) => route = route.with_credential(Credential::new(cred)),
            None if kind.profile().credential_required => {
                route = route.with_credential(Credential::new("fake-key"));
            }
            None => {}
        }
        route
    }

    /// Number of requests received so far (all paths, including rejected ones).
    pub fn request_count(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.requests().pop()
    }

    /// Changes the injected failure for later requests.
    pub fn set_failure(&self, failure: Failure) {
        self.state
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure = failure;
    }

    /// Stops the server and releases hanging requests.
    pub fn shutdown(&self) {
        self.state.shutdown.cancel();
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// What one fake call sees: config, method, path, query, headers, JSON body.
pub(crate) struct Call {
    pub cfg: FakeConfig,
    pub method: http::Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub shutdown: CancellationToken,
}

impl Call {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }

    /// Parks until shutdown (for [`Failure::Timeout`]).
    pub(crate) async fn hang(&self) {
        self.shutdown.cancelled().await;
    }
}

async fn handle(state: Arc<State>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, 64 * 1024 * 1024)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    };
    state.count.fetch_add(1, Ordering::SeqCst);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    state
        .recorded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(RecordedRequest {
            method: parts.method.to_string(),
            path: path_and_query,
            headers,
            body: bytes.clone(),
        });
    let call = Call {
        cfg: state.config(),
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        shutdown: state.shutdown.clone(),
    };
    match call.cfg.kind {
        FakeKind::OpenAi => openai::handle(call).await,
        FakeKind::Ollama => ollama::handle(call).await,
        FakeKind::Gemini => gemini::handle(call).await,
        FakeKind::Anthropic => anthropic::handle(call).await,
    }
}

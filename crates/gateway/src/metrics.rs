//! The gateway's Prometheus metrics: one registry, its metric families, the scrape, and the
//! per-sandbox usage summary (`sandgate <name> status`) read from the same counters.
//!
//! Every family is labelled by `sandbox`; inference families also by `surface` (`ws` agent
//! turns, the direct `v1` API, the `inference.local` `tunnel`). See the crate README for the
//! table of names.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use serde::{Deserialize, Serialize};

/// Where an inference request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// An agent turn over the WebSocket gateway.
    Ws,
    /// The direct `/v1` API on the sandbox's port.
    V1,
    /// `https://inference.local/v1` through the CONNECT proxy.
    Tunnel,
}

impl Surface {
    /// The `surface` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Ws => "ws",
            Surface::V1 => "v1",
            Surface::Tunnel => "tunnel",
        }
    }
}

/// The most recent failed request of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Surface and status, then the error message.
    pub message: String,
}

/// A sandbox's inference usage since the gateway started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxUsage {
    /// Inference requests (agent turns included), all surfaces.
    pub requests: u64,
    /// Of which answered 4xx or 5xx.
    pub errors: u64,
    /// Input (prompt) tokens the upstream reported.
    pub input_tokens: u64,
    /// Output (completion) tokens the upstream reported.
    pub output_tokens: u64,
    /// The last failure, if any.
    pub last_error: Option<LastError>,
}

/// Registry construction failed (a duplicate or malformed family: a programming error).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The registry and every metric family of one gateway.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    ttft: HistogramVec,
    tokens: IntCounterVec,
    connections: IntGaugeVec,
    sessions: IntGaugeVec,
    pairing: IntCounterVec,
    refusals: IntCounterVec,
    egress: IntCounterVec,
    rss: IntGauge,
    fds: IntGauge,
    uptime: Gauge,
    started: Instant,
    last_errors: Mutex<HashMap<String, LastError>>,
}

/// Latency buckets (seconds): 5 ms to ~80 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0,
];

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, MetricsError> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(r: &Registry, name: &str, help: &str) -> Result<HistogramVec, MetricsError> {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let h = HistogramVec::new(opts, &["sandbox", "surface"])?;
    r.register(Box::new(h.clone()))?;
    Ok(h)
}

/// `2xx`, `4xx`, … of an HTTP status.
pub fn code_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

impl Metrics {
    /// A registry with every family (and the process metrics) registered.
    pub fn new() -> Result<Metrics, MetricsError> {
        let r = Registry::new();
        let start = IntGauge::new(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
        )?;
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        start.set(i64::try_from(since_epoch).unwrap_or(i64::MAX));
        r.register(Box::new(start))?;
        let rss = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )?;
        r.register(Box::new(rss.clone()))?;
        let fds = IntGauge::new("process_open_fds", "Number of open file descriptors.")?;
        r.register(Box::new(fds.clone()))?;
        let uptime = Gauge::new(
            "sandgate_uptime_seconds",
            "Seconds since the gateway started.",
        )?;
        r.register(Box::new(uptime.clone()))?;
        Ok(Metrics {
            requests: counter(
                &r,
                "sandgate_requests_total",
                "Inference requests (agent turns included) by HTTP status class.",
                &["sandbox", "surface", "code_class"],
            )?,
            latency: histogram(
                &r,
                "sandgate_upstream_latency_seconds",
                "Time from an inference request to the upstream's answer head (the whole answer when buffered).",
            )?,
            ttft: histogram(
                &r,
                "sandgate_time_to_first_token_seconds",
                "Time from a streamed inference request to its first content.",
            )?,
            tokens: counter(
                &r,
                "sandgate_tokens_total",
                "Tokens the upstream reported, by direction (input or output).",
                &["sandbox", "surface", "direction"],
            )?,
            connections: gauge(
                &r,
                "sandgate_connections",
                "Open TCP connections of a sandbox's port (sessions and tunnels included).",
                &["sandbox"],
            )?,
            sessions: gauge(
                &r,
                "sandgate_ws_sessions",
                "Established WebSocket sessions.",
                &["sandbox"],
            )?,
            pairing: counter(
                &r,
                "sandgate_pairing_decisions_total",
                "Pairing decisions at connect, by outcome.",
                &["sandbox", "outcome"],
            )?,
            refusals: counter(
                &r,
                "sandgate_handshake_refusals_total",
                "Refused WebSocket handshakes, by detail code.",
                &["sandbox", "detail_code"],
            )?,
            egress: counter(
                &r,
                "sandgate_egress_decisions_total",
                "Egress proxy decisions (allowed, denied, failed).",
                &["sandbox", "decision"],
            )?,
            registry: r,
            rss,
            fds,
            uptime,
            started: Instant::now(),
            last_errors: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one finished inference request with its HTTP status.
    pub fn request(&self, sandbox: &str, surface: Surface, status: u16) {
        self.requests
            .with_label_values(&[sandbox, surface.as_str(), &code_class(status)])
            .inc();
    }

    /// Records the time to the upstream's answer head.
    pub fn latency(&self, sandbox: &str, surface: Surface, seconds: f64) {
        self.latency
            .with_label_values(&[sandbox, surface.as_str()])
            .observe(seconds);
    }

    /// Records the time to a stream's first content.
    pub fn first_token(&self, sandbox: &str, surface: Surface, seconds: f64) {
        self.ttft
            .with_label_values(&[sandbox, surface.as_str()])
            .observe(seconds);
    }

    /// Adds reported token usage.
    pub fn tokens(&self, sandbox: &str, surface: Surface, input: u64, output: u64) {
        let s = surface.as_str();
        self.tokens
            .with_label_values(&[sandbox, s, "input"])
            .inc_by(input);
        self.tokens
            .with_label_values(&[sandbox, s, "output"])
            .inc_by(output);
    }

    /// Remembers a sandbox's latest failure.
    pub fn error(&self, sandbox: &str, at_ms: u64, message: String) {
        if let Ok(mut m) = self.last_errors.lock() {
            m.insert(sandbox.to_owned(), LastError { at_ms, message });
        }
    }

    /// The open-connections gauge of a sandbox (held by its listeners' connection cap).
    pub fn connections(&self, sandbox: &str) -> IntGauge {
        self.connections.with_label_values(&[sandbox])
    }

    /// The WebSocket-sessions gauge of a sandbox.
    pub fn sessions(&self, sandbox: &str) -> IntGauge {
        self.sessions.with_label_values(&[sandbox])
    }

    /// Counts a pairing decision (`approved`, `partially_granted`, `pairing_required`, `error`).
    pub fn pairing(&self, sandbox: &str, outcome: &str) {
        self.pairing.with_label_values(&[sandbox, outcome]).inc();
    }

    /// Counts a refused handshake by its detail code.
    pub fn refusal(&self, sandbox: &str, detail_code: &str) {
        self.refusals
            .with_label_values(&[sandbox, detail_code])
            .inc();
    }

    /// Counts an egress decision.
    pub fn egress(&self, sandbox: &str, decision: &str) {
        self.egress.with_label_values(&[sandbox, decision]).inc();
    }

    /// Drops every series of a destroyed sandbox.
    pub fn forget(&self, sandbox: &str) {
        for family in self.registry.gather() {
            for m in family.get_metric() {
                let labels: HashMap<&str, &str> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                if labels.get("sandbox") != Some(&sandbox) {
                    continue;
                }
                let _ = match family.name() {
                    "sandgate_requests_total" => self.requests.remove(&labels),
                    "sandgate_upstream_latency_seconds" => self.latency.remove(&labels),
                    "sandgate_time_to_first_token_seconds" => self.ttft.remove(&labels),
                    "sandgate_tokens_total" => self.tokens.remove(&labels),
                    "sandgate_connections" => self.connections.remove(&labels),
                    "sandgate_ws_sessions" => self.sessions.remove(&labels),
                    "sandgate_pairing_decisions_total" => self.pairing.remove(&labels),
                    "sandgate_handshake_refusals_total" => self.refusals.remove(&labels),
                    "sandgate_egress_decisions_total" => self.egress.remove(&labels),
                    _ => Ok(()),
                };
            }
        }
        if let Ok(mut m) = self.last_errors.lock() {
            m.remove(sandbox);
        }
    }

    /// A sandbox's usage since the gateway started (read from the counters above).
    pub fn usage(&self, sandbox: &str) -> SandboxUsage {
        let mut u = SandboxUsage::default();
        for family in [&self.requests, &self.tokens].map(Collector::collect) {
            for fam in family {
                for m in fam.get_metric() {
                    let label = |n: &str| {
                        m.get_label()
                            .iter()
                            .find(|l| l.name() == n)
                            .map(|l| l.value().to_owned())
                    };
                    if label("sandbox").as_deref() != Some(sandbox) {
                        continue;
                    }
                    let v = m.get_counter().get_value() as u64;
                    match (
                        label("code_class").as_deref(),
                        label("direction").as_deref(),
                    ) {
                        (Some(class), _) => {
                            u.requests += v;
                            if class == "4xx" || class == "5xx" {
                                u.errors += v;
                            }
                        }
                        (_, Some("input")) => u.input_tokens += v,
                        (_, Some("output")) => u.output_tokens += v,
                        _ => {}
                    }
                }
            }
        }
        u.last_error = self
            .last_errors
            .lock()
            .ok()
            .and_then(|m| m.get(sandbox).cloned());
        u
    }

    /// The exposition in the Prometheus text format (0.0.4), process metrics refreshed.
    pub fn encode(&self) -> String {
        self.refresh_process();
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    fn refresh_process(&self) {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        if let Some(rss) = resident_bytes() {
            self.rss.set(rss);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries.
            self.fds.set(dir.count().saturating_sub(1) as i64);
        }
    }
}

/// Resident set size from `/proc/self/status` (`VmRSS`, in kB).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` for a host-only listener.
pub fn router(metrics: std::sync::Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, CONTENT_TYPE)],
                    metrics.encode(),
                )
                    .into_response()
            }
        }),
    )
}

//! Upstream faults through the gateway, for every adapter (OpenAI-compatible, Ollama, Gemini,
//! Anthropic): 5xx, 429 with `Retry-After`, connect refused, timeout before headers, stall
//! mid-stream, cut stream, malformed chunk, an over-long line and a slow trickle. Each must
//! reach the caller as a clean typed error — an HTTP status with an OpenAI error body, or, once
//! a stream has begun, one SSE error event followed by `[DONE]` — bounded by the gateway's
//! configured upstream timeouts, while another sandbox's concurrent traffic is unaffected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use faults::{Fault, Scripted, WIRES, Wire};
use sandgate_gateway::{Gateway, GatewayOptions, RouteSpec, SandboxInfo};
use serde_json::{Value, json};

/// The gateway's upstream timeouts in this test (head / buffered, and idle within a stream).
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Stream faults: the first piece arrives, then this.
const STREAM_FAULTS: [Fault; 5] = [
    Fault::StallMidStream,
    Fault::CutStream,
    Fault::Malformed,
    // Above the providers' 8 MiB line / body cap.
    Fault::OverlongLine(9 * 1024 * 1024),
    // A byte every 100 ms never trips a per-byte idle timer; no line is ever completed.
    Fault::Trickle(Duration::from_millis(100)),
];

fn http() -> reqwest::Client {
    // A bound so that a hang fails the test instead of blocking it; far above the gateway's
    // configured timeouts, so it is not a timing assertion.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn chat(info: &SandboxInfo, stream: bool) -> reqwest::Response {
    http()
        .post(format!(
            "http://127.0.0.1:{}/v1/chat/completions",
            info.port
        ))
        .bearer_auth(&info.token)
        .json(&json!({
            "model": "any",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": stream,
        }))
        .send()
        .await
        .expect("the gateway answers within the client's bound")
}

/// An OpenAI error body: `{"error": {"message": non-empty, "type": non-empty, …}}`.
fn assert_error_body(v: &Value, what: &str) {
    let e = &v["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: no error.message in {v}"
    );
    assert!(
        e["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: no error.type in {v}"
    );
}

/// An error status with an OpenAI error body; returns the response headers.
async fn expect_status(
    resp: reqwest::Response,
    want: u16,
    what: &str,
) -> reqwest::header::HeaderMap {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap();
    assert_eq!(status, want, "{what}: body {body}");
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {body}"));
    assert_error_body(&v, what);
    headers
}

/// A stream that began (first piece relayed), then one error event, then `[DONE]`, nothing else.
async fn expect_stream_error(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status().as_u16(), 200, "{what}");
    let body = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: the stream did not end cleanly: {e}"));
    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    assert!(events.len() >= 3, "{what}: {body}");
    let first: Value = serde_json::from_str(events[0].trim_start_matches("data: ")).unwrap();
    assert_eq!(
        first["choices"][0]["delta"]["content"], "hi",
        "{what}: {body}"
    );
    let n = events.len();
    assert_eq!(events[n - 1], "data: [DONE]", "{what}: {body}");
    let err: Value = serde_json::from_str(events[n - 2].trim_start_matches("data: "))
        .unwrap_or_else(|e| panic!("{what}: the last event is not JSON ({e}): {body}"));
    assert_error_body(&err, what);
    for ev in &events[1..n - 2] {
        assert!(
            !ev.contains("\"error\""),
            "{what}: more than one error: {body}"
        );
    }
}

fn spec(wire: Wire, endpoint: String) -> RouteSpec {
    RouteSpec {
        provider: wire.provider(),
        model: "m".into(),
        endpoint: Some(endpoint),
        credential: Some("k".into()),
        credential_env: None,
    }
}

/// Another sandbox streaming on the mock provider the whole time; every turn must succeed.
fn calm_traffic(
    info: SandboxInfo,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let resp = chat(&info, true).await;
            assert_eq!(resp.status().as_u16(), 200);
            let body = resp.text().await.unwrap();
            assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
            assert!(
                !body.contains("\"error\""),
                "calm sandbox hit an error: {body}"
            );
            ok.fetch_add(1, Ordering::SeqCst);
        }
    })
}

async fn gateway(dir: &std::path::Path) -> Gateway {
    let mut opts = GatewayOptions::new(dir);
    opts.upstream_timeout = HEAD_TIMEOUT;
    opts.upstream_idle_timeout = IDLE_TIMEOUT;
    Gateway::open(opts).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_turns_every_upstream_fault_into_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path()).await;
    let calm = common::mock_sandbox(&gw, "calm", "mock-calm").await;
    let (stop, ok) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let traffic = calm_traffic(calm, stop.clone(), ok.clone());

    let mut cases = 0;
    for wire in WIRES {
        let name = format!("{wire:?}").to_ascii_lowercase();
        let placeholder = Scripted::spawn(wire, Fault::Status(500)).await;
        let info = common::sandbox(&gw, &name, spec(wire, wire.endpoint(&placeholder.addr))).await;
        let set = |addr: String| {
            let gw = &gw;
            let name = name.clone();
            async move {
                gw.set_route(&name, spec(wire, wire.endpoint(&addr)))
                    .await
                    .unwrap()
            }
        };

        // Status faults: an error status with an OpenAI body, streamed or not.
        for stream in [false, true] {
            let what = format!("{wire:?} 503 stream={stream}");
            let up = Scripted::spawn(wire, Fault::Status(503)).await;
            set(up.addr.clone()).await;
            let status = chat(&info, stream).await.status().as_u16();
            assert!((500..600).contains(&status), "{what}: {status}");
            expect_status(chat(&info, stream).await, status, &what).await;

            let what = format!("{wire:?} 429 stream={stream}");
            let up = Scripted::spawn(wire, Fault::RateLimited(7)).await;
            set(up.addr.clone()).await;
            let headers = expect_status(chat(&info, stream).await, 429, &what).await;
            assert_eq!(
                headers.get("retry-after").and_then(|v| v.to_str().ok()),
                Some("7"),
                "{what}: Retry-After is passed on"
            );

            let what = format!("{wire:?} refused stream={stream}");
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = closed.local_addr().unwrap().to_string();
            drop(closed);
            set(addr).await;
            expect_status(chat(&info, stream).await, 502, &what).await;

            let what = format!("{wire:?} no head stream={stream}");
            let up = Scripted::spawn(wire, Fault::HangBeforeHead).await;
            set(up.addr.clone()).await;
            expect_status(chat(&info, stream).await, 504, &what).await;
            cases += 4;
        }

        // Faults after the stream began: one SSE error event, then [DONE]; buffered: a status.
        for fault in STREAM_FAULTS {
            let up = Scripted::spawn(wire, fault).await;
            set(up.addr.clone()).await;
            let what = format!("{wire:?} {fault:?} stream=true");
            expect_stream_error(chat(&info, true).await, &what).await;
            let what = format!("{wire:?} {fault:?} stream=false");
            let resp = chat(&info, false).await;
            let status = resp.status().as_u16();
            assert!(matches!(status, 502 | 504), "{what}: {status}");
            expect_status(resp, status, &what).await;
            cases += 2;
        }
    }

    stop.store(true, Ordering::SeqCst);
    traffic
        .await
        .expect("the calm sandbox's traffic never failed");
    assert!(ok.load(Ordering::SeqCst) > 0);
    println!(
        "upstream_faults: {cases} fault cases; {} concurrent turns on another sandbox, all clean",
        ok.load(Ordering::SeqCst)
    );
}

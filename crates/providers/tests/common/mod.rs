//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod contract;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sandgate_providers::fake::{FakeConfig, FakeKind, FakeUpstream};
use sandgate_providers::{InferenceClient, InferenceService, Limits, Route};
use serde_json::{Value, json};

/// A service with default limits.
pub fn service() -> InferenceService {
    InferenceService::new(InferenceClient::new().unwrap())
}

/// A service with a small request cap.
pub fn service_with_request_cap(cap: usize) -> InferenceService {
    let limits = Limits {
        max_request_body: cap,
        ..Limits::default()
    };
    InferenceService::new(InferenceClient::with_limits(limits).unwrap())
}

pub async fn fake(cfg: FakeConfig) -> FakeUpstream {
    cfg.spawn().await.unwrap()
}

pub async fn fake_kind(kind: FakeKind, label: &str) -> FakeUpstream {
    fake(FakeConfig::new(kind).label(label)).await
}

/// The answer of one request through the service.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `data:` payloads of an SSE body, in order.
    pub fn sse_data(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.body);
        assert!(
            text.ends_with("\n\n"),
            "SSE body must end with a blank line: {text:?}"
        );
        text.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                f.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("frame without data: {f:?}"))
                    .to_string()
            })
            .collect()
    }

    /// The SSE payloads parsed as JSON, `[DONE]` excluded (asserted to be last).
    pub fn sse_json(&self) -> Vec<Value> {
        let data = self.sse_data();
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
        data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    /// Concatenated `delta.content` of an SSE body.
    pub fn sse_text(&self) -> String {
        self.sse_json()
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }
}

pub async fn send(
    svc: &InferenceService,
    route: &Route,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder.body(body.into()).unwrap();
    let resp = svc.handle(route, req).await;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = tokio::time::timeout(Duration::from_secs(20), resp.into_body().collect())
        .await
        .expect("response body did not finish")
        .unwrap()
        .to_bytes();
    Answer {
        status,
        content_type,
        body,
    }
}

/// `POST /v1/chat/completions` with a JSON body and a sandbox-side Authorization header
/// (which must never reach the upstream).
pub async fn chat(svc: &InferenceService, route: &Route, body: Value) -> Answer {
    send(
        svc,
        route,
        "POST",
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sandbox-own-token"),
            ("x-api-key", "sandbox-own-key"),
        ],
        body.to_string(),
    )
    .await
}

pub fn user(text: &str) -> Value {
    json!({"model": "caller-picked-model", "messages": [{"role": "user", "content": text}]})
}

pub fn user_stream(text: &str, include_usage: bool) -> Value {
    let mut v = user(text);
    v["stream"] = json!(true);
    if include_usage {
        v["stream_options"] = json!({"include_usage": true});
    }
    v
}

pub fn with_tools(mut v: Value) -> Value {
    v["tools"] = json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }
    }]);
    v
}

/// A conversation that already went through a tool call and now carries its result.
pub fn tool_result_conversation() -> Value {
    json!({
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":21}"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    })
}

/// Asserts the error JSON shape and code.
pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        answer.status.as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let v = answer.json();
    assert_eq!(
        v.pointer("/error/code").and_then(Value::as_str),
        Some(code),
        "{v}"
    );
    assert!(
        v.pointer("/error/message")
            .and_then(Value::as_str)
            .is_some(),
        "{v}"
    );
    assert!(
        v.pointer("/error/type").and_then(Value::as_str).is_some(),
        "{v}"
    );
}

/// Asserts the SSE body ends with an error event followed by `[DONE]`; returns the error code.
pub fn sse_error_code(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK);
    let data = answer.sse_data();
    assert!(data.len() >= 2, "{data:?}");
    assert_eq!(data[data.len() - 1], "[DONE]");
    let err: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    err.pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("last event before [DONE] is not an error: {err}"))
        .to_string()
}

/// Short timeouts for failure tests.
pub fn short(route: Route) -> Route {
    route
        .with_timeout(Duration::from_millis(300))
        .with_idle_timeout(Duration::from_millis(300))
}

/// The `(event, data)` pairs of a named-event SSE body (Responses, Anthropic Messages).
pub fn named_events(answer: &Answer) -> Vec<(String, Value)> {
    let text = String::from_utf8_lossy(&answer.body);
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let v: Value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("bad event data ({e}): {frame:?}"));
            (name, v)
        })
        .collect()
}

/// One route on each native adapter's fake (OpenAI-compatible, Ollama, Gemini, Anthropic)
/// and the mock, each with what its answer text contains.
pub async fn every_route() -> (Vec<FakeUpstream>, Vec<(Route, String)>) {
    let mut fakes = Vec::new();
    let mut routes = Vec::new();
    for kind in [
        FakeKind::OpenAi,
        FakeKind::Ollama,
        FakeKind::Gemini,
        FakeKind::Anthropic,
    ] {
        let f = fake_kind(kind, "lbl").await;
        routes.push((f.route("route-model"), format!("[fake-{kind}:lbl]")));
        fakes.push(f);
    }
    let mock =
        Route::new(sandgate_providers::ProviderKind::Mock, "route-model").with_endpoint("mock://");
    routes.push((mock, "mock reply to".to_string()));
    (fakes, routes)
}

/// `POST path` with a JSON body and caller credentials that must never reach upstream.
pub async fn post(svc: &InferenceService, route: &Route, path: &str, body: &Value) -> Answer {
    send(
        svc,
        route,
        "POST",
        path,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sandbox-own-token"),
            ("x-api-key", "sandbox-own-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string(),
    )
    .await
}

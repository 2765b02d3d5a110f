//! The adapter contract, run against each fake upstream over loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use sandgate_providers::Credential;
use sandgate_providers::fake::{Failure, FakeConfig, FakeKind, FakeUpstream, RecordedRequest};
use serde_json::Value;

use super::*;

pub const ROUTE_MODEL: &str = "route-model";

/// The model the upstream was asked for.
pub fn upstream_model(kind: FakeKind, req: &RecordedRequest) -> String {
    match kind {
        FakeKind::Gemini => req
            .path
            .split("/models/")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or("")
            .to_string(),
        _ => req.json()["model"].as_str().unwrap_or("").to_string(),
    }
}

/// No sandbox credential reached the upstream, on any request.
pub fn assert_no_sandbox_credentials(fake: &FakeUpstream) {
    for req in fake.requests() {
        for (name, value) in &req.headers {
            assert!(
                !value.contains("sandbox-own"),
                "sandbox credential forwarded in header {name}: {value}"
            );
        }
    }
}

fn expected_text(kind: FakeKind, label: &str, tokens: usize) -> String {
    let mut s = format!("[fake-{kind}:{label}]");
    for i in 1..=tokens {
        s.push_str(&format!(" token{i}"));
    }
    s
}

pub async fn non_stream(kind: FakeKind) {
    let fake = fake(FakeConfig::new(kind).label("alpha").tokens(3)).await;
    let route = fake.route(ROUTE_MODEL);
    let a = chat(&service(), &route, user("hello there")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], ROUTE_MODEL);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        expected_text(kind, "alpha", 3)
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["total_tokens"], 6);
    assert_eq!(fake.request_count(), 1);
    let req = fake.last_request().unwrap();
    assert_eq!(
        upstream_model(kind, &req),
        ROUTE_MODEL,
        "model must be forced"
    );
    assert_no_sandbox_credentials(&fake);
}

pub async fn stream(kind: FakeKind, include_usage: bool) {
    let fake = fake(FakeConfig::new(kind).label("beta").tokens(5)).await;
    let route = fake.route(ROUTE_MODEL);
    let a = chat(&service(), &route, user_stream("hi", include_usage)).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.content_type.starts_with("text/event-stream"));
    assert_eq!(a.sse_text(), expected_text(kind, "beta", 5));
    let chunks = a.sse_json();
    assert!(chunks.len() >= 6, "one chunk per word at least: {chunks:?}");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], ROUTE_MODEL);
        assert_eq!(c["id"], chunks[0]["id"], "one id per stream");
    }
    let finishes: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec![&Value::from("stop")]);
    let usage_chunks: Vec<&Value> = chunks
        .iter()
        .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
        .collect();
    if include_usage {
        assert_eq!(usage_chunks.len(), 1, "{chunks:?}");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"].as_array().unwrap().len(), 0);
        assert_eq!(last["usage"]["prompt_tokens"], 1);
        assert_eq!(last["usage"]["completion_tokens"], 6);
        assert_eq!(last["usage"]["total_tokens"], 7);
    } else {
        assert!(usage_chunks.is_empty(), "usage only when asked: {chunks:?}");
    }
    assert_eq!(
        upstream_model(kind, &fake.last_request().unwrap()),
        ROUTE_MODEL
    );
    assert_no_sandbox_credentials(&fake);
}

pub async fn upstream_errors(kind: FakeKind) {
    let fake = fake(FakeConfig::new(kind).failure(Failure::Status5xx(503))).await;
    let route = fake.route(ROUTE_MODEL);
    let svc = service();
    assert_error(&chat(&svc, &route, user("x")).await, 502, "upstream_error");
    assert_error(
        &chat(&svc, &route, user_stream("x", false)).await,
        502,
        "upstream_error",
    );
    fake.set_failure(Failure::Status5xx(429));
    assert_error(
        &chat(&svc, &route, user("x")).await,
        429,
        "rate_limit_exceeded",
    );
    fake.set_failure(Failure::Status5xx(500));
    assert_error(
        &chat(&svc, &route, user_stream("x", true)).await,
        502,
        "upstream_error",
    );
}

pub async fn timeouts(kind: FakeKind) {
    let fake = fake(FakeConfig::new(kind).failure(Failure::Timeout)).await;
    let route = short(fake.route(ROUTE_MODEL));
    let svc = service();
    assert_error(
        &chat(&svc, &route, user("x")).await,
        504,
        "upstream_timeout",
    );
    assert_error(
        &chat(&svc, &route, user_stream("x", false)).await,
        504,
        "upstream_timeout",
    );
    // A stream that starts, then goes silent: the idle timeout fires mid-stream.
    fake.set_failure(Failure::Stall(2));
    let a = chat(&svc, &route, user_stream("x", false)).await;
    assert_eq!(sse_error_code(&a), "upstream_idle_timeout");
}

pub async fn slow_stream_outlives_total_timeout(kind: FakeKind) {
    // 6 chunks, 60 ms apart: ~360 ms in total, longer than the 200 ms buffered/head timeout;
    // the stream is only bound by its (generous) idle timeout.
    let fake = fake(
        FakeConfig::new(kind)
            .tokens(5)
            .latency(std::time::Duration::from_millis(60)),
    )
    .await;
    let route = fake
        .route(ROUTE_MODEL)
        .with_timeout(std::time::Duration::from_millis(200))
        .with_idle_timeout(std::time::Duration::from_secs(5));
    let started = std::time::Instant::now();
    let a = chat(&service(), &route, user_stream("x", false)).await;
    assert_eq!(a.sse_text(), expected_text(kind, "fake", 5));
    assert!(
        started.elapsed() > route.timeout,
        "the stream outlived the total timeout"
    );
}

pub async fn cut_stream(kind: FakeKind) {
    let fake = fake(
        FakeConfig::new(kind)
            .tokens(8)
            .failure(Failure::CutStream(3)),
    )
    .await;
    let route = fake.route(ROUTE_MODEL);
    let svc = service();
    let a = chat(&svc, &route, user_stream("x", true)).await;
    assert_eq!(sse_error_code(&a), "upstream_protocol_error");
    // The buffered path breaks off too.
    let a = chat(&svc, &route, user("x")).await;
    assert_error(&a, 502, "upstream_protocol_error");
}

/// For providers with credentials: missing → refused locally, wrong → the fake's own
/// rejection mapped to 502, right → answered; the sandbox's headers never forwarded.
pub async fn credentials(kind: FakeKind, header: &str, expected_value: &str) {
    let fake = fake(FakeConfig::new(kind).credential("k-right")).await;
    let svc = service();
    let mut route = fake.route(ROUTE_MODEL);
    route.credential = None;
    assert_error(
        &chat(&svc, &route, user("x")).await,
        502,
        "missing_credential",
    );
    assert_eq!(
        fake.request_count(),
        0,
        "nothing forwarded without a credential"
    );
    // A credential that would break the request head (header injection) is never sent.
    let injecting = route
        .clone()
        .with_credential(Credential::new("k-right\r\nx-injected: 1"));
    let a = chat(&svc, &injecting, user("x")).await;
    assert_error(&a, 502, "invalid_route");
    assert!(!String::from_utf8_lossy(&a.body).contains("k-right"));
    assert_eq!(
        fake.request_count(),
        0,
        "nothing sent with a CR/LF credential"
    );

    let wrong = route.clone().with_credential(Credential::new("k-wrong"));
    let a = chat(&svc, &wrong, user("x")).await;
    assert_error(&a, 502, "upstream_auth_failed");
    assert!(!String::from_utf8_lossy(&a.body).contains("k-wrong"));
    assert_eq!(fake.request_count(), 1);

    let right = route.with_credential(Credential::new("k-right"));
    let a = chat(&svc, &right, user("x")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let req = fake.last_request().unwrap();
    assert_eq!(req.header(header), Some(expected_value));
    assert_no_sandbox_credentials(&fake);
}

/// The fake calls the first offered tool; both the buffered and streamed forms map back.
pub async fn tool_calls(kind: FakeKind) {
    let fake = fake(FakeConfig::new(kind).label("tools")).await;
    let route = fake.route(ROUTE_MODEL);
    let svc = service();
    let a = chat(&svc, &route, with_tools(user("weather in Oslo"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert!(call["id"].as_str().is_some_and(|s| !s.is_empty()));
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["label"], "tools");
    assert_eq!(args["input"], "weather in Oslo");

    let mut req = with_tools(user_stream("weather in Oslo", false));
    req["tool_choice"] = serde_json::json!("auto");
    let a = chat(&svc, &route, req).await;
    let chunks = a.sse_json();
    let mut name = String::new();
    let mut arguments = String::new();
    let mut finish = None;
    for c in &chunks {
        if let Some(tc) = c.pointer("/choices/0/delta/tool_calls/0") {
            assert_eq!(tc["index"], 0);
            name.push_str(
                tc.pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
            arguments.push_str(
                tc.pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
        }
        if let Some(f) = c
            .pointer("/choices/0/finish_reason")
            .filter(|f| !f.is_null())
        {
            finish = Some(f.clone());
        }
    }
    assert_eq!(name, "get_weather");
    let args: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(args["input"], "weather in Oslo");
    assert_eq!(finish, Some(Value::from("tool_calls")));
}

/// Sends a conversation with a system prompt, an assistant tool call and its result;
/// returns the native body the upstream received (for provider-specific assertions).
pub async fn tool_result_round_trip(kind: FakeKind) -> Value {
    let fake = fake_kind(kind, "gamma").await;
    let route = fake.route(ROUTE_MODEL);
    let a = chat(&service(), &route, tool_result_conversation()).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[fake-{kind}:gamma]"))
    );
    fake.last_request().unwrap().json()
}

pub async fn models(kind: FakeKind) {
    let fake = fake_kind(kind, "m").await;
    let route = fake.route(ROUTE_MODEL);
    let a = send(
        &service(),
        &route,
        "GET",
        "/v1/models",
        &[("authorization", "Bearer sandbox-own-token")],
        Body::empty(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().any(|id| id.contains("fake-model-a")), "{ids:?}");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model")
    );
    assert_no_sandbox_credentials(&fake);
}

pub async fn embeddings(kind: FakeKind) {
    let fake = fake_kind(kind, "emb").await;
    let route = fake.route(ROUTE_MODEL);
    let body = serde_json::json!({"model": "caller", "input": ["one", "two words"]});
    let a = send(
        &service(),
        &route,
        "POST",
        "/v1/embeddings",
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["model"], ROUTE_MODEL);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 8);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    // The OpenAI SDKs ask for base64 by default.
    let body = serde_json::json!({"input": "one", "encoding_format": "base64"});
    let a = send(
        &service(),
        &route,
        "POST",
        "/v1/embeddings",
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.json()["data"][0]["embedding"].is_string());
    assert_eq!(
        upstream_model(kind, &fake.last_request().unwrap()).trim_start_matches("models/"),
        ROUTE_MODEL
    );
}

/// For providers whose credential is optional: none → nothing sent and the fake (which
/// requires one here) refuses → 502; right one → sent in `header`.
pub async fn credentials_optional(kind: FakeKind, header: &str, expected_value: &str) {
    let fake = fake(FakeConfig::new(kind).credential("k-right")).await;
    let svc = service();
    let mut route = fake.route(ROUTE_MODEL);
    route.credential = None;
    let a = chat(&svc, &route, user("x")).await;
    assert_error(&a, 502, "upstream_auth_failed");
    assert!(fake.last_request().unwrap().header(header).is_none());
    let right = route.with_credential(Credential::new("k-right"));
    let a = chat(&svc, &right, user("x")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        fake.last_request().unwrap().header(header),
        Some(expected_value)
    );
    assert_no_sandbox_credentials(&fake);
}

/// The adapter contract every native adapter passes, as one `#[tokio::test]` per check, run
/// against the fake upstream of kind `K` (a `const K: FakeKind` in the calling test file).
#[macro_export]
macro_rules! contract_tests {
    () => {
        #[tokio::test]
        async fn non_stream() {
            $crate::common::contract::non_stream(K).await;
        }
        #[tokio::test]
        async fn stream_without_usage() {
            $crate::common::contract::stream(K, false).await;
        }
        #[tokio::test]
        async fn stream_with_include_usage() {
            $crate::common::contract::stream(K, true).await;
        }
        #[tokio::test]
        async fn upstream_errors_map_to_statuses() {
            $crate::common::contract::upstream_errors(K).await;
        }
        #[tokio::test]
        async fn timeouts_and_idle_timeout() {
            $crate::common::contract::timeouts(K).await;
        }
        #[tokio::test]
        async fn slow_stream_is_not_cut_by_a_total_timeout() {
            $crate::common::contract::slow_stream_outlives_total_timeout(K).await;
        }
        #[tokio::test]
        async fn cut_stream_becomes_sse_error() {
            $crate::common::contract::cut_stream(K).await;
        }
        #[tokio::test]
        async fn tool_calls_map_both_ways() {
            $crate::common::contract::tool_calls(K).await;
        }
    };
}

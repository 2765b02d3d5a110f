#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `POST /v1/messages` on every provider (translated; passed through on Anthropic routes),
//! Anthropic's event stream, tool round trips, `GET /v1/models` in Anthropic's shape, and
//! bad input refused in Anthropic's error shape with nothing forwarded.

mod common;

use common::{every_route, fake, fake_kind, named_events, post, send, service};
use sandgate_providers::ProviderKind;
use sandgate_providers::fake::{FakeConfig, FakeKind};
use serde_json::{Value, json};

const PATH: &str = "/v1/messages";

fn tools() -> Value {
    json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
}

fn text_of(v: &Value) -> String {
    v["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect()
}

fn assert_anthropic_error(a: &common::Answer, status: u16, kind: &str) {
    assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn buffered_text_on_every_route() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, marker) in &routes {
        let body = json!({"model": "caller", "max_tokens": 64, "system": [{"type": "text", "text": "terse"}],
            "messages": [{"role": "user", "content": "hello"}], "stop_sequences": ["\n\nHuman:"]});
        let a = post(&svc, route, PATH, &body).await;
        assert_eq!(
            a.status,
            200,
            "{}: {}",
            route.kind,
            String::from_utf8_lossy(&a.body)
        );
        let v = a.json();
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["model"], "route-model", "{v}");
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(text_of(&v).contains(marker.as_str()), "{}: {v}", route.kind);
        assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0, "{v}");
    }
}

#[tokio::test]
async fn stream_events_on_every_route() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, marker) in &routes {
        let body = json!({"max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
        let a = post(&svc, route, PATH, &body).await;
        assert_eq!(a.status, 200, "{}", route.kind);
        let evs = named_events(&a);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
        assert!(names.contains(&"content_block_start"), "{names:?}");
        assert!(names.contains(&"content_block_stop"), "{names:?}");
        assert_eq!(
            &names[names.len() - 2..],
            ["message_delta", "message_stop"],
            "{}",
            route.kind
        );
        for (name, data) in &evs {
            assert_eq!(data["type"], name.as_str());
        }
        let text: String = evs
            .iter()
            .filter(|(n, d)| n == "content_block_delta" && d["delta"]["type"] == "text_delta")
            .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_string())
            .collect();
        assert!(text.contains(marker.as_str()), "{}: {text}", route.kind);
        let delta = &evs[evs.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert!(
            delta["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{delta}"
        );
    }
}

#[tokio::test]
async fn tool_use_and_tool_result_round_trip_on_every_route() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, _) in &routes {
        let choice = if route.kind == ProviderKind::Mock {
            json!({"type": "any"})
        } else {
            json!({"type": "auto"})
        };
        let body = json!({"max_tokens": 64, "tools": tools(), "tool_choice": choice,
            "messages": [{"role": "user", "content": "weather in Paris?"}]});
        let v = post(&svc, route, PATH, &body).await.json();
        assert_eq!(v["stop_reason"], "tool_use", "{}: {v}", route.kind);
        let call = v["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap()
            .clone();
        assert_eq!(call["name"], "get_weather");
        assert!(call["input"].is_object());

        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let evs = named_events(&post(&svc, route, PATH, &streamed).await);
        let start = evs
            .iter()
            .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{}: {evs:?}", route.kind));
        assert_eq!(start.1["content_block"]["name"], "get_weather");
        let json_text: String = evs
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_string())
            .collect();
        let input: Value = serde_json::from_str(&json_text).unwrap();
        assert!(input.is_object());
        assert_eq!(evs[evs.len() - 2].1["delta"]["stop_reason"], "tool_use");

        let next = json!({"max_tokens": 64, "tools": tools(), "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [call.clone()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "{\"temp_c\":21}"}]}
        ]});
        let a = post(&svc, route, PATH, &next).await;
        assert_eq!(
            a.status,
            200,
            "{}: {}",
            route.kind,
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["stop_reason"], "end_turn", "{}", route.kind);
    }
}

#[tokio::test]
async fn anthropic_route_passes_through_with_its_credential_and_model() {
    let svc = service();
    let up = fake(
        FakeConfig::new(FakeKind::Anthropic)
            .label("pt")
            .credential("sk-ant-route"),
    )
    .await;
    let route = up.route("claude-route");
    let body = json!({"model": "caller-model", "max_tokens": 32, "top_k": 5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]});
    let a = post(&svc, &route, PATH, &body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(text_of(&a.json()).contains("[fake-anthropic:pt]"));
    let sent = up.last_request().unwrap();
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-route"));
    assert!(sent.header("authorization").is_none());
    let sent = sent.json();
    assert_eq!(sent["model"], "claude-route");
    assert_eq!(sent["top_k"], 5, "unknown fields pass through: {sent}");
    assert_eq!(
        sent["messages"][0]["content"][0]["cache_control"]["type"],
        "ephemeral"
    );

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let a = post(&svc, &route, PATH, &streamed).await;
    let names: Vec<String> = named_events(&a).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    assert_eq!(up.last_request().unwrap().json()["model"], "claude-route");

    // The same request on a translated route: `top_k` cannot be expressed.
    let other = fake_kind(FakeKind::Gemini, "g").await;
    let a = post(&svc, &other.route("g"), PATH, &body).await;
    assert_anthropic_error(&a, 400, "invalid_request_error");
    assert_eq!(other.request_count(), 0);
}

#[tokio::test]
async fn models_answer_in_anthropic_shape_when_asked() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, _) in &routes {
        let a = send(
            &svc,
            route,
            "GET",
            "/v1/models",
            &[("anthropic-version", "2023-06-01")],
            "",
        )
        .await;
        let v = a.json();
        assert_eq!(v["has_more"], false, "{v}");
        let first = &v["data"][0];
        assert_eq!(first["type"], "model", "{v}");
        assert!(first["id"].is_string() && first["display_name"].is_string());
        assert!(first["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["first_id"], first["id"]);
        let plain = send(&svc, route, "GET", "/v1/models", &[], "").await.json();
        assert_eq!(plain["object"], "list");
    }
}

#[tokio::test]
async fn bad_input_is_refused_in_anthropic_shape_and_not_forwarded() {
    let svc = common::service_with_request_cap(4096);
    for kind in [FakeKind::Anthropic, FakeKind::OpenAi] {
        let up = fake_kind(kind, "b").await;
        let route = up.route("m");
        let user = |content: Value| json!({"max_tokens": 10, "messages": [{"role": "user", "content": content}]});
        let mut cases: Vec<(String, u16, &str)> = vec![
            ("{not json".into(), 400, "invalid_request_error"),
            (
                user(json!([{"type": "bogus_block"}])).to_string(),
                400,
                "invalid_request_error",
            ),
            (
                json!({"messages": [{"role": "user", "content": "no max_tokens"}]}).to_string(),
                400,
                "invalid_request_error",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]})
                    .to_string(),
                400,
                "invalid_request_error",
            ),
            (
                user(json!("x".repeat(8000))).to_string(),
                413,
                "request_too_large",
            ),
        ];
        if kind != FakeKind::Anthropic {
            cases.extend([
                (user(json!([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}])).to_string(), 400, "invalid_request_error"),
                (json!({"max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "web_search"}], "messages": [{"role": "user", "content": "x"}]}).to_string(), 400, "invalid_request_error"),
                (json!({"max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "x"}]}).to_string(), 400, "invalid_request_error"),
                (json!({"max_tokens": 5, "messages": []}).to_string(), 400, "invalid_request_error"),
            ]);
        }
        for (body, status, kind_) in cases {
            let a = send(
                &svc,
                &route,
                "POST",
                PATH,
                &[
                    ("content-type", "application/json"),
                    ("anthropic-version", "2023-06-01"),
                ],
                body.clone(),
            )
            .await;
            assert_anthropic_error(&a, status, kind_);
        }
        assert_eq!(up.request_count(), 0, "{kind}: nothing may be forwarded");
        let a = send(&svc, &route, "GET", PATH, &[], "").await;
        assert_anthropic_error(&a, 405, "invalid_request_error");
    }
}

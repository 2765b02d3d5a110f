#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `POST /v1/responses` on every provider: buffered, the typed event stream, function tools
//! and tool outputs, and bad input refused in OpenAI's shape with nothing forwarded.

mod common;

use common::{assert_error, every_route, fake_kind, named_events, post, service};
use sandgate_providers::ProviderKind;
use sandgate_providers::fake::FakeKind;
use serde_json::{Value, json};

const PATH: &str = "/v1/responses";

fn tools() -> Value {
    json!([{
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
    }])
}

fn output_text(v: &Value) -> String {
    v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().clone())
        .filter_map(|c| c["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn buffered_text_on_every_route() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, marker) in &routes {
        let body = json!({"model": "caller-model", "input": "hello there", "instructions": "be terse", "max_output_tokens": 50});
        let a = post(&svc, route, PATH, &body).await;
        assert_eq!(
            a.status,
            200,
            "{}: {}",
            route.kind,
            String::from_utf8_lossy(&a.body)
        );
        let v = a.json();
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(v["model"], "route-model");
        assert!(v["id"].as_str().unwrap().starts_with("resp_"));
        assert!(
            output_text(&v).contains(marker.as_str()),
            "{}: {v}",
            route.kind
        );
        assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v["instructions"], "be terse");
    }
}

#[tokio::test]
async fn stream_is_the_typed_event_sequence_on_every_route() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, marker) in &routes {
        let body = json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": "stream it"}]}], "stream": true});
        let a = post(&svc, route, PATH, &body).await;
        assert_eq!(a.status, 200);
        assert!(a.content_type.starts_with("text/event-stream"));
        let evs = named_events(&a);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        let mut expect = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ];
        let deltas = names
            .iter()
            .filter(|n| **n == "response.output_text.delta")
            .count();
        assert!(deltas > 1, "{}: {names:?}", route.kind);
        expect.extend(std::iter::repeat_n("response.output_text.delta", deltas));
        expect.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(names, expect, "{}", route.kind);
        for (i, (name, data)) in evs.iter().enumerate() {
            assert_eq!(data["type"], name.as_str());
            assert_eq!(data["sequence_number"], i as u64);
        }
        let text: String = evs
            .iter()
            .filter(|(n, _)| n == "response.output_text.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
            .collect();
        let done = &evs
            .iter()
            .find(|(n, _)| n == "response.output_text.done")
            .unwrap()
            .1;
        assert_eq!(done["text"], text.as_str());
        assert!(text.contains(marker.as_str()), "{text}");
        let completed = &evs.last().unwrap().1["response"];
        assert_eq!(completed["status"], "completed");
        assert_eq!(output_text(completed), text);
        assert!(
            completed["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{completed}"
        );
    }
}

#[tokio::test]
async fn function_calls_buffered_and_streamed_on_every_route() {
    let svc = service();
    let (_fakes, routes) = every_route().await;
    for (route, _) in &routes {
        // Ollama cannot force a tool (a clear 400); the fakes call an offered tool anyway,
        // the mock only when forced.
        let choice = if route.kind == ProviderKind::Mock {
            "required"
        } else {
            "auto"
        };
        let body = json!({"input": "weather in Paris?", "tools": tools(), "tool_choice": choice});
        let v = post(&svc, route, PATH, &body).await.json();
        assert!(v["output"].is_array(), "{}: {v}", route.kind);
        let call = v["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap_or_else(|| panic!("{}: no call: {v}", route.kind))
            .clone();
        assert_eq!(call["name"], "get_weather");
        assert!(!call["call_id"].as_str().unwrap().is_empty());
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert!(args.is_object());

        let mut body = body.clone();
        body["stream"] = json!(true);
        let evs = named_events(&post(&svc, route, PATH, &body).await);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"response.function_call_arguments.delta"),
            "{names:?}"
        );
        let done = &evs
            .iter()
            .find(|(n, _)| n == "response.function_call_arguments.done")
            .unwrap()
            .1;
        let streamed: String = evs
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(done["arguments"], streamed.as_str());
        assert_eq!(done["name"], "get_weather");
        assert_eq!(names.last(), Some(&"response.completed"));
    }
}

#[tokio::test]
async fn tool_outputs_reach_the_native_upstream() {
    let svc = service();
    for kind in [
        FakeKind::OpenAi,
        FakeKind::Ollama,
        FakeKind::Gemini,
        FakeKind::Anthropic,
    ] {
        let fake = fake_kind(kind, "t").await;
        let route = fake.route("m");
        let body = json!({
            "input": [
                {"role": "user", "content": "weather in Paris?"},
                {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_9", "output": "{\"temp_c\":21}"}
            ],
            "tools": tools()
        });
        let a = post(&svc, &route, PATH, &body).await;
        assert_eq!(
            a.status,
            200,
            "{kind}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert!(output_text(&a.json()).contains("[fake-"), "{kind}");
        let sent = fake.last_request().unwrap();
        let raw = String::from_utf8_lossy(&sent.body).to_string();
        assert!(
            raw.contains("temp_c"),
            "{kind}: tool output not sent: {raw}"
        );
        assert!(raw.contains("Paris"), "{kind}: {raw}");
        assert_ne!(
            sent.header("authorization"),
            Some("Bearer sandbox-own-token")
        );
        assert_ne!(sent.header("x-api-key"), Some("sandbox-own-key"));
    }
}

#[tokio::test]
async fn bad_input_is_refused_in_openai_shape_and_not_forwarded() {
    let svc = common::service_with_request_cap(4096);
    let fake = fake_kind(FakeKind::Ollama, "b").await;
    let route = fake.route("m");
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "invalid_request"),
        (json!({"input": [{"type": "bogus_item"}]}).to_string(), 400, "invalid_request"),
        (json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}).to_string(), 400, "invalid_request"),
        (json!({"input": "x", "tools": [{"type": "web_search"}]}).to_string(), 400, "invalid_request"),
        (json!({"input": "x", "previous_response_id": "resp_1"}).to_string(), 400, "invalid_request"),
        (json!({"input": [{"type": "reasoning", "summary": []}]}).to_string(), 400, "invalid_request"),
        (json!({"input": "x", "text": {"format": {"type": "json_schema"}}}).to_string(), 400, "invalid_request"),
        (json!({"input": []}).to_string(), 400, "invalid_request"),
        (json!({"instructions": "no input"}).to_string(), 400, "invalid_request"),
        (json!({"input": "x".repeat(8000)}).to_string(), 413, "request_too_large"),
    ];
    for (body, status, code) in cases {
        let a = common::send(
            &svc,
            &route,
            "POST",
            PATH,
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
        assert_error(&a, status, code);
        let msg = a.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(!msg.is_empty(), "{body}");
    }
    assert_eq!(fake.request_count(), 0, "nothing may be forwarded");
    let a = common::send(&svc, &route, "GET", PATH, &[], "").await;
    assert_error(&a, 405, "method_not_allowed");
}

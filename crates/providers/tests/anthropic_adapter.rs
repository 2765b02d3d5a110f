//! The Anthropic native adapter against the fake Anthropic upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{self, ROUTE_MODEL};
use common::*;
use sandgate_providers::fake::FakeKind;
use serde_json::json;

const K: FakeKind = FakeKind::Anthropic;

contract_tests!();

#[tokio::test]
async fn credential_is_injected_as_x_api_key() {
    contract::credentials(K, "x-api-key", "k-right").await;
    let fake = fake_kind(K, "v").await;
    chat(&service(), &fake.route(ROUTE_MODEL), user("x")).await;
    assert_eq!(
        fake.last_request().unwrap().header("anthropic-version"),
        Some("2023-06-01")
    );
}

#[tokio::test]
async fn system_prompt_and_tool_results_map_to_native_messages() {
    let sent = contract::tool_result_round_trip(K).await;
    assert_eq!(sent["system"], "You are terse.");
    assert_eq!(sent["max_tokens"], 4096, "Anthropic requires max_tokens");
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(
        msgs[0],
        json!({"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]})
    );
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(
        msgs[1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp_c\":21}"})
    );
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(sent["tools"][0]["input_schema"], json!({"type": "object"}));
}

#[tokio::test]
async fn sampling_and_tool_choice_map_to_native_fields() {
    let fake = fake_kind(K, "o").await;
    let route = fake.route(ROUTE_MODEL);
    let mut body = with_tools(user("x"));
    body["temperature"] = json!(0.5);
    body["max_completion_tokens"] = json!(64);
    body["stop"] = json!("END");
    body["tool_choice"] = json!("required");
    let a = chat(&service(), &route, body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let sent = fake.last_request().unwrap().json();
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));
}

#[tokio::test]
async fn response_format_and_seed_are_unsupported() {
    let fake = fake_kind(K, "o").await;
    let mut body = user("x");
    body["response_format"] = json!({"type": "json_object"});
    assert_error(
        &chat(&service(), &fake.route(ROUTE_MODEL), body).await,
        400,
        "unsupported_parameter",
    );
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn models_are_listed() {
    contract::models(K).await;
}

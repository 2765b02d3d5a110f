//! The Ollama native adapter against the fake Ollama upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{self, ROUTE_MODEL};
use common::*;
use sandgate_providers::fake::FakeKind;
use serde_json::json;

const K: FakeKind = FakeKind::Ollama;

contract_tests!();

#[tokio::test]
async fn optional_credential_is_sent_as_bearer() {
    contract::credentials_optional(K, "authorization", "Bearer k-right").await;
}

#[tokio::test]
async fn system_prompt_and_tool_results_map_to_native_messages() {
    let sent = contract::tool_result_round_trip(K).await;
    assert_eq!(sent["model"], ROUTE_MODEL);
    assert_eq!(sent["stream"], false, "Ollama streams unless told not to");
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(msgs[2]["role"], "assistant");
    assert_eq!(msgs[2]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        msgs[2]["tool_calls"][0]["function"]["arguments"],
        json!({"city": "Paris"}),
        "arguments are an object"
    );
    assert_eq!(msgs[3]["role"], "tool");
    assert_eq!(msgs[3]["tool_name"], "get_weather");
    assert_eq!(msgs[3]["content"], "{\"temp_c\":21}");
}

#[tokio::test]
async fn sampling_options_map_to_options() {
    let fake = fake_kind(K, "o").await;
    let route = fake.route(ROUTE_MODEL);
    let mut body = user("x");
    body["temperature"] = json!(0.5);
    body["max_completion_tokens"] = json!(64);
    body["stop"] = json!("END");
    body["seed"] = json!(3);
    body["response_format"] = json!({"type": "json_object"});
    let a = chat(&service(), &route, body).await;
    assert_eq!(a.status, 200);
    let sent = fake.last_request().unwrap().json();
    assert_eq!(
        sent["options"],
        json!({"temperature": 0.5, "num_predict": 64, "stop": ["END"], "seed": 3})
    );
    assert_eq!(sent["format"], "json");
}

#[tokio::test]
async fn forced_tool_choice_is_unsupported() {
    let fake = fake_kind(K, "o").await;
    let mut body = with_tools(user("x"));
    body["tool_choice"] = json!("required");
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

#[tokio::test]
async fn embeddings_use_api_embed() {
    contract::embeddings(K).await;
}

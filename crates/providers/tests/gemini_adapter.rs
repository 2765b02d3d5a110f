//! The Gemini native adapter against the fake Gemini upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{self, ROUTE_MODEL};
use common::*;
use sandgate_providers::fake::FakeKind;
use serde_json::json;

const K: FakeKind = FakeKind::Gemini;

contract_tests!();

#[tokio::test]
async fn credential_is_injected_as_x_goog_api_key() {
    contract::credentials(K, "x-goog-api-key", "k-right").await;
}

#[tokio::test]
async fn system_prompt_and_tool_results_map_to_native_contents() {
    let sent = contract::tool_result_round_trip(K).await;
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}]})
    );
    let contents = sent["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "system is not a content: {contents:?}");
    assert_eq!(
        contents[0],
        json!({"role": "user", "parts": [{"text": "weather in Paris?"}]})
    );
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris"}})
    );
    assert_eq!(contents[2]["role"], "user");
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"],
        json!({"name": "get_weather", "response": {"temp_c": 21}})
    );
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
}

#[tokio::test]
async fn sampling_and_tool_choice_map_to_native_config() {
    let fake = fake_kind(K, "o").await;
    let route = fake.route(ROUTE_MODEL);
    let mut body = with_tools(user("x"));
    body["temperature"] = json!(0.5);
    body["top_p"] = json!(0.9);
    body["max_tokens"] = json!(64);
    body["stop"] = json!(["END"]);
    body["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let a = chat(&service(), &route, body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let req = fake.last_request().unwrap();
    assert!(
        req.path
            .starts_with("/v1beta/models/route-model:generateContent"),
        "{}",
        req.path
    );
    let sent = req.json();
    assert_eq!(
        sent["generationConfig"],
        json!({"temperature": 0.5, "topP": 0.9, "maxOutputTokens": 64, "stopSequences": ["END"]})
    );
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
}

#[tokio::test]
async fn stream_uses_alt_sse() {
    let fake = fake_kind(K, "s").await;
    let a = chat(
        &service(),
        &fake.route(ROUTE_MODEL),
        user_stream("x", false),
    )
    .await;
    assert_eq!(a.status, 200);
    let req = fake.last_request().unwrap();
    assert_eq!(
        req.path,
        "/v1beta/models/route-model:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn models_are_listed() {
    contract::models(K).await;
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    contract::embeddings(K).await;
}

//! The built-in mock provider: deterministic, streams word by word, reports usage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use common::*;
use sandgate_providers::{ChatMessage, ChatRequest, InferenceClient, ProviderKind, Role, Route};
use serde_json::json;

fn route(endpoint: &str) -> Route {
    Route::new(ProviderKind::Mock, "mock-7b").with_endpoint(endpoint)
}

#[tokio::test]
async fn reply_is_deterministic() {
    let svc = service();
    let r = route("mock://");
    let a = chat(&svc, &r, user("hello world")).await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "mock reply to \"hello world\" from mock-7b"
    );
    assert_eq!(v["model"], "mock-7b");
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    let b = chat(&svc, &r, user("hello world")).await.json();
    assert_eq!(b["choices"], v["choices"]);
    assert_eq!(b["usage"], v["usage"]);
}

#[tokio::test]
async fn streams_word_by_word_with_usage() {
    let svc = service();
    let r = route("mock://?latency_ms=1&tokens=3");
    let a = chat(&svc, &r, user_stream("ping", true)).await;
    let chunks = a.sse_json();
    let expected = "mock reply to \"ping\" from mock-7b token1 token2 token3";
    assert_eq!(a.sse_text(), expected);
    let words = expected.split(' ').count();
    // One chunk per word, one finish chunk, one usage chunk.
    assert_eq!(chunks.len(), words + 2);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[words]["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[words + 1];
    assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage["usage"]["completion_tokens"], words);
    // Same text through the typed client, without usage.
    let client = InferenceClient::new().unwrap();
    let mut req = ChatRequest::new(vec![ChatMessage::text(Role::User, "ping")]);
    req.stream = Some(true);
    let mut stream = client.chat_stream(&r, req).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.unwrap();
        assert!(chunk.usage.is_none());
        text.push_str(chunk.choices[0].delta.content.as_deref().unwrap_or(""));
    }
    assert_eq!(text, expected);
}

#[tokio::test]
async fn max_tokens_truncates_with_length() {
    let mut body = user("a b c");
    body["max_tokens"] = json!(3);
    let v = chat(&service(), &route("mock://"), body).await.json();
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn forced_tool_choice_calls_the_tool() {
    let mut body = with_tools(user("Oslo"));
    body["tool_choice"] = json!("required");
    let v = chat(&service(), &route("mock://"), body).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
}

#[tokio::test]
async fn models_and_embeddings() {
    let svc = service();
    let r = route("mock://");
    let a = send(&svc, &r, "GET", "/v1/models", &[], Body::empty()).await;
    assert_eq!(a.json()["data"][0]["id"], "mock-7b");
    let body = json!({"input": ["a", "b"]}).to_string();
    let a = send(&svc, &r, "POST", "/v1/embeddings", &[], body.clone()).await;
    let b = send(&svc, &r, "POST", "/v1/embeddings", &[], body).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["data"], b.json()["data"]);
    assert_eq!(a.json()["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_mock_endpoint_is_a_route_error() {
    let a = chat(&service(), &route("mock://?warp=9"), user("x")).await;
    assert_error(&a, 502, "invalid_route");
}

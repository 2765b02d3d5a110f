//! OpenAI-compatible streams pass through byte for byte, and a failure mid-stream still
//! ends in one OpenAI error event and `data: [DONE]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::ROUTE_MODEL;
use common::*;
use sandgate_providers::fake::{Failure, FakeConfig, FakeKind};

/// The upstream's own SSE body for the same request, fetched directly.
async fn upstream_body(url: &str, body: &serde_json::Value) -> String {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client
        .post(format!("{url}/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn events_reach_the_caller_exactly_as_the_upstream_sent_them() {
    let fake = fake(FakeConfig::new(FakeKind::OpenAi).tokens(6)).await;
    let route = fake.route(ROUTE_MODEL);
    let a = chat(&service(), &route, user_stream("hi", true)).await;
    assert_eq!(a.status, 200);
    let mut direct = user_stream("hi", true);
    direct["model"] = ROUTE_MODEL.into();
    let expected = upstream_body(&fake.base_url(), &direct).await;
    assert_eq!(String::from_utf8_lossy(&a.body), expected);
}

#[tokio::test]
async fn a_cut_mid_stream_ends_in_an_error_event_and_done() {
    let fake = fake(
        FakeConfig::new(FakeKind::OpenAi)
            .tokens(8)
            .failure(Failure::CutStream(4)),
    )
    .await;
    let route = fake.route(ROUTE_MODEL);
    let a = chat(&service(), &route, user_stream("x", false)).await;
    assert_eq!(sse_error_code(&a), "upstream_protocol_error");
    let data = a.sse_data();
    // The events before the failure are whole upstream chunks, passed on unchanged.
    assert_eq!(data.len(), 4 + 2, "{data:?}");
    for chunk in &data[..4] {
        let v: serde_json::Value = serde_json::from_str(chunk).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["id"], "chatcmpl-fake");
    }
}

#[tokio::test]
async fn a_stall_mid_stream_ends_in_an_idle_timeout_event_and_done() {
    let fake = fake(FakeConfig::new(FakeKind::OpenAi).failure(Failure::Stall(2))).await;
    let route = short(fake.route(ROUTE_MODEL));
    let a = chat(&service(), &route, user_stream("x", false)).await;
    assert_eq!(sse_error_code(&a), "upstream_idle_timeout");
    assert_eq!(a.sse_data().len(), 2 + 2);
}

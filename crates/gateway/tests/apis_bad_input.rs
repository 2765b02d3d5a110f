#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bad input on the Anthropic Messages and Responses surfaces, sent as an agent sends it:
//! to `https://inference.local` through the sandbox's proxy. A malformed body, an unknown
//! block or item type and a body over the request cap each get the caller's own error shape
//! (Anthropic's `{"type":"error","error":{"type":…}}` on `/v1/messages`, OpenAI's
//! `{"error":{"code":…}}` on `/v1/responses`), on a pass-through Anthropic route and a
//! translated Ollama route, and nothing reaches either upstream. (The service-level tests in
//! `sandgate-providers` cover the full list of untranslatable input.)

mod common;

use sandgate_providers::DEFAULT_MAX_REQUEST_BODY;
use sandgate_providers::ProviderKind;
use sandgate_providers::fake::{FakeConfig, FakeKind, FakeUpstream};
use serde_json::{Value, json};

/// `size` bytes of a JSON body, sent chunked (no `Content-Length`), so the gateway reads
/// it all before the cap trips and the refusal is not raced by an unsent remainder.
fn oversize(size: usize) -> reqwest::Body {
    let mut body = br#"{"max_tokens":5,"messages":[{"role":"user","content":""#.to_vec();
    body.resize(size, b'x');
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(256 * 1024).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

async fn post(client: &reqwest::Client, path: &str, body: reqwest::Body) -> (u16, Value) {
    let resp = client
        .post(format!("https://inference.local{path}"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "caller-key")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_callers_error_shape_through_the_proxy_and_nothing_is_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(dir.path()).await;
    let mut upstreams = Vec::new();
    for (kind, provider) in [
        (FakeKind::Anthropic, ProviderKind::AnthropicProd),
        (FakeKind::Ollama, ProviderKind::OllamaLocal),
    ] {
        let fake = FakeUpstream::spawn(FakeConfig::new(kind).credential("route-key"))
            .await
            .unwrap();
        let mut route = common::route(provider, "m", Some(fake.base_url()));
        route.credential = Some("route-key".into());
        let info = common::sandbox(&gw, &format!("bad-{kind}"), route).await;
        let client = common::proxied(&gw, &info);
        let bogus_block = json!({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "bogus_block"}]}]});
        let bogus_item = json!({"input": [{"type": "bogus_item"}]});
        let cases: [(&str, reqwest::Body, u16, &str); 6] = [
            (
                "/v1/messages",
                "{not json".into(),
                400,
                "invalid_request_error",
            ),
            (
                "/v1/messages",
                bogus_block.to_string().into(),
                400,
                "invalid_request_error",
            ),
            (
                "/v1/messages",
                oversize(DEFAULT_MAX_REQUEST_BODY + 1),
                413,
                "request_too_large",
            ),
            ("/v1/responses", "{not json".into(), 400, "invalid_request"),
            (
                "/v1/responses",
                bogus_item.to_string().into(),
                400,
                "invalid_request",
            ),
            (
                "/v1/responses",
                oversize(DEFAULT_MAX_REQUEST_BODY + 1),
                413,
                "request_too_large",
            ),
        ];
        for (path, body, status, code) in cases {
            let (got, v) = post(&client, path, body).await;
            assert_eq!(got, status, "{kind} {path}: {v}");
            let message = if path == "/v1/messages" {
                assert_eq!(v["type"], "error", "{kind} {path}: {v}");
                assert_eq!(v["error"]["type"], code, "{kind} {path}: {v}");
                &v["error"]["message"]
            } else {
                assert_eq!(v["error"]["code"], code, "{kind} {path}: {v}");
                &v["error"]["message"]
            };
            assert!(
                !message.as_str().unwrap_or_default().is_empty(),
                "{kind} {path}: {v}"
            );
        }
        upstreams.push(fake);
    }
    for fake in &upstreams {
        assert_eq!(fake.request_count(), 0, "{}: forwarded", fake.kind());
    }
    gw.shutdown().await;
}

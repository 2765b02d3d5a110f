#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The official OpenAI (`responses.create`, streaming, a tool round trip) and Anthropic
//! (`messages.create`, `messages.stream`, a tool round trip, a bad block) Python SDKs,
//! unmodified, against `https://inference.local` through a sandbox's proxy, on routes to
//! each native adapter's fake (OpenAI-compatible, Ollama, Gemini, Anthropic) and the mock.
//! Gateway level (the SDK runs on the host with `HTTPS_PROXY` and `SSL_CERT_FILE`), not
//! inside a rootless sandbox.

mod common;
#[path = "py/apis_sdk_expect.rs"]
mod expect;

use sandgate_providers::ProviderKind;
use sandgate_providers::fake::{FakeConfig, FakeKind, FakeUpstream};
use serde_json::Value;

async fn run(port: u16, ca: &str, marker: &str, force: bool) -> Value {
    let env = [
        ("HTTPS_PROXY", format!("http://127.0.0.1:{port}")),
        ("SSL_CERT_FILE", ca.to_string()),
    ];
    common::run_python(
        expect::SCRIPT,
        &[marker, if force { "1" } else { "0" }],
        &env,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_speak_responses_and_messages_through_the_proxy_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(dir.path()).await;
    let ca = gw.ca_bundle_path().display().to_string();
    let mut fakes = Vec::new();
    for (kind, provider) in [
        (FakeKind::OpenAi, ProviderKind::OpenAiApi),
        (FakeKind::Ollama, ProviderKind::OllamaLocal),
        (FakeKind::Gemini, ProviderKind::GeminiApi),
        (FakeKind::Anthropic, ProviderKind::AnthropicProd),
    ] {
        let fake = FakeUpstream::spawn(
            FakeConfig::new(kind)
                .label("sdk")
                .credential(format!("{kind}-route-secret")),
        )
        .await
        .unwrap();
        let mut route = common::route(provider, "route-model", Some(fake.base_url()));
        route.credential = Some(format!("{kind}-route-secret"));
        let info = common::sandbox(&gw, &format!("sdk-{kind}"), route).await;
        let marker = format!("[fake-{kind}:sdk]");
        let v = run(info.port, &ca, &marker, false).await;
        expect::check(&v, &marker, kind.as_str());
        for req in fake.requests() {
            for (name, value) in [("authorization", "Bearer unused"), ("x-api-key", "unused")] {
                assert_ne!(
                    req.header(name),
                    Some(value),
                    "{kind}: caller credential forwarded"
                );
            }
        }
        fakes.push(fake);
    }
    let mock = common::mock_sandbox(&gw, "sdk-mock", "mock-model").await;
    let v = run(mock.port, &ca, "mock reply to", true).await;
    expect::check(&v, "mock reply to", "mock");
    gw.shutdown().await;
}

//! The OpenAI-compatible adapter against the fake OpenAI upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract::{self, ROUTE_MODEL};
use common::*;
use sandgate_providers::ProviderKind;
use sandgate_providers::fake::FakeKind;
use serde_json::json;

const K: FakeKind = FakeKind::OpenAi;

contract_tests!();

#[tokio::test]
async fn credential_is_injected_as_bearer() {
    contract::credentials(K, "authorization", "Bearer k-right").await;
}

#[tokio::test]
async fn tool_results_and_unknown_fields_pass_through() {
    let fake = fake_kind(K, "p").await;
    let route = fake.route(ROUTE_MODEL);
    let mut body = tool_result_conversation();
    body["seed"] = json!(7);
    body["logit_bias"] = json!({"50256": -100});
    body["model"] = json!("gpt-caller");
    let a = chat(&service(), &route, body).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // Unknown upstream response fields are preserved too.
    assert_eq!(a.json()["system_fingerprint"], "fp_fake");
    let sent = fake.last_request().unwrap().json();
    assert_eq!(sent["model"], ROUTE_MODEL);
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["logit_bias"]["50256"], -100);
    assert_eq!(sent["messages"][3]["role"], "tool");
    assert_eq!(sent["messages"][3]["tool_call_id"], "call_1");
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(sent.get("stream").is_none() || sent["stream"] == false);
}

#[tokio::test]
async fn models_are_listed() {
    contract::models(K).await;
}

#[tokio::test]
async fn embeddings_pass_through() {
    contract::embeddings(K).await;
}

#[tokio::test]
async fn every_openai_compatible_kind_uses_this_adapter() {
    let fake = fake_kind(K, "compat").await;
    for kind in [
        ProviderKind::VllmLocal,
        ProviderKind::CompatibleEndpoint,
        ProviderKind::NvidiaProd,
    ] {
        let mut route = fake.route(ROUTE_MODEL);
        route.kind = kind;
        route = route.with_credential(sandgate_providers::Credential::new("k"));
        let a = chat(&service(), &route, user("hi")).await;
        assert_eq!(
            a.status,
            200,
            "{kind}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert!(
            a.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .starts_with("[fake-openai:compat]")
        );
        assert_eq!(
            fake.last_request().unwrap().header("authorization"),
            Some("Bearer k")
        );
    }
}

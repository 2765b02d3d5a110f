//! `inference set --model` on a sandbox whose key came from the environment at onboarding, with
//! that variable no longer set: the stored key is kept, the model switches, and the next turn
//! reaches the upstream with the new model and the original key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "seed_support/mod.rs"]
mod seed_support;

use sandgate::providers::fake::{FakeConfig, FakeKind, FakeUpstream};
use seed_support::{Sg, free_ports};

const KEY: &str = "gk-only-at-onboarding";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_set_model_keeps_the_stored_credential() {
    let gemini = FakeUpstream::spawn(
        FakeConfig::new(FakeKind::Gemini)
            .label("keep")
            .credential(KEY),
    )
    .await
    .expect("start the fake Gemini");
    let sg = Sg::new();
    let port = free_ports(1)[0].to_string();
    let url = gemini.base_url();
    let args = [
        "onboard",
        "--name",
        "keep",
        "--provider",
        "gemini-api",
        "--model",
        "gemini-old",
        "--endpoint",
        &url,
        "--port",
        &port,
        "--non-interactive",
    ];
    let out = sg.run_env(&args, &[("GEMINI_API_KEY", KEY)]).await;
    assert!(out.ok(), "onboard failed:\n{out}");

    // No GEMINI_API_KEY in this environment: only the model changes.
    let out = sg
        .run(&[
            "keep",
            "inference",
            "set",
            "--provider",
            "gemini-api",
            "--model",
            "gemini-new",
            "--endpoint",
            &url,
        ])
        .await;
    assert!(
        out.ok(),
        "inference set --model without the variable failed:\n{out}"
    );
    let out = sg
        .run(&["keep", "agent", "-m", "which model?", "--json"])
        .await;
    assert!(out.ok(), "turn after the switch failed:\n{out}");
    let last = gemini.last_request().expect("the upstream saw the turn");
    assert!(
        last.path.contains("models/gemini-new:"),
        "upstream saw {}",
        last.path
    );
    assert_eq!(
        last.header("x-goog-api-key"),
        Some(KEY),
        "the stored key was not kept"
    );

    // Another provider without its key is still refused, and nothing changes.
    let out = sg
        .run(&[
            "keep",
            "inference",
            "set",
            "--provider",
            "openai-api",
            "--model",
            "gpt-x",
        ])
        .await;
    assert!(!out.ok() && out.stderr.contains("OPENAI_API_KEY"), "{out}");
    let (_, v) = sg.json(&["keep", "inference", "get", "--json"]).await;
    assert_eq!(v["model"], "gemini-new", "{v}");
    let _ = sg.run(&["gateway", "stop"]).await;
}

//! End to end: per-sandbox commands (status, inference get/set, logs, devices) and the demo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Sg, free_port};

#[test]
fn inference_set_swaps_one_route_only() {
    let sg = Sg::new();
    sg.onboard_mock("one", "mock-one");
    sg.onboard_mock("two", "mock-two");

    let (out, v) = sg.json(&["one", "status", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["ready"], true);
    assert_eq!(v["inference"], "healthy");
    let out = sg.run(&["one", "status"]);
    assert!(
        out.ok() && out.stdout.contains("Inference: healthy"),
        "{out}"
    );

    let out = sg.run(&[
        "one",
        "inference",
        "set",
        "--provider",
        "mock",
        "--model",
        "mock-swapped",
    ]);
    assert!(out.ok(), "{out}");
    let (_, v) = sg.json(&["one", "inference", "get", "--json"]);
    assert_eq!(v["model"], "mock-swapped");
    let (out, v) = sg.json(&["one", "agent", "-m", "which model?", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(v["model"], "mock-swapped");
    let (_, v) = sg.json(&["two", "agent", "-m", "and you?", "--json"]);
    assert_eq!(v["model"], "mock-two");

    // A broken route degrades that sandbox only; status names it.
    let endpoint = format!("http://127.0.0.1:{}/v1", free_port());
    let out = sg.run(&[
        "one",
        "inference",
        "set",
        "--provider",
        "compatible-endpoint",
        "--model",
        "m",
        "--endpoint",
        &endpoint,
    ]);
    assert!(out.ok(), "{out}");
    let out = sg.run(&["one", "status"]);
    assert!(!out.ok() && out.stdout.contains("Degraded"), "{out}");
    let out = sg.run(&["two", "status"]);
    assert!(out.ok(), "{out}");

    // Logs mention the sandbox; devices list shows the pre-approved CLI device, nothing pending.
    let out = sg.run(&["one", "logs"]);
    assert!(out.ok() && out.stdout.contains("one"), "{out}");
    let (out, v) = sg.json(&["two", "devices", "list", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(
        v["result"]["paired"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    let out = sg.run(&["two", "devices", "approve", "no-such-request"]);
    assert!(!out.ok() && out.stderr.contains("next step"), "{out}");
}

#[test]
fn demo_runs_the_seed_scenario() {
    let sg = Sg::new();
    let out = sg.run(&["demo"]);
    assert!(out.ok(), "{out}");
    assert!(
        out.stdout.contains("[reuse] Skipping gateway (running)"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("Second onboard reused the gateway: yes"),
        "{out}"
    );
    assert!(out.stdout.contains("alpha → mock / mock-alpha"), "{out}");
    assert!(out.stdout.contains("beta → mock / mock-beta"), "{out}");
    assert!(out.stdout.contains("--provider gemini-api"), "{out}");
    // With --state-dir the gateway keeps running (the guard stops it).
    let (_, v) = sg.json(&["status", "--json"]);
    assert_eq!(v["sandboxes"].as_array().map(Vec::len), Some(2));
    // A second run reuses everything.
    let out = sg.run(&["demo"]);
    assert!(out.ok() && out.stdout.contains("already exists"), "{out}");
}

#[test]
fn onboard_and_inference_set_write_the_sandboxes_openclaw_config() {
    let sg = Sg::new();
    sg.onboard_mock("oc", "mock-first");
    let file = sg.sandbox_dir("oc").join("openclaw").join("openclaw.json");
    let read =
        || -> serde_json::Value { serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap() };
    let v = read();
    let p = &v["models"]["providers"]["sandgate"];
    assert_eq!(p["baseUrl"], "https://inference.local/v1", "{v}");
    assert_eq!(p["api"], "openai-completions");
    assert_eq!(p["apiKey"], "unused");
    assert_eq!(p["models"][0]["id"], "mock-first");
    assert_eq!(
        v["agents"]["defaults"]["model"]["primary"],
        "sandgate/mock-first"
    );
    let token = std::fs::read_to_string(sg.sandbox_dir("oc").join("token")).unwrap_or_default();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        token.trim().is_empty() || !text.contains(token.trim()),
        "no secret in it"
    );

    // The user's own edits survive `inference set`.
    let mut edited = v.clone();
    edited["gateway"] = serde_json::json!({"mode": "local"});
    std::fs::write(&file, edited.to_string()).unwrap();
    let out = sg.run(&[
        "oc",
        "inference",
        "set",
        "--provider",
        "mock",
        "--model",
        "mock-second",
    ]);
    assert!(out.ok(), "{out}");
    let v = read();
    assert_eq!(v["gateway"]["mode"], "local", "{v}");
    assert_eq!(
        v["agents"]["defaults"]["model"]["primary"],
        "sandgate/mock-second"
    );
    assert_eq!(
        v["models"]["providers"]["sandgate"]["models"][0]["id"],
        "mock-second"
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real OpenClaw CLI (npm `openclaw` 2026.5.28, pinned in `tests/openclaw/package.json`)
//! inside a connected sandbox: `openclaw agent` must run in gateway mode, with no pairing wait
//! and no embedded fallback — the seed bug, checked against the real client.
//!
//! `scripts/test` installs it with npm and sets `SANDGATE_TEST_OPENCLAW` (the CLI's
//! `openclaw.mjs`) and `SANDGATE_TEST_NODE` (a Node.js it supports). Without them this test
//! prints that it did not run and passes: the Rust-only suite stays runnable offline.

mod common;

use common::Sg;

fn openclaw() -> Option<(String, String)> {
    match (
        std::env::var("SANDGATE_TEST_NODE"),
        std::env::var("SANDGATE_TEST_OPENCLAW"),
    ) {
        (Ok(node), Ok(cli)) => Some((node, cli)),
        _ => {
            eprintln!(
                "NOTE: real OpenClaw CLI test not run: set SANDGATE_TEST_NODE and SANDGATE_TEST_OPENCLAW (scripts/test does)"
            );
            None
        }
    }
}

#[test]
fn real_openclaw_cli_runs_agent_turns_through_the_sandbox_gateway() {
    let Some((node, cli)) = openclaw() else {
        return;
    };
    let sg = Sg::new();
    let (out, _port) = sg.onboard_mock("alpha", "mock-alpha");
    assert!(out.ok(), "{}", out.all());
    let (out, _port) = sg.onboard_mock("beta", "mock-beta");
    assert!(out.ok(), "{}", out.all());

    for (sandbox, model) in [("alpha", "mock-alpha"), ("beta", "mock-beta")] {
        let msg = format!("Test from {sandbox}");
        let out = sg.run(&[
            sandbox,
            "exec",
            "--",
            &node,
            &cli,
            "agent",
            "--agent",
            "main",
            "-m",
            &msg,
            "--session-id",
            "debug",
            "--json",
        ]);
        assert!(
            out.ok(),
            "openclaw agent failed in {sandbox}: {}",
            out.all()
        );
        assert!(
            !out.stderr.contains("EMBEDDED FALLBACK"),
            "fell back to embedded mode: {}",
            out.all()
        );
        assert!(!out.stderr.contains("pending approval"), "{}", out.all());
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
        assert_eq!(v["status"], "ok", "{v}");
        let text = v["result"]["payloads"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains(&msg) && text.contains(model),
            "reply from the wrong route: {v}"
        );
        assert_eq!(v["result"]["meta"]["agentMeta"]["sandbox"], sandbox);
    }

    // `gateway call health` prints the res payload verbatim.
    let out = sg.run(&[
        "alpha", "exec", "--", &node, &cli, "gateway", "call", "health", "--json",
    ]);
    assert!(out.ok(), "{}", out.all());
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["sandbox"], "alpha");

    // Nothing is pending approval in either sandbox.
    for sandbox in ["alpha", "beta"] {
        let (out, v) = sg.json(&[sandbox, "devices", "list", "--json"]);
        assert!(out.ok(), "{}", out.all());
        assert_eq!(
            v["result"]["pending"].as_array().map(Vec::len),
            Some(0),
            "{v}"
        );
    }
}

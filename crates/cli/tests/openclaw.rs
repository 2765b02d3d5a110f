#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real OpenClaw CLIs (npm `openclaw` 2026.5.28 and 2026.9.6, pinned in
//! `tests/openclaw/v*/package-lock.json`) inside connected sandboxes: `openclaw agent` must run
//! in gateway mode, with no pairing wait and no embedded fallback — the seed bug, checked
//! against the real clients. 5.28 signs with a device and asks `operator.write`; 9.6 connects
//! device-less with the sandbox token and asks `operator.admin`.
//!
//! `scripts/test` installs them with npm and sets `SANDGATE_TEST_NODE` (Node.js 24 from npm)
//! and `SANDGATE_TEST_OPENCLAW_DIR` (`tests/openclaw`). Without them these tests print that
//! they did not run and pass: the Rust-only suite stays runnable offline.

mod common;

use common::Sg;

#[test]
fn openclaw_2026_5_28_runs_agent_turns_through_the_sandbox_gateway() {
    real_cli_runs_agent_turns("2026.5.28");
}

#[test]
fn openclaw_2026_9_6_runs_agent_turns_through_the_sandbox_gateway() {
    real_cli_runs_agent_turns("2026.9.6");
}

fn real_cli_runs_agent_turns(version: &str) {
    let Some((node, cli)) = common::openclaw_cli(version) else {
        return;
    };
    // The CLI's own child processes must find the same Node.js first on PATH.
    let path = format!("PATH={}", common::path_with(&node));
    let sg = Sg::new();
    let (out, _port) = sg.onboard_mock("alpha", "mock-alpha");
    assert!(out.ok(), "{}", out.all());
    let (out, _port) = sg.onboard_mock("beta", "mock-beta");
    assert!(out.ok(), "{}", out.all());

    // Each turn runs inside its sandbox (full isolation where the kernel allows it), both
    // sandboxes at once.
    let visible = common::visible_args();
    let sandboxes = [("alpha", "mock-alpha"), ("beta", "mock-beta")];
    let running: Vec<_> = sandboxes
        .iter()
        .map(|(sandbox, _)| {
            let msg = format!("Test from {sandbox}");
            sg.cmd(&common::exec_args(
                sandbox,
                &visible,
                &[
                    "env",
                    &path,
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
                ],
            ))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for ((sandbox, model), child) in sandboxes.into_iter().zip(running) {
        let msg = format!("Test from {sandbox}");
        let out = common::Out::from(child.wait_with_output().unwrap());
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
    let out = sg.run(&common::exec_args(
        "alpha",
        &visible,
        &[
            "env", &path, &node, &cli, "gateway", "call", "health", "--json",
        ],
    ));
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

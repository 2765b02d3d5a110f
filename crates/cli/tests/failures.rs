//! End to end: every refusal is a clear message naming the next step, and leaves nothing
//! half-created; agent failures exit non-zero with a typed cause in human and JSON output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;

use common::{Sg, free_port};

/// Nothing was created: no daemon, no sandboxes.
fn assert_nothing_created(sg: &Sg) {
    assert!(sg.pid().is_none(), "a gateway was started");
    let sandboxes = sg.state().join("sandboxes");
    let n = std::fs::read_dir(&sandboxes)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(n, 0, "a sandbox directory was created");
}

#[test]
fn bad_names_are_refused_before_anything_is_created() {
    let sg = Sg::new();
    let long = "a".repeat(64);
    for (name, expect) in [
        ("../evil", "path character"),
        ("a/b", "path character"),
        ("", "empty"),
        (long.as_str(), "limit is 63"),
        ("Alpha", "uppercase"),
        ("status", "is a sandgate command"),
    ] {
        let out = sg.run(&[
            "onboard",
            "--name",
            name,
            "--provider",
            "mock",
            "--model",
            "m",
        ]);
        assert!(!out.ok(), "{name:?} accepted:\n{out}");
        assert!(out.stderr.contains(expect), "{name:?}:\n{out}");
        assert!(
            out.stderr.contains("[invalid_name]") && out.stderr.contains("next step:"),
            "{out}"
        );
    }
    assert_nothing_created(&sg);
}

#[test]
fn missing_credential_names_the_variable() {
    let sg = Sg::new();
    let out = sg.run(&[
        "onboard",
        "--name",
        "gem",
        "--provider",
        "gemini-api",
        "--model",
        "gemini-2.5-flash-lite",
    ]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("GEMINI_API_KEY"), "{out}");
    assert!(out.stderr.contains("export GEMINI_API_KEY="), "{out}");
    let out = sg.run(&[
        "onboard",
        "--name",
        "gem",
        "--provider",
        "mock",
        "--model",
        "m",
        "--credential-env",
        "SG_TEST_UNSET_KEY",
    ]);
    assert!(
        !out.ok() && out.stderr.contains("SG_TEST_UNSET_KEY"),
        "{out}"
    );
    // JSON form.
    let out = sg.run(&[
        "onboard",
        "--name",
        "gem",
        "--provider",
        "openai-api",
        "--model",
        "gpt",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["type"], "missing_credential");
    assert_nothing_created(&sg);
}

#[test]
fn port_taken_by_another_program_is_named() {
    let sg = Sg::new();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = sg.run(&[
        "onboard",
        "--name",
        "p",
        "--provider",
        "mock",
        "--model",
        "m",
        "--port",
        &port,
    ]);
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr
            .contains(&format!("port {port} is already in use")),
        "{out}"
    );
    assert!(
        out.stderr.contains("[port_in_use]") && out.stderr.contains("--port"),
        "{out}"
    );
    assert_nothing_created(&sg);

    // With a gateway running, a port recorded for another sandbox names that sandbox.
    let (_, taken) = sg.onboard_mock("first", "m");
    let t = taken.to_string();
    let out = sg.run(&[
        "onboard",
        "--name",
        "second",
        "--provider",
        "mock",
        "--model",
        "m",
        "--port",
        &t,
    ]);
    assert!(
        !out.ok() && out.stderr.contains("used by sandbox `first`"),
        "{out}"
    );
    assert!(!sg.sandbox_dir("second").exists());
    drop(holder);
}

#[test]
fn agent_against_a_stopped_gateway_is_gateway_unreachable() {
    let sg = Sg::new();
    sg.onboard_mock("down", "m");
    let out = sg.run(&["gateway", "stop"]);
    assert!(out.ok(), "{out}");
    let out = sg.run(&["down", "agent", "--agent", "main", "-m", "hello"]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("gateway_unreachable"), "{out}");
    assert!(out.stderr.contains("gateway start"), "{out}");
    let out = sg.run(&["down", "agent", "--agent", "main", "-m", "hello", "--json"]);
    assert!(!out.ok(), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["type"], "gateway_unreachable");
    assert!(
        v["error"]["remedy"]
            .as_str()
            .unwrap()
            .contains("gateway start")
    );
}

#[test]
fn failing_upstream_fails_verification_and_agent_turns() {
    let sg = Sg::new();
    let closed = free_port();
    let endpoint = format!("http://127.0.0.1:{closed}/v1");
    let port = free_port().to_string();
    let out = common::Out::from(
        sg.cmd(&[
            "onboard",
            "--name",
            "broken",
            "--provider",
            "compatible-endpoint",
            "--model",
            "m",
            "--endpoint",
            &endpoint,
            "--port",
            &port,
            "--credential-env",
            "SG_TEST_SECRET_KEY",
        ])
        .env("SG_TEST_SECRET_KEY", "sk-test-secret-4242")
        .output()
        .unwrap(),
    );
    assert!(!out.ok(), "verification should fail:\n{out}");
    assert!(out.stdout.contains("[8/8]"), "{out}");
    assert!(out.stderr.contains("upstream_error"), "{out}");
    assert!(
        out.stderr.contains("not verified") && out.stderr.contains("broken destroy"),
        "{out}"
    );

    // The provider key stays in the gateway: not in output, logs, or the sandbox's files.
    assert!(!out.all().contains("sk-test-secret-4242"));
    let log = std::fs::read_to_string(sg.state().join("logs/gateway.log")).unwrap();
    assert!(!log.contains("sk-test-secret-4242"));
    for f in ["env", "sandbox.json", "gateway-token"] {
        let text = std::fs::read_to_string(sg.sandbox_dir("broken").join(f)).unwrap();
        assert!(!text.contains("sk-test-secret-4242"), "{f}");
    }

    // The sandbox stays, marked not verified; status says which and exits non-zero.
    let (out, status) = sg.json(&["status", "--json"]);
    assert!(!out.ok(), "{out}");
    assert_eq!(status["gateway"]["running"], true);
    assert_eq!(status["sandboxes"][0]["name"], "broken");
    assert_eq!(status["sandboxes"][0]["ready"], false);
    assert_eq!(status["sandboxes"][0]["inference"], "unreachable");
    let out = sg.run(&["status"]);
    assert!(
        !out.ok() && out.stdout.contains("Degraded: broken"),
        "{out}"
    );

    let out = sg.run(&["broken", "agent", "--agent", "main", "-m", "hello"]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("upstream_error"), "{out}");
    let out = sg.run(&[
        "broken", "agent", "--agent", "main", "-m", "hello", "--json",
    ]);
    assert!(!out.ok(), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["error"]["type"], "upstream_error");
    assert!(!v["error"]["remedy"].as_str().unwrap().is_empty());

    // Destroy removes it cleanly.
    let out = sg.run(&["broken", "destroy"]);
    assert!(out.ok(), "{out}");
    let (_, list) = sg.json(&["list", "--json"]);
    assert_eq!(list["sandboxes"].as_array().map(Vec::len), Some(0));
}

#[test]
fn unknown_sandbox_and_completions() {
    let sg = Sg::new();
    let out = sg.run(&["nosuch", "status"]);
    assert!(
        !out.ok() && out.stderr.contains("no sandbox named `nosuch`"),
        "{out}"
    );
    assert!(out.stderr.contains("onboard"), "{out}");
    let out = sg.run(&["nosuch", "agent", "-m", "x", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["error"]["type"], "unknown_sandbox");
    let out = sg.run(&["completions", "bash"]);
    assert!(out.ok() && out.stdout.contains("sandgate"), "{out}");
    let out = sg.run(&["list", "--json"]);
    assert!(out.ok(), "{out}");
    let out = sg.run(&["gateway", "stop"]);
    assert!(out.ok() && out.stdout.contains("not running"), "{out}");
    assert_nothing_created(&sg);
}

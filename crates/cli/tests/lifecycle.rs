//! End to end: two sandboxes on one gateway, reuse, list/status, concurrent turns, destroy,
//! restart, stale pid file. Real `sandgate`/`sandgated` processes on a temporary state dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Sg, alive, wait_until};

fn gateway(sg: &Sg) -> serde_json::Value {
    let (_, v) = sg.json(&["gateway", "status", "--json"]);
    v["gateway"].clone()
}

#[test]
fn two_sandboxes_share_one_gateway_through_destroy_and_restart() {
    let sg = Sg::new();
    let (first, port_a) = sg.onboard_mock("alpha", "mock-alpha");
    for k in 1..=8 {
        assert!(first.stdout.contains(&format!("[{k}/8]")), "{first}");
    }
    assert!(!first.stdout.contains("[reuse]"), "{first}");
    let g1 = gateway(&sg);
    assert_eq!(g1["running"], true);

    // The second onboard reuses the gateway: same pid, same id, same CA.
    let (second, port_b) = sg.onboard_mock("beta", "mock-beta");
    assert!(
        second.stdout.contains("[reuse] Skipping gateway (running)"),
        "{second}"
    );
    assert!(
        second.stdout.contains("Reusing healthy gateway."),
        "{second}"
    );
    let g2 = gateway(&sg);
    assert_eq!(g1["pid"], g2["pid"]);
    assert_eq!(g1["id"], g2["id"]);
    assert_eq!(g1["caFingerprint"], g2["caFingerprint"]);

    // list / status JSON.
    let (out, list) = sg.json(&["list", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(list["schemaVersion"], 1);
    assert_eq!(list["gateway"]["running"], true);
    assert_eq!(list["gateway"]["pid"], g1["pid"]);
    let sbs = list["sandboxes"].as_array().unwrap();
    assert_eq!(sbs.len(), 2);
    assert_eq!(sbs[0]["name"], "alpha");
    assert_eq!(sbs[0]["port"], port_a);
    assert_eq!(sbs[0]["model"], "mock-alpha");
    assert_eq!(sbs[1]["port"], port_b);
    assert_eq!(sbs[1]["provider"], "mock");
    assert!(sbs.iter().all(|s| s["ready"] == true), "{list}");
    let (out, status) = sg.json(&["status", "--json"]);
    assert!(out.ok(), "status should be healthy:\n{out}");
    assert_eq!(status["sandboxes"][1]["inference"], "healthy");
    let human = sg.run(&["status"]);
    assert!(
        human.ok() && human.stdout.contains("alpha") && human.stdout.contains("beta"),
        "{human}"
    );

    // Concurrent turns, each on its own model, over the gateway.
    let a = sg.spawn(&[
        "alpha",
        "agent",
        "--agent",
        "main",
        "-m",
        "Test from alpha",
        "--session-id",
        "debug",
        "--json",
    ]);
    let b = sg.spawn(&[
        "beta",
        "agent",
        "--agent",
        "main",
        "-m",
        "Test from beta",
        "--session-id",
        "debug",
        "--json",
    ]);
    for (child, model, name) in [(a, "mock-alpha", "alpha"), (b, "mock-beta", "beta")] {
        let out = common::Out::from(child.wait_with_output().unwrap());
        assert!(out.ok(), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["transport"], "gateway");
        assert_eq!(v["sandbox"], name);
        assert_eq!(v["model"], model);
        assert_eq!(v["sessionId"], "debug");
        assert!(!v["reply"].as_str().unwrap().is_empty());
    }

    // Destroying one leaves the gateway and the other sandbox working.
    let out = sg.run(&["alpha", "destroy", "--yes"]);
    assert!(out.ok(), "{out}");
    assert!(!sg.sandbox_dir("alpha").exists());
    assert_eq!(gateway(&sg)["pid"], g1["pid"]);
    let out = sg.run(&["beta", "agent", "--agent", "main", "-m", "still there?"]);
    assert!(out.ok(), "{out}");
    let out = sg.run(&["alpha", "status"]);
    assert!(
        !out.ok() && out.stderr.contains("no sandbox named `alpha`"),
        "{out}"
    );

    // Stop: status tells the truth and exits non-zero.
    let pid = g1["pid"].as_u64().unwrap() as u32;
    let out = sg.run(&["gateway", "stop"]);
    assert!(out.ok(), "{out}");
    assert!(!alive(pid));
    assert!(!sg.state().join("gateway.pid").exists());
    assert!(!sg.state().join("admin.sock").exists());
    let (out, status) = sg.json(&["status", "--json"]);
    assert!(!out.ok(), "{out}");
    assert_eq!(status["gateway"]["running"], false);
    assert_eq!(status["sandboxes"][0]["name"], "beta");
    assert_eq!(status["sandboxes"][0]["ready"], false);
    let out = sg.run(&["status"]);
    assert!(!out.ok() && out.stdout.contains("gateway is down"), "{out}");

    // Start: everything is back; the turn needs no new pairing.
    let out = sg.run(&["gateway", "start"]);
    assert!(out.ok(), "{out}");
    let g3 = gateway(&sg);
    assert_ne!(g3["pid"], g1["pid"]);
    assert_eq!(g3["caFingerprint"], g1["caFingerprint"]);
    assert_eq!(g3["id"], g1["id"]);
    let out = sg.run(&[
        "beta",
        "agent",
        "--agent",
        "main",
        "-m",
        "after restart",
        "--json",
    ]);
    assert!(out.ok(), "{out}");
    let (_, devices) = sg.json(&["beta", "devices", "list", "--json"]);
    assert_eq!(
        devices["result"]["pending"].as_array().map(Vec::len),
        Some(0),
        "{devices}"
    );
    let (out, list) = sg.json(&["list", "--json"]);
    assert!(out.ok());
    assert_eq!(list["sandboxes"][0]["port"], port_b);
    assert_eq!(list["sandboxes"][0]["ready"], true);

    // start is idempotent.
    let out = sg.run(&["gateway", "start"]);
    assert!(
        out.ok() && out.stdout.contains("Reusing healthy gateway"),
        "{out}"
    );
    assert_eq!(gateway(&sg)["pid"], g3["pid"]);
}

#[test]
fn stale_pid_file_is_cleaned_up() {
    let sg = Sg::new();
    // A pid that certainly is not running: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    wait_until("the child to disappear", Duration::from_secs(5), || {
        !alive(dead)
    });
    std::fs::write(sg.state().join("gateway.pid"), format!("{dead}\n")).unwrap();

    let out = sg.run(&["gateway", "status"]);
    assert!(!out.ok() && out.stdout.contains("down"), "{out}");
    let out = sg.run(&["gateway", "start"]);
    assert!(out.ok(), "{out}");
    assert!(out.stdout.contains("stale"), "{out}");
    let pid = sg.pid().unwrap();
    assert_ne!(pid, dead);
    assert!(alive(pid));
    let out = sg.run(&["gateway", "status"]);
    assert!(out.ok(), "{out}");

    // A stale pid file seen by stop is removed too.
    let out = sg.run(&["gateway", "stop"]);
    assert!(out.ok(), "{out}");
    std::fs::write(sg.state().join("gateway.pid"), format!("{dead}\n")).unwrap();
    let out = sg.run(&["gateway", "stop"]);
    assert!(out.ok() && out.stdout.contains("stale"), "{out}");
    assert!(!sg.state().join("gateway.pid").exists());
}

#[test]
fn exec_runs_in_the_sandbox_environment_without_provider_keys() {
    let sg = Sg::new();
    let (_, port) = sg.onboard_mock("envbox", "mock-model");
    let script = "echo URL=$OPENCLAW_GATEWAY_URL; echo PORT=$OPENCLAW_GATEWAY_PORT; \
                  echo SB=$SANDGATE_SANDBOX; echo PROXY=$https_proxy; echo NOPROXY=$NO_PROXY; \
                  test -s \"$SSL_CERT_FILE\" && echo CA=file; echo TOK=${OPENCLAW_GATEWAY_TOKEN:+set}; \
                  echo KEY=${GEMINI_API_KEY:-none}; exit 7";
    let visible = common::visible_args();
    let out = sg
        .cmd(&common::exec_args(
            "envbox",
            &visible,
            &["sh", "-c", script],
        ))
        .env("GEMINI_API_KEY", "sk-must-not-leak")
        .output()
        .unwrap();
    let out = common::Out::from(out);
    assert_eq!(out.code, Some(7), "{out}");
    assert!(
        out.stdout.contains(&format!("URL=ws://127.0.0.1:{port}")),
        "{out}"
    );
    assert!(out.stdout.contains(&format!("PORT={port}")), "{out}");
    assert!(out.stdout.contains("SB=envbox"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("PROXY=http://127.0.0.1:{port}")),
        "{out}"
    );
    assert!(out.stdout.contains("NOPROXY=127.0.0.1,localhost"), "{out}");
    assert!(out.stdout.contains("TOK=set"), "{out}");
    assert!(out.stdout.contains("KEY=none"), "{out}");
    assert!(
        out.stdout.contains("CA=file"),
        "the CA bundle is not readable inside: {out}"
    );

    // Inside that environment `sandgate agent` finds its sandbox from SANDGATE_SANDBOX.
    let out = sg.run(&common::exec_args(
        "envbox",
        &visible,
        &[common::SANDGATE, "agent", "-m", "hi from inside", "--json"],
    ));
    assert!(out.ok(), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["sandbox"], "envbox");
}

#[test]
fn connect_opens_the_shell_with_the_sandbox_environment() {
    use std::io::Write;
    let sg = Sg::new();
    let (_, port) = sg.onboard_mock("shellbox", "mock-model");
    let mut child = sg
        .cmd(&["shellbox", "connect"])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"in $SANDGATE_SANDBOX on $OPENCLAW_GATEWAY_PORT\"; exit 4\n")
        .unwrap();
    let out = common::Out::from(child.wait_with_output().unwrap());
    assert_eq!(out.code, Some(4), "{out}");
    assert!(
        out.stdout.contains(&format!("in shellbox on {port}")),
        "{out}"
    );
    assert!(
        out.stderr.contains("Connected to sandbox `shellbox`"),
        "{out}"
    );
}

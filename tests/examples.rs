//! Every example runs and says what it did. `cargo test` builds the examples; this runs the
//! built binaries from `target/<profile>/examples/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile.join("examples").join(name)
}

fn run(name: &str) -> String {
    let bin = example(name);
    assert!(
        bin.exists(),
        "{} is missing: run the whole `cargo test` (it builds the examples)",
        bin.display()
    );
    let out = Command::new(&bin).output().expect("run example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("--- {name}\n{stdout}");
    stdout
}

#[test]
fn embed_gateway_runs_a_turn_in_each_of_two_sandboxes() {
    let out = run("embed_gateway");
    assert!(out.contains("alpha answered by mock / mock-alpha"), "{out}");
    assert!(out.contains("beta answered by mock / mock-beta"), "{out}");
    assert!(out.contains("alpha usage: 1 requests"), "{out}");
}

#[test]
fn gateway_client_streams_a_turn() {
    let out = run("gateway_client");
    assert!(out.contains("streamed: ["), "{out}");
    assert!(out.contains("final reply from mock / mock-demo"), "{out}");
}

#[test]
fn inference_service_serves_inside_another_app() {
    let out = run("inference_service");
    assert!(out.contains("-> 200 OK: model \"mock-in-my-app\""), "{out}");
}

#[test]
fn embed_pairing_runs() {
    let out = run("embed_pairing");
    assert!(!out.is_empty());
}

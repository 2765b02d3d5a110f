//! `sandgate [<name>] logs --since/--follow/--json` against a real daemon's log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use common::Sg;

/// An upper bound for a line that must come (a failure bound, not a synchronisation).
const WITHIN: Duration = Duration::from_secs(60);

/// Kills the follower if the test fails before it was stopped.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn deny(port: u16, host: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let req = format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("read");
    assert_eq!(&head[9..12], b"403");
}

#[test]
fn since_selects_by_time_and_all_sandboxes_without_a_name() {
    let sg = Sg::new();
    sg.onboard_mock("alpha", "mock-a");
    let out = sg.run(&["alpha", "logs", "--since", "1d", "--json"]);
    assert!(out.ok(), "{out}");
    assert!(out.stdout.contains("sandbox created"), "{out}");
    let future = sg.run(&["alpha", "logs", "--since", "2999-01-01T00:00:00Z", "--json"]);
    assert!(future.ok() && future.stdout.trim().is_empty(), "{future}");
    // Without a name: the gateway's own lines too (they have no `sandbox` field).
    let all = sg.run(&["logs", "--since", "1h", "--json"]);
    assert!(all.stdout.contains("sandgated ready"), "{all}");
    assert!(!out.stdout.contains("sandgated ready"), "{out}");
    let bad = sg.run(&["logs", "--since", "yesterday-ish"]);
    assert!(!bad.ok() && bad.stderr.contains("--since"), "{bad}");
}

#[test]
fn follow_prints_new_lines_and_exits_cleanly_on_interrupt() {
    let sg = Sg::new();
    let (_, port) = sg.onboard_mock("alpha", "mock-a");
    let mut child = Reap(sg.spawn(&["alpha", "logs", "--follow", "--json"]));
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| loop {
        let line = rx
            .recv_timeout(WITHIN)
            .unwrap_or_else(|_| panic!("no line with {needle}"));
        if line.contains(needle) {
            return line;
        }
    };
    // The initial lines are out: what comes next is followed.
    wait_for("sandbox created");
    deny(port, "followed.example");
    let line = wait_for("followed.example");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
    assert_eq!(v["decision"], "denied");
    assert_eq!(v["sandbox"], "alpha");

    // Ctrl-C: a clean exit.
    let pid = child.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    reader.join().expect("reader");
}

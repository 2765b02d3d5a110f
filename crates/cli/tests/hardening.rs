//! The daemon against hostile admin clients and orphaned daemons, with real `sandgate` /
//! `sandgated` processes: a 16 MiB admin line without a newline is refused with a typed
//! error while the daemon's memory stays bounded, and a stopping orphan daemon leaves the
//! live daemon's pid file, `gateway.json` and admin socket alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Sg, alive, wait_until};

const SANDGATED: &str = env!("CARGO_BIN_EXE_sandgated");
const WAIT: Duration = Duration::from_secs(20);

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn start(sg: &Sg) -> u32 {
    let out = sg.run(&["gateway", "start"]);
    assert!(out.ok(), "{out}");
    sg.pid().expect("gateway.pid after start")
}

#[test]
fn oversized_admin_line_is_refused_with_bounded_memory() {
    let sg = Sg::new();
    let pid = start(&sg);
    let before = rss_kib(pid);
    let sock = UnixStream::connect(sg.state().join("admin.sock")).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut writer = sock.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 16 << 20 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut line = String::new();
    BufReader::new(&sock).read_line(&mut line).unwrap();
    let sent = flood.join().unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"]["kind"], "bad_request", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{v}"
    );
    assert!(
        sent < 16 << 20,
        "the daemon read all {sent} bytes instead of refusing early"
    );
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 6 * 1024, "daemon RSS grew by {grown} KiB");
    // Still serving.
    let (out, v) = sg.json(&["gateway", "status", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(v["gateway"]["pid"], pid);
}

/// Kills a directly spawned daemon if the test fails before it stops it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn stopping_an_orphan_leaves_the_live_daemons_files() {
    let sg = Sg::new();
    let orphan = start(&sg);
    let sock = sg.state().join("admin.sock");
    let orphan_sock = std::fs::metadata(&sock).unwrap().ino();
    // The orphan's lock goes away (as when the state dir's lock file is deleted), so a second
    // daemon starts and takes over the runtime files.
    std::fs::remove_file(sg.state().join("gateway.lock")).unwrap();
    let live = Daemon(
        Command::new(SANDGATED)
            .arg("--state-dir")
            .arg(sg.state())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let live_pid = live.0.id();
    wait_until("the live daemon's files", WAIT, || {
        sg.pid() == Some(live_pid)
            && std::fs::metadata(&sock).is_ok_and(|m| m.ino() != orphan_sock)
            && UnixStream::connect(&sock).is_ok()
    });
    let live_json = std::fs::read_to_string(sg.state().join("gateway.json")).unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &orphan.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("the orphan to exit", WAIT, || !alive(orphan));

    assert_eq!(sg.pid(), Some(live_pid), "gateway.pid was taken away");
    assert_eq!(
        std::fs::read_to_string(sg.state().join("gateway.json")).unwrap(),
        live_json,
        "gateway.json was taken away"
    );
    let now = std::fs::metadata(&sock).expect("admin.sock was taken away");
    assert_ne!(now.ino(), orphan_sock);
    let (out, v) = sg.json(&["gateway", "status", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(v["gateway"]["pid"], live_pid);
    assert_eq!(v["gateway"]["running"], true);

    // The live daemon, stopped normally, removes its own files.
    let out = sg.run(&["gateway", "stop"]);
    assert!(out.ok(), "{out}");
    let mut live = live;
    let exited = live.0.wait().unwrap();
    assert!(exited.success(), "{exited:?}");
    assert_eq!(sg.pid(), None);
    assert!(!sock.exists());
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Sandbox ports flooded by a hostile local process, against a real daemon started with a
//! small descriptor limit: one flooded port refuses what exceeds its cap while another sandbox
//! keeps running agent turns; every port flooded at once fills the gateway-wide cap, beyond
//! which every connection is refused at once, while `status` answers truthfully. In both, the
//! log grows by a few lines, the daemon spends little CPU, and its descriptors come back.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Sg;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(") ").unwrap().1;
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn log_lines(sg: &Sg) -> usize {
    std::fs::read_to_string(sg.state().join("logs/gateway.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The log grew by a few lines at most and the daemon spent little CPU since the baseline.
fn assert_quiet(sg: &Sg, pid: u32, lines0: usize, cpu0: u64) {
    let grown = log_lines(sg) - lines0;
    assert!(
        grown <= 40,
        "the log grew by {grown} lines during the flood"
    );
    let ticks = cpu_ticks(pid) - cpu0;
    assert!(
        ticks < 200,
        "the daemon spent {ticks} clock ticks during the flood"
    );
}

/// A fresh state dir whose daemon runs with at most `nofile` open files (soft and hard).
fn start_with_nofile(nofile: u32) -> Sg {
    let sg = Sg::new();
    let cmd = format!(
        "ulimit -n {nofile} && exec {} --state-dir {} gateway start",
        common::SANDGATE,
        sg.state().display()
    );
    let out = common::Out::from(
        std::process::Command::new("sh")
            .args(["-c", &cmd])
            .output()
            .unwrap(),
    );
    assert!(out.ok(), "{out}");
    sg
}

#[test]
fn a_flooded_sandbox_port_never_starves_the_others() {
    let sg = start_with_nofile(256);
    let (_, port_a) = sg.onboard_mock("alpha", "mock-alpha");
    sg.onboard_mock("beta", "mock-beta");
    let pid = sg.pid().unwrap();
    let limit = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limit
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 256 ")),
        "{limit}"
    );

    let (fds0, lines0, cpu0) = (fds(pid), log_lines(&sg), cpu_ticks(pid));
    // 200 silent connections; the cap is 256 / 4 = 64, so at least 136 are refused at once.
    let mut flood: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port_a)).unwrap())
        .collect();
    let mut refused = 0;
    let t0 = Instant::now();
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503")
        {
            refused += 1;
        }
    }
    assert!(
        refused >= 136,
        "only {refused} of 200 flood connections were refused"
    );
    eprintln!("{refused} of 200 refused in {:?}", t0.elapsed());
    assert!(fds(pid) < 200, "the flood took {} descriptors", fds(pid));
    // A new connection to alpha beyond its cap is still answered (503), not left hanging
    // (the held ones are closed by the keep-alive idle timeout, 15 s, so check at once).
    let mut extra = TcpStream::connect(("127.0.0.1", port_a)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = extra.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut head = [0u8; 12];
    extra.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 503");

    // Meanwhile the other sandbox and the admin socket are served.
    for i in 0..3 {
        let out = sg.run(&[
            "beta",
            "agent",
            "-m",
            &format!("turn {i} during the flood"),
            "--json",
        ]);
        assert!(out.ok() && out.stdout.contains("mock-beta"), "{out}");
    }
    let t = Instant::now();
    let out = sg.run(&["status", "--json"]);
    assert!(out.ok(), "{out}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "status took {:?} during the flood",
        t.elapsed()
    );
    // 200 refusals, 3 turns and a status cost well under a second of the daemon's CPU.
    assert_quiet(&sg, pid, lines0, cpu0);

    drop(flood);
    drop(extra);
    common::wait_until(
        "the daemon's descriptors to come back",
        Duration::from_secs(20),
        || fds(pid) <= fds0 + 2,
    );
    let out = sg.run(&["alpha", "agent", "-m", "after the flood", "--json"]);
    assert!(out.ok() && out.stdout.contains("mock-alpha"), "{out}");
}

/// Every sandbox port flooded at once, with the daemon at a small descriptor limit
/// (`ulimit -n 64`: per-port cap 16, all ports together 24, 16 descriptors kept for the daemon):
/// the flood fills the gateway-wide cap, and every connection beyond it, on any port, is
/// answered `503` at once (never left hanging); the daemon never runs out of descriptors, so
/// `status` answers truthfully (every sandbox still verified), it neither spins nor floods its
/// log, and when the flood ends its descriptors come back and every sandbox serves turns.
#[test]
fn the_daemon_at_its_descriptor_budget_answers_and_recovers() {
    let sg = start_with_nofile(64);
    let names = ["alpha", "beta", "gamma", "delta"];
    let ports: Vec<u16> = names
        .iter()
        .map(|n| sg.onboard_mock(n, &format!("mock-{n}")).1)
        .collect();
    let pid = sg.pid().unwrap();
    let (fds0, lines0, cpu0) = (fds(pid), log_lines(&sg), cpu_ticks(pid));

    let mut flood: Vec<TcpStream> = Vec::new();
    for _ in 0..25 {
        for p in &ports {
            flood.push(TcpStream::connect(("127.0.0.1", *p)).unwrap());
        }
    }
    let (mut at_port, mut at_total) = (0, 0);
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 512];
        if let Ok(n) = s.read(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.contains("over all sandboxes") {
                at_total += 1;
            } else if text.starts_with("HTTP/1.1 503") {
                at_port += 1;
            }
        }
    }
    let held = flood.len() - at_port - at_total;
    eprintln!(
        "flood of {}: {held} held, {at_port} refused at a port's cap, {at_total} at the total; daemon holds {} descriptors (baseline {fds0})",
        flood.len(),
        fds(pid)
    );
    assert_eq!(held, 24, "the gateway-wide cap is 24");
    assert!(at_total >= 60, "{at_total}");
    assert!(fds(pid) < 64, "the daemon is at its descriptor limit");

    // A turn in any sandbox now gets a clear refusal, at once.
    let t = Instant::now();
    let out = sg.run(&["alpha", "agent", "-m", "during the flood", "--json"]);
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr.contains("503") || out.stdout.contains("503"),
        "{out}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    let t = Instant::now();
    let (out, v) = sg.json(&["status", "--json"]);
    assert!(out.ok(), "{out}");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "status took {:?}",
        t.elapsed()
    );
    let listed = v["sandboxes"].as_array().unwrap();
    assert_eq!(listed.len(), names.len(), "{v}");
    assert!(listed.iter().all(|s| s["verified"] == true), "{v}");
    assert_quiet(&sg, pid, lines0, cpu0);

    drop(flood);
    common::wait_until(
        "the daemon's descriptors to come back",
        Duration::from_secs(20),
        || fds(pid) <= fds0 + 2,
    );
    for n in names {
        let out = sg.run(&[n, "agent", "-m", "after the flood", "--json"]);
        assert!(
            out.ok() && out.stdout.contains(&format!("mock-{n}")),
            "{out}"
        );
    }
}

//! Equipment of the crash-consistency test: a seeded RNG, SIGKILL of the real daemon, pairing
//! clients (pending requests, token rotation) and the invariant checks run after each restart.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sandgate_core::Scope;
use sandgate_core::identity::DeviceIdentity;
use sandgate_gateway::client::{self, ClientOptions, Connection as WsConn};
use serde_json::{Value, json};

use crate::common::{Sg, alive, wait_until};

/// splitmix64: small, seedable, good enough to pick operations and delays.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// SIGKILLs the running daemon and waits until it is gone. Returns whether a daemon was
/// alive to be killed.
pub fn kill_daemon(sg: &Sg) -> bool {
    let Some(pid) = sg.pid() else { return false };
    if !alive(pid) {
        return false;
    }
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    let hit = rustix::process::kill_process(p, rustix::process::Signal::KILL).is_ok();
    wait_until("the killed daemon to exit", Duration::from_secs(10), || {
        !alive(pid)
    });
    hit
}

/// `sandgate gateway start`; panics with its output on failure (a restart after a crash
/// must always succeed).
pub fn restart(sg: &Sg) {
    let out = sg.run(&["gateway", "start"]);
    assert!(out.ok(), "gateway start after SIGKILL failed:\n{out}");
}

/// `PRAGMA integrity_check` on a read-only connection to `<state>/sandgate.db`.
pub fn integrity(state: &Path) -> String {
    let c = Connection::open_with_flags(
        state.join("sandgate.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open sandgate.db read-only");
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity_check")
}

/// The sandboxes the daemon reports (`list --json`), by name, with their `gateway-token`.
pub fn registry(sg: &Sg) -> BTreeSet<String> {
    let (out, v) = sg.json(&["list", "--json"]);
    assert!(out.ok(), "{out}");
    assert_eq!(v["gateway"]["running"], true, "{v}");
    v["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The sandbox directories on disk (hidden temp files ignored).
pub fn on_disk(sg: &Sg) -> BTreeSet<String> {
    std::fs::read_dir(sg.state().join("sandboxes"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// The files a usable sandbox has on disk.
pub const SANDBOX_FILES: &[&str] = &[
    "sandbox.json",
    "gateway-token",
    "env",
    "device.json",
    "device-auth.json",
];

pub fn token_of(sg: &Sg, name: &str) -> String {
    std::fs::read_to_string(sg.sandbox_dir(name).join("gateway-token"))
        .unwrap_or_else(|e| panic!("gateway-token of {name}: {e}"))
}

/// One agent turn through the CLI on the sandbox's pre-approved device.
pub fn agent_turn(sg: &Sg, name: &str, msg: &str) {
    let out = sg.run(&[name, "agent", "--agent", "main", "-m", msg, "--json"]);
    assert!(out.ok(), "agent turn on {name} failed:\n{out}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    assert!(!v.is_null(), "agent output is not JSON:\n{out}");
}

/// `devices list --json` of a sandbox: (pending request ids, paired device id → scopes).
pub fn devices(sg: &Sg, name: &str) -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    let (out, v) = sg.json(&[name, "devices", "list", "--json"]);
    assert!(out.ok(), "{out}");
    let r = &v["result"];
    let pending = r["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .map(|p| p["requestId"].as_str().expect("requestId").to_owned())
        .collect();
    let paired = r["paired"]
        .as_array()
        .expect("paired")
        .iter()
        .map(|d| {
            let scopes = d["scopes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (d["deviceId"].as_str().expect("deviceId").to_owned(), scopes)
        })
        .collect();
    (pending, paired)
}

/// The device id of the identity in `dir`.
pub fn device_id(dir: &Path) -> String {
    DeviceIdentity::load(&dir.join("device.json"))
        .expect("device.json")
        .device_id()
}

/// Client options for `url` with the sandbox token and the device identity in `dir`.
pub fn opts(url: &str, token: Option<&str>, dir: &Path, scopes: Vec<Scope>) -> ClientOptions {
    let mut o = ClientOptions::new(url);
    o.token = token.map(str::to_owned);
    o.identity_dir = Some(dir.to_path_buf());
    o.scopes = scopes;
    o.timeout = Duration::from_secs(10);
    o
}

/// A fresh device (identity in a new directory under `root`) that connects with the sandbox
/// token asking for `extra` beyond the ceiling: it is paired within the ceiling and
/// leaves a pending request for the rest. Returns (identity dir, request id).
pub async fn pending_request(
    root: &Path,
    n: usize,
    url: &str,
    token: &str,
    extra: Scope,
) -> (PathBuf, String) {
    let dir = root.join(format!("dev-{n}"));
    let conn = client::connect(opts(
        url,
        Some(token),
        &dir,
        vec![Scope::Read, Scope::Write, extra],
    ))
    .await
    .expect("connect a new device");
    let id = conn
        .pending_request()
        .expect("a pending request for operator.pairing")
        .to_owned();
    conn.close().await;
    (dir, id)
}

/// Connects the device in `dir` with the sandbox token, asking for `operator.admin` (the
/// rotator: approved for it once, uninterrupted; only an admin rotates another device's token).
pub async fn rotator(url: &str, token: &str, dir: &Path) -> WsConn {
    let conn = client::connect(opts(url, Some(token), dir, vec![Scope::Admin]))
        .await
        .expect("rotator connects");
    assert!(
        conn.granted_scopes().contains(&Scope::Admin),
        "the rotator was approved for operator.admin"
    );
    conn
}

/// `device.token.rotate` of `victim`'s operator token; the new token on success.
pub async fn rotate(conn: &mut WsConn, victim: &str) -> Result<String, String> {
    let v = conn
        .call(
            "device.token.rotate",
            json!({"deviceId": victim, "role": "operator", "scopes": ["operator.read"]}),
        )
        .await
        .map_err(|e| e.to_string())?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no token in {v}"))
}

/// Stores `token` as the device token of the identity in `dir` (the client's file format).
pub fn store_device_token(dir: &Path, token: &str) {
    let doc = json!({
        "version": 1,
        "deviceId": device_id(dir),
        "tokens": {"operator": {"token": token, "role": "operator", "scopes": ["operator.read"]}},
    });
    std::fs::write(dir.join("device-auth.json"), doc.to_string()).expect("write device-auth");
}

/// Whether the device in `dir` connects with its stored device token alone.
pub async fn device_token_works(url: &str, dir: &Path) -> bool {
    match client::connect(opts(url, None, dir, vec![Scope::Read])).await {
        Ok(c) => {
            let ok = c.granted_scopes().contains(&Scope::Read);
            c.close().await;
            ok
        }
        Err(_) => false,
    }
}

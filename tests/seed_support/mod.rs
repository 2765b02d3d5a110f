//! Equipment for the seed end-to-end test: the real `sandgate`/`sandgated` binaries, a
//! temporary state directory whose gateway is stopped on drop (even on panic), async command
//! runners with deadlines, free loopback ports, and the `inference.local` client that trusts
//! only a sandbox's CA bundle.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Deadline for one CLI invocation (a hung process fails the test instead of hanging it).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// Provider credential variables stripped from every spawned process unless a step sets one.
const CREDENTIAL_VARS: &[&str] = &[
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "NVIDIA_API_KEY",
    "OPENROUTER_API_KEY",
    "COMPATIBLE_API_KEY",
];

/// Environment that would steer the CLI away from the temporary state dir or through a proxy.
const STRAY_VARS: &[&str] = &[
    "SANDGATE_STATE_DIR",
    "SANDGATE_SANDBOX",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Variables cargo sets for a running test (besides `CARGO_PKG_*`), not for a cargo command.
const TEST_ONLY_CARGO_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// The two binaries of the `sandgate-cli` package.
#[derive(Debug, Clone)]
pub struct Bins {
    /// The CLI.
    pub sandgate: PathBuf,
    /// The daemon.
    pub sandgated: PathBuf,
}

/// Locates the binaries next to this test executable (`target/<profile>/deps/seed-…` →
/// `target/<profile>/sandgate`). Root-package tests get no `CARGO_BIN_EXE_*` for another
/// package's binaries, and `cargo test -p sandgate` does not rebuild them, so when run under
/// cargo this asks cargo to bring them up to date first (a no-op when they are fresh); set
/// `SANDGATE_SEED_NO_BUILD=1` to skip that. Fails with a clear message if they are missing.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Result<Bins, String>> = OnceLock::new();
    match BINS.get_or_init(locate_bins) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

fn locate_bins() -> Result<Bins, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test executable location {}", exe.display()))?
        .to_path_buf();
    let bins = Bins {
        sandgate: profile_dir.join("sandgate"),
        sandgated: profile_dir.join("sandgated"),
    };
    let present = |b: &Bins| b.sandgate.is_file() && b.sandgated.is_file();
    let mut build_note = String::new();
    let skip = std::env::var_os("SANDGATE_SEED_NO_BUILD").is_some_and(|v| !v.is_empty());
    if let (Some(cargo), false) = (std::env::var_os("CARGO"), skip) {
        let target_dir = profile_dir.parent().unwrap_or(&profile_dir).to_path_buf();
        let mut c = std::process::Command::new(cargo);
        c.args(["build", "-p", "sandgate-cli", "--bins", "--quiet"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null());
        // Variables cargo sets for this test process would look like a changed environment to
        // build scripts that watch them (ring watches CARGO_MANIFEST_DIR) and force rebuilds.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CARGO_PKG_") || TEST_ONLY_CARGO_VARS.contains(&k.as_ref()) {
                c.env_remove(k.as_ref());
            }
        }
        if profile_dir.file_name().and_then(|n| n.to_str()) == Some("release") {
            c.arg("--release");
        }
        match c.status() {
            Ok(s) if s.success() => {}
            Ok(s) => build_note = format!(" (`cargo build -p sandgate-cli --bins` exited {s})"),
            Err(e) => build_note = format!(" (could not run cargo: {e})"),
        }
    }
    if present(&bins) {
        Ok(bins)
    } else {
        Err(format!(
            "the sandgate binaries are missing: expected {} and {}{build_note}. Build them with \
             `cargo build -p sandgate-cli --bins` (same CARGO_TARGET_DIR), or run \
             `cargo test --workspace`",
            bins.sandgate.display(),
            bins.sandgated.display()
        ))
    }
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Out {
    /// What ran (for messages).
    pub what: String,
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Standard output as JSON (panics with the whole output when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` did not print JSON ({e}):\n{self}", self.what))
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

/// A temporary state directory with its own gateway. Dropping it stops every gateway it saw
/// (politely, then SIGKILL) and removes the directory.
#[derive(Debug)]
pub struct Sg {
    dir: tempfile::TempDir,
    bins: Bins,
    /// Every gateway pid observed, so a daemon that outlived a restart is killed too.
    seen_pids: Mutex<BTreeSet<u32>>,
}

impl Sg {
    /// A fresh state directory.
    pub fn new() -> Sg {
        let dir = tempfile::Builder::new()
            .prefix("sg-seed-")
            .tempdir()
            .expect("create a temporary state dir");
        Sg {
            dir,
            bins: bins().clone(),
            seen_pids: Mutex::new(BTreeSet::new()),
        }
    }

    /// The state directory.
    pub fn state(&self) -> &Path {
        self.dir.path()
    }

    /// The `sandgate` binary.
    pub fn sandgate(&self) -> &Path {
        &self.bins.sandgate
    }

    /// A `sandgate --state-dir <tmp> ARGS…` command: no colour, no inherited credentials or
    /// proxies, killed if the test drops it.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bins.sandgate);
        c.arg("--state-dir").arg(self.state()).args(args);
        c.env("NO_COLOR", "1");
        for v in CREDENTIAL_VARS.iter().chain(STRAY_VARS) {
            c.env_remove(v);
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Runs `sandgate ARGS…` with extra environment, within [`COMMAND_DEADLINE`].
    pub async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let what = format!("sandgate {}", args.join(" "));
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `{what}`: {e}"));
        let output = tokio::time::timeout(COMMAND_DEADLINE, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`{what}` did not finish within {COMMAND_DEADLINE:?}"))
            .unwrap_or_else(|e| panic!("`{what}` failed to run: {e}"));
        let out = Out {
            what,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        self.note_pid();
        out
    }

    /// Runs `sandgate ARGS…`.
    pub async fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, &[]).await
    }

    /// Runs `sandgate ARGS…` and parses its stdout as JSON.
    pub async fn json(&self, args: &[&str]) -> (Out, Value) {
        let out = self.run(args).await;
        let v = out.json();
        (out, v)
    }

    /// The pid in `gateway.pid`, if any.
    pub fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.state().join("gateway.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn note_pid(&self) {
        if let Some(pid) = self.pid_file() {
            self.seen_pids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pid);
        }
    }

    /// Live `sandgated` processes serving this state directory (from /proc).
    pub fn daemons(&self) -> Vec<u32> {
        let state = self.state().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let argv: Vec<String> = raw
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                alive(*pid)
                    && argv.first().is_some_and(|a| a.ends_with("sandgated"))
                    && argv.contains(&state)
            })
            .collect();
        pids.sort_unstable();
        pids
    }
}

impl Drop for Sg {
    fn drop(&mut self) {
        self.note_pid();
        let mut pids: BTreeSet<u32> = self
            .seen_pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        pids.extend(self.daemons());
        if pids.iter().all(|p| !alive(*p)) {
            return;
        }
        let mut stop = std::process::Command::new(&self.bins.sandgate);
        stop.arg("--state-dir")
            .arg(self.state())
            .args(["gateway", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
        for pid in pids {
            if alive(pid) && is_sandgated(pid) {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

fn is_sandgated(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim_end().starts_with("sandgated"))
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` distinct loopback ports that were free a moment ago (all bound at once, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// A client for `https://inference.local/…` through a sandbox's port as its HTTPS proxy,
/// trusting only `ca_pem` (no built-in roots).
pub fn inference_client(port: u16, ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(format!("http://127.0.0.1:{port}")).expect("proxy url"))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("CA bundle is PEM"))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build the inference.local client")
}

/// `KEY=value` lines (as printed by `env`) into pairs.
pub fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A well-formed OpenAI SSE body: every event is `data: <json chunk>` and the last is
/// `data: [DONE]`. Returns the concatenated `choices[0].delta.content` and the chunks, or
/// what is wrong with it.
pub fn parse_sse(body: &str) -> Result<(String, Vec<Value>), String> {
    let mut datas = Vec::new();
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        match line.strip_prefix("data:") {
            Some(d) => datas.push(d.trim_start().to_string()),
            None => return Err(format!("line is not an SSE data line: {line:?}")),
        }
    }
    match datas.last() {
        Some(last) if last == "[DONE]" => {}
        _ => return Err("the stream does not end in `data: [DONE]`".into()),
    }
    datas.pop();
    if datas.is_empty() {
        return Err("the stream has no chunks before [DONE]".into());
    }
    let mut text = String::new();
    let mut chunks = Vec::new();
    for d in datas {
        if d == "[DONE]" {
            return Err("`[DONE]` appears before the end".into());
        }
        let v: Value =
            serde_json::from_str(&d).map_err(|e| format!("chunk is not JSON ({e}): {d}"))?;
        if v.get("error").is_some() {
            return Err(format!("the stream carries an error event: {d}"));
        }
        if v.get("object").and_then(Value::as_str) != Some("chat.completion.chunk") {
            return Err(format!("chunk is not a chat.completion.chunk: {d}"));
        }
        if let Some(c) = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            text.push_str(c);
        }
        chunks.push(v);
    }
    Ok((text, chunks))
}

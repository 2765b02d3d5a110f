//! Helpers for end-to-end tests: a temporary state directory per test, the real binaries,
//! and a guard that stops any daemon the test started, even on panic.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod fakes;

pub const SANDGATE: &str = env!("CARGO_BIN_EXE_sandgate");

/// Provider credential variables stripped from every spawned process.
const CREDENTIAL_VARS: &[&str] = &[
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "NVIDIA_API_KEY",
    "COMPATIBLE_API_KEY",
];

/// A temporary state directory; dropping it stops its gateway.
pub struct Sg {
    pub dir: tempfile::TempDir,
}

impl Sg {
    pub fn new() -> Sg {
        Sg {
            dir: tempfile::Builder::new()
                .prefix("sg-e2e-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn state(&self) -> &Path {
        self.dir.path()
    }

    /// A `sandgate` command on this state dir, with no colour and no inherited credentials.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SANDGATE);
        c.arg("--state-dir").arg(self.state()).args(args);
        c.env("NO_COLOR", "1")
            .env_remove("SANDGATE_STATE_DIR")
            .env_remove("SANDGATE_SANDBOX");
        for v in CREDENTIAL_VARS {
            c.env_remove(v);
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.cmd(args).output().expect("run sandgate"))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sandgate")
    }

    /// Onboards a mock sandbox on a free port; panics with the output on failure.
    pub fn onboard_mock(&self, name: &str, model: &str) -> (Out, u16) {
        self.onboard(name, &["--provider", "mock", "--model", model], &[])
    }

    /// Onboards a sandbox on a free port with `route` (provider, model, endpoint… flags) and
    /// `env` (a credential variable); panics with the output on failure. A port picked free
    /// can be taken by another process (another test's daemon) before the daemon binds it;
    /// that is retried with a new port, since port allocation is not what these tests check.
    pub fn onboard(&self, name: &str, route: &[&str], env: &[(&str, &str)]) -> (Out, u16) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let p = port.to_string();
            let mut args = vec!["onboard", "--name", name];
            args.extend_from_slice(route);
            args.extend(["--port", &p, "--non-interactive"]);
            let mut cmd = self.cmd(&args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = Out::from(cmd.output().expect("run sandgate"));
            if !out.ok() && out.stderr.contains("[port_in_use]") && attempt < 4 {
                continue;
            }
            assert!(out.ok(), "onboard {name} failed:\n{out}");
            return (out, port);
        }
    }

    /// Runs each `(sandbox, argv)` with `exec` and [`visible_args`], all at once, and waits
    /// for every one (so a failing assertion afterwards leaves no session running).
    pub fn exec_concurrently(&self, runs: &[(String, Vec<String>)]) -> Vec<Out> {
        let visible = visible_args();
        let running: Vec<Child> = runs
            .iter()
            .map(|(name, argv)| {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                self.cmd(&exec_args(name, &visible, &argv))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn sandgate exec")
            })
            .collect();
        running
            .into_iter()
            .map(|child| Out::from(child.wait_with_output().expect("wait for exec")))
            .collect()
    }

    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.state().join("gateway.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn json(&self, args: &[&str]) -> (Out, serde_json::Value) {
        let out = self.run(args);
        let v = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}) from {args:?}:\n{out}"));
        (out, v)
    }

    pub fn sandbox_dir(&self, name: &str) -> PathBuf {
        self.state().join("sandboxes").join(name)
    }
}

impl Drop for Sg {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        let _ = self
            .cmd(&["gateway", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if alive(pid) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// Polls `cond` until it holds or the deadline passes.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The test Node.js and `openclaw.mjs` of the real OpenClaw `version` (`scripts/test` sets
/// `SANDGATE_TEST_NODE` and `SANDGATE_TEST_OPENCLAW_DIR`); `None`, after a NOTE saying the
/// test did not run, without them: the Rust-only suite stays runnable offline.
pub fn openclaw_cli(version: &str) -> Option<(String, String)> {
    let (Ok(node), Ok(dir)) = (
        std::env::var("SANDGATE_TEST_NODE"),
        std::env::var("SANDGATE_TEST_OPENCLAW_DIR"),
    ) else {
        eprintln!(
            "NOTE: real OpenClaw {version} test not run: set SANDGATE_TEST_NODE and SANDGATE_TEST_OPENCLAW_DIR (scripts/test does)"
        );
        return None;
    };
    let cli = format!("{dir}/v{version}/node_modules/openclaw/openclaw.mjs");
    if !std::path::Path::new(&cli).exists() {
        eprintln!("NOTE: real OpenClaw {version} test not run: {cli} is missing (npm ci failed?)");
        return None;
    }
    Some((node, cli))
}

/// `PATH` with `program`'s directory first (a CLI's own children find the same Node.js).
pub fn path_with(program: &str) -> String {
    let dir = Path::new(program)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// `exec` options that keep the test's own tools visible inside a sandbox wherever the
/// checkout lives (a clone under `/root` or `/tmp` is hidden by default): the workspace root,
/// and the installation prefix of the test Python (a venv points into e.g. `/root/.pyenv`).
pub fn visible_args() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut v = vec!["--no-workspace".to_string()];
    let mut ro = |p: PathBuf| {
        if let Ok(p) = p.canonicalize() {
            v.push("--ro".into());
            v.push(p.display().to_string());
        }
    };
    ro(root);
    if let Ok(py) = std::env::var("SANDGATE_TEST_PYTHON")
        && let Ok(real) = Path::new(&py).canonicalize()
        && let Some(prefix) = real.parent().and_then(Path::parent)
    {
        ro(prefix.to_path_buf());
    }
    v
}

/// `sandgate <name> exec <visible_args> -- argv…`.
pub fn exec_args<'a>(name: &'a str, visible: &'a [String], argv: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![name, "exec"];
    args.extend(visible.iter().map(String::as_str));
    args.push("--");
    args.extend_from_slice(argv);
    args
}

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768–60999 here): a sandbox's stored port must stay
    // free across a daemon restart, and ports from the ephemeral range are also handed to the
    // outgoing connections of every other test running at the same time.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..200 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(7919)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A finished command's output.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

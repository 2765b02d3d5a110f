//! The public description of a sandbox, a session and what isolation was achieved.

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A bind mount into the sandbox's view (applied after `hide`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Host path (file or directory); cloned before anything is mounted, so it may live under a hidden dir.
    pub source: PathBuf,
    /// Path inside the sandbox; created if its parent is writable (e.g. under a hidden dir).
    pub target: PathBuf,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
}

/// What a sandbox looks like. The same spec must be passed for every `ensure_running` of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Hostname (uts ns) and log label.
    pub name: String,
    /// Host paths covered by an empty read-only tmpfs (state dir, /run, /home, /root …). `/tmp` is always a fresh private tmpfs.
    pub hide: Vec<PathBuf>,
    /// Bind mounts applied after hiding: persistent home, workspace, CA bundle, extra ro/rw.
    pub mounts: Vec<Mount>,
    /// Listener bound inside the sandbox's net ns and handed out by [`crate::take_listener`].
    pub listen: Option<SocketAddrV4>,
    /// Host path of the init's control socket (put it in a 0700 directory of the caller).
    pub control: PathBuf,
    /// Landlock TCP-connect allowlist (ABI >= 4) in `Landlock` mode. In `Full` mode the net namespace
    /// already confines TCP to the sandbox's own loopback, so it is not applied there.
    pub gateway_port: Option<u16>,
}

/// How to start the helper process that becomes the sandbox's init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCommand {
    /// Program to run (by default the current executable).
    pub program: PathBuf,
    /// Arguments; the first must be [`crate::HELPER_ARG`] for [`crate::run_helper_if_requested`].
    pub args: Vec<OsString>,
}

impl Default for HelperCommand {
    fn default() -> Self {
        Self {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
            args: vec![OsString::from(crate::HELPER_ARG)],
        }
    }
}

/// One command to run inside a running sandbox (like `docker exec`).
#[derive(Debug)]
pub struct SessionCommand {
    /// Program and arguments; `argv[0]` is looked up in the `PATH` of `env`.
    pub argv: Vec<OsString>,
    /// The complete environment; nothing is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
    /// Where the session's stdin/stdout/stderr go.
    pub stdio: SessionStdio,
    /// A detached session keeps the sandbox alive until `stop` and survives its caller.
    pub detach: bool,
}

/// Standard streams of a session.
#[derive(Debug)]
pub enum SessionStdio {
    /// The caller's fds 0, 1 and 2 (passed with SCM_RIGHTS).
    Inherit,
    /// These fds (e.g. pipes a test reads).
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A pty allocated inside the sandbox's devpts; the master is returned in the [`crate::Session`].
    Pty { rows: u16, cols: u16 },
}

/// The isolation actually achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IsolationMode {
    /// Namespaces + filesystem view + capabilities dropped + Landlock + seccomp.
    Full,
    /// No namespaces: Landlock hides files and limits TCP, seccomp limits sockets.
    Landlock,
    /// Nothing this crate can enforce here.
    None,
}

/// What was (or would be) achieved, and why not more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolationReport {
    /// The rung of the fallback ladder.
    pub mode: IsolationMode,
    /// Namespaces created ("user", "net", "mount", "pid", "ipc", "uts").
    #[serde(deserialize_with = "de_namespaces")]
    pub namespaces: Vec<&'static str>,
    /// Landlock ABI applied to sessions (None: no Landlock).
    pub landlock_abi: Option<u8>,
    /// Whether the seccomp deny list is applied to sessions.
    pub seccomp: bool,
    /// Every degradation, with its remedy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// All namespaces of `Full` mode.
pub(crate) const NAMESPACES: [&str; 6] = ["user", "net", "mount", "pid", "ipc", "uts"];

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatusLike {
    /// Exit code when it exited.
    pub code: Option<i32>,
    /// Signal number when it was killed.
    pub signal: Option<i32>,
}

impl ExitStatusLike {
    /// Shell convention: the exit code, or 128 + signal.
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 255,
        }
    }
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Maps names from the wire back onto the `'static` names this crate knows (unknown names are dropped).
fn de_namespaces<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names
        .iter()
        .filter_map(|n| NAMESPACES.iter().copied().find(|k| k == n))
        .collect())
}

//! The helper process (a fresh exec, so single-threaded): creates the namespaces and forks the
//! init; and the caller side, [`ensure_running`], which starts it and waits for explicit readiness
//! on a status pipe (JSON lines), cleaning up after an init that died during setup.

use crate::control::{self, MAX_FRAME, Reply, Request};
use crate::error::SandboxError;
use crate::session::connect;
use crate::spec::{HelperCommand, IsolationMode, IsolationReport, SandboxSpec};
use crate::{init, ns, probe};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

/// The hidden first argument that turns a binary into the helper.
pub const HELPER_ARG: &str = "__sandgate-sandbox-init";

/// A running sandbox.
#[derive(Debug, Clone)]
pub struct Running {
    /// Host pid of the init.
    pub init_pid: u32,
    /// Whether this call started it.
    pub created: bool,
    /// The isolation achieved.
    pub report: IsolationReport,
}

/// Status lines from helper/init to the caller.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub(crate) enum Status {
    Step {
        step: String,
    },
    Pid {
        pid: u32,
    },
    Ready {
        report: IsolationReport,
    },
    Failed {
        step: String,
        message: String,
        unsupported: Option<(String, String)>,
    },
}

impl Status {
    pub(crate) fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"status":"failed","step":"encode","message":"status","unsupported":null}"#.into()
        })
    }
    /// Writes the line with one `write` (atomic on a pipe below PIPE_BUF), as helper and init share the pipe.
    pub(crate) fn emit(&self, out: &mut std::fs::File) {
        let mut line = self.line();
        line.push('\n');
        let _ = out.write_all(line.as_bytes());
    }
    pub(crate) fn from_error(e: &SandboxError) -> Self {
        match e {
            SandboxError::Setup { step, source } => Status::Failed {
                step: step.clone(),
                message: source.to_string(),
                unsupported: None,
            },
            SandboxError::Unsupported { why, remedy } => Status::Failed {
                step: "probe".into(),
                message: why.clone(),
                unsupported: Some((why.clone(), remedy.clone())),
            },
            other => Status::Failed {
                step: "setup".into(),
                message: other.to_string(),
                unsupported: None,
            },
        }
    }
}

/// For embedders' `main()`: if the first argument is [`HELPER_ARG`], run the helper and never return.
/// Call it first, before opening files or starting threads: the helper closes every fd above 2.
pub fn run_helper_if_requested() {
    if std::env::args_os().nth(1).is_some_and(|a| a == HELPER_ARG) {
        helper_main()
    }
}

fn helper_main() -> ! {
    ns::close_inherited_fds();
    // SAFETY of the process model: we are a fresh exec and have not started threads.
    let mut status = match std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
    {
        Ok(f) => f,
        Err(_) => std::process::exit(2),
    };
    let fail = |status: &mut std::fs::File, e: SandboxError| -> ! {
        Status::from_error(&e).emit(status);
        std::process::exit(1)
    };
    if let Err(e) = rustix::process::setsid() {
        fail(
            &mut status,
            SandboxError::setup("setsid", std::io::Error::from(e)),
        );
    }
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin()
        .take(MAX_FRAME as u64 + 1)
        .read_to_end(&mut raw)
    {
        fail(&mut status, SandboxError::setup("read the spec", e));
    }
    let spec: SandboxSpec = match serde_json::from_slice(&raw) {
        Ok(s) => s,
        Err(e) => fail(
            &mut status,
            SandboxError::Protocol(format!("bad spec on the helper's stdin: {e}")),
        ),
    };
    let mut warnings = Vec::new();
    let mode = match probe::userns() {
        Ok(()) => IsolationMode::Full,
        Err(no) if probe::landlock_abi().is_some() => {
            warnings.push(format!("no namespaces ({}); remedy: {}", no.why, no.remedy));
            IsolationMode::Landlock
        }
        Err(no) => fail(
            &mut status,
            SandboxError::Unsupported {
                why: format!("{} and Landlock is unavailable", no.why),
                remedy: no.remedy,
            },
        ),
    };
    if mode == IsolationMode::Full {
        if let Err(e) = ns::enter_user_ns() {
            fail(
                &mut status,
                SandboxError::setup("create the user namespace", std::io::Error::from(e)),
            );
        }
        if let Err(e) = ns::unshare(ns::OTHER_NS) {
            fail(
                &mut status,
                SandboxError::setup("unshare net/mount/pid/ipc/uts", std::io::Error::from(e)),
            );
        }
    }
    match ns::fork() {
        Err(e) => fail(
            &mut status,
            SandboxError::setup("fork the init", std::io::Error::from(e)),
        ),
        Ok(None) => init::run(spec, mode, warnings, status),
        Ok(Some(pid)) => {
            Status::Pid { pid: pid as u32 }.emit(&mut status);
            std::process::exit(0)
        }
    }
}

/// Starts the sandbox's init if none answers at `spec.control`, or reports the running one.
pub fn ensure_running(spec: &SandboxSpec, helper: &HelperCommand) -> Result<Running, SandboxError> {
    if let Some(running) = running(&spec.control)? {
        return Ok(running);
    }
    let mut child = Command::new(&helper.program)
        .args(&helper.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            SandboxError::setup(format!("start helper {}", helper.program.display()), e)
        })?;
    let body = serde_json::to_vec(spec).map_err(|e| SandboxError::Protocol(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .map_err(|e| SandboxError::setup("send the spec to the helper", e))?;
    }
    let out = child
        .stdout
        .take()
        .ok_or_else(|| SandboxError::Protocol("helper stdout missing".into()))?;
    let outcome = read_status(BufReader::new(out));
    let _ = child.wait();
    match outcome {
        Ok((pid, report)) => Ok(Running {
            init_pid: pid,
            created: true,
            report,
        }),
        Err(e) => {
            // Another caller may have won a start race: use its init.
            if let Ok(Some(running)) = running(&spec.control) {
                return Ok(running);
            }
            // The init died during setup: nothing may stay behind.
            let _ = std::fs::remove_file(&spec.control);
            Err(e)
        }
    }
}

fn read_status(out: impl BufRead) -> Result<(u32, IsolationReport), SandboxError> {
    // Helper (pid) and init (steps, ready) write concurrently; read until both have closed the pipe.
    let (mut pid, mut ready) = (None, None);
    let mut last = String::from("start the helper");
    for line in out.take(4 * MAX_FRAME as u64).lines() {
        let line = line?;
        match serde_json::from_str::<Status>(&line) {
            Ok(Status::Step { step }) => last = step,
            Ok(Status::Pid { pid: p }) => pid = Some(p),
            Ok(Status::Ready { report }) => ready = Some(report),
            Ok(Status::Failed {
                unsupported: Some((why, remedy)),
                ..
            }) => return Err(SandboxError::Unsupported { why, remedy }),
            Ok(Status::Failed { step, message, .. }) => {
                return Err(SandboxError::setup(step, std::io::Error::other(message)));
            }
            Err(_) => {
                return Err(SandboxError::Protocol(format!(
                    "unexpected helper output: {line:.200}"
                )));
            }
        }
    }
    match (pid, ready) {
        (Some(pid), Some(report)) => Ok((pid, report)),
        _ => Err(SandboxError::setup(
            format!("after `{last}`"),
            std::io::Error::other(
                "the sandbox init exited during setup without saying why (killed?); its socket was removed, run again",
            ),
        )),
    }
}

/// The running init at `control`, if one answers; a stale socket file is removed.
fn running(control: &Path) -> Result<Option<Running>, SandboxError> {
    let conn = match connect(control) {
        Ok(c) => c,
        Err(SandboxError::NotRunning { .. }) => {
            if control.exists() {
                let _ = std::fs::remove_file(control);
            }
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let cred = rustix::net::sockopt::socket_peercred(&conn).map_err(std::io::Error::from)?;
    control::send(&conn, &Request::Hello, &[])?;
    match control::recv::<Reply>(&conn)? {
        Some((Reply::Info { report }, _)) => Ok(Some(Running {
            init_pid: cred.pid.as_raw_nonzero().get() as u32,
            created: false,
            report,
        })),
        Some((other, _)) => Err(SandboxError::Protocol(format!(
            "unexpected reply to hello: {other:?}"
        ))),
        None => Ok(None),
    }
}

/// A dup of the listener the init bound inside the sandbox (works again after a daemon restart).
pub fn take_listener(control: &Path) -> Result<std::net::TcpListener, SandboxError> {
    let conn = connect(control)?;
    control::send(&conn, &Request::TakeListener, &[])?;
    match control::recv::<Reply>(&conn)? {
        Some((Reply::Listener, mut fds)) => {
            let fd: OwnedFd = fds
                .pop()
                .ok_or_else(|| SandboxError::Protocol("listener reply without an fd".into()))?;
            Ok(std::net::TcpListener::from(fd))
        }
        Some((Reply::NoListener { mode }, _)) => Err(SandboxError::NoListener {
            mode: if mode == "landlock" {
                "landlock"
            } else {
                "none"
            },
        }),
        Some((Reply::Error { message }, _)) => Err(SandboxError::Refused(message)),
        Some((other, _)) => Err(SandboxError::Protocol(format!(
            "unexpected reply to take_listener: {other:?}"
        ))),
        None => Err(SandboxError::NotRunning {
            control: control.to_owned(),
        }),
    }
}

/// Kills everything in the sandbox and waits until its init is gone. Idempotent: Ok if none runs.
pub fn stop(control: &Path) -> Result<(), SandboxError> {
    let conn = match connect(control) {
        Ok(c) => c,
        Err(SandboxError::NotRunning { .. }) => {
            let _ = std::fs::remove_file(control);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    control::send(&conn, &Request::Stop, &[])?;
    // The connection ends when the init process is gone.
    loop {
        match control::recv::<Reply>(conn.as_fd()) {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Ok(()),
        }
    }
}

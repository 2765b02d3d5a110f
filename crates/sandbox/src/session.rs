//! Sessions: the caller's handle ([`Session`], [`spawn_session`]) and the init side that forks a
//! session child, confines it (capabilities, no_new_privs, Landlock, seccomp) and execs it.
#![allow(unsafe_code)]

use crate::control::{self, Reply, Request, WireStdio};
use crate::error::SandboxError;
use crate::spec::{ExitStatusLike, IsolationMode, SandboxSpec, SessionCommand, SessionStdio};
use crate::{caps, landlock, pty, seccomp};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use seccompiler::BpfProgram;
use std::io;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// A running session (the control connection stays open; dropping it kills a non-detached session).
#[derive(Debug)]
pub struct Session {
    pub(crate) conn: UnixStream,
    pid: i32,
    master: Option<OwnedFd>,
}

impl Session {
    /// The session's pid as seen inside the sandbox.
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// The pty master, for `SessionStdio::Pty` sessions.
    pub fn pty_master(&self) -> Option<BorrowedFd<'_>> {
        self.master.as_ref().map(|m| m.as_fd())
    }
    /// Resizes the pty (the session gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let master = self
            .pty_master()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "session has no pty"))?;
        pty::set_size(master, rows, cols)
    }
    /// Sends `sig` to the session's process group.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        control::send(&self.conn, &Request::Signal { sig }, &[])
            .map_err(|e| io::Error::other(e.to_string()))
    }
    /// Waits until the session ends.
    pub fn wait(self) -> Result<ExitStatusLike, SandboxError> {
        match control::recv::<Reply>(&self.conn)? {
            Some((Reply::Exited { status }, _)) => Ok(status),
            Some((other, _)) => Err(SandboxError::Protocol(format!(
                "unexpected reply while waiting: {other:?}"
            ))),
            None => Err(SandboxError::Protocol(
                "the init closed the connection before the session ended (sandbox stopped?)".into(),
            )),
        }
    }
}

/// Connects to a sandbox's init.
pub(crate) fn connect(control: &Path) -> Result<UnixStream, SandboxError> {
    UnixStream::connect(control).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => SandboxError::NotRunning {
            control: control.to_owned(),
        },
        _ => SandboxError::Io(e),
    })
}

/// Runs one command inside the sandbox (like `docker exec`).
pub fn spawn_session(control: &Path, cmd: &SessionCommand) -> Result<Session, SandboxError> {
    if cmd.argv.is_empty() {
        return Err(SandboxError::Refused(
            "empty argv: give the program to run".into(),
        ));
    }
    let conn = connect(control)?;
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let (stdio, fds): (WireStdio, Vec<BorrowedFd<'_>>) = match &cmd.stdio {
        SessionStdio::Inherit => (
            WireStdio::Fds,
            vec![stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
        ),
        SessionStdio::Fds {
            stdin,
            stdout,
            stderr,
        } => (
            WireStdio::Fds,
            vec![stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
        ),
        SessionStdio::Pty { rows, cols } => (
            WireStdio::Pty {
                rows: *rows,
                cols: *cols,
            },
            Vec::new(),
        ),
    };
    let req = Request::Spawn {
        argv: cmd.argv.clone(),
        env: cmd.env.clone(),
        cwd: cmd.cwd.clone(),
        stdio,
        detach: cmd.detach,
    };
    control::send(&conn, &req, &fds)?;
    match control::recv::<Reply>(&conn)? {
        Some((Reply::Spawned { pid }, mut fds)) => Ok(Session {
            conn,
            pid,
            master: fds.pop(),
        }),
        Some((Reply::Error { message }, _)) => Err(SandboxError::Refused(message)),
        Some((other, _)) => Err(SandboxError::Protocol(format!(
            "unexpected reply to spawn: {other:?}"
        ))),
        None => Err(SandboxError::NotRunning {
            control: control.to_owned(),
        }),
    }
}

/// What the init needs to confine every session.
#[derive(Debug)]
pub(crate) struct Confinement {
    pub spec: SandboxSpec,
    pub mode: IsolationMode,
    pub seccomp: Vec<BpfProgram>,
}

/// Init side: forks and execs a session child; returns its pid and the pty master if any.
pub(crate) fn start(
    conf: &Arc<Confinement>,
    argv: &[std::ffi::OsString],
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    cwd: &Path,
    stdio: WireStdio,
    mut fds: Vec<OwnedFd>,
) -> Result<(i32, Option<OwnedFd>), SandboxError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| SandboxError::Refused("empty argv".into()))?;
    let (ios, master) = match stdio {
        WireStdio::Fds if fds.len() == 3 => {
            let e = fds.pop();
            let o = fds.pop();
            let i = fds.pop();
            match (i, o, e) {
                (Some(i), Some(o), Some(e)) => ([i, o, e], None),
                _ => return Err(SandboxError::Protocol("spawn needs 3 fds".into())),
            }
        }
        WireStdio::Fds => {
            return Err(SandboxError::Protocol(format!(
                "spawn needs 3 fds (stdin, stdout, stderr), got {}",
                fds.len()
            )));
        }
        WireStdio::Pty { rows, cols } => {
            let (master, slave) =
                pty::open(rows, cols).map_err(|e| SandboxError::setup("allocate a pty", e))?;
            let o = slave
                .try_clone()
                .map_err(|e| SandboxError::setup("dup pty", e))?;
            let e = slave
                .try_clone()
                .map_err(|e| SandboxError::setup("dup pty", e))?;
            ([slave, o, e], Some(master))
        }
    };
    let [i, o, e] = ios;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd);
    cmd.stdin(Stdio::from(i))
        .stdout(Stdio::from(o))
        .stderr(Stdio::from(e));
    let conf = Arc::clone(conf);
    let is_pty = master.is_some();
    // SAFETY: the init is single-threaded, so the child may allocate; the closure only makes
    // syscalls that confine the child and returns errors (std reports them from `spawn`).
    unsafe {
        cmd.pre_exec(move || {
            crate::sig::reset_dispositions();
            rustix::process::setsid()?;
            if is_pty {
                rustix::process::ioctl_tiocsctty(io::stdin())?;
            }
            landlock::restrict_session(&conf.spec, conf.mode)?;
            caps::drop_all()?;
            seccomp::apply(&conf.seccomp)
        });
    }
    let child = cmd.spawn().map_err(|e| {
        SandboxError::Refused(format!("cannot start {}: {e}", program.to_string_lossy()))
    })?;
    Ok((child.id() as i32, master))
}

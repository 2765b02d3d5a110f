//! Shared test scaffolding: a sandbox per test (tempdir, own net ns), a Drop guard calling `stop`,
//! and sessions whose output is captured through pipes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use rustix::fd::OwnedFd;
use sandgate_sandbox::*;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const PORT: u16 = 18789;

pub fn helper() -> HelperCommand {
    HelperCommand {
        program: env!("CARGO_BIN_EXE_sandgate-sandbox-helper").into(),
        args: vec![HELPER_ARG.into()],
    }
}

/// A helper started through `env` with extra variables (only for that helper, not the test process).
pub fn helper_with_env(vars: &[(&str, &str)]) -> HelperCommand {
    let mut args: Vec<OsString> = vars
        .iter()
        .map(|(k, v)| format!("{k}={v}").into())
        .collect();
    args.push(env!("CARGO_BIN_EXE_sandgate-sandbox-helper").into());
    args.push(HELPER_ARG.into());
    HelperCommand {
        program: "/usr/bin/env".into(),
        args,
    }
}

/// One test sandbox: host dirs, a spec, and `stop` on drop (also when the test fails).
pub struct TestBox {
    pub dir: tempfile::TempDir,
    pub spec: SandboxSpec,
    pub running: Option<Running>,
}

impl TestBox {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("sgsb-").tempdir().unwrap();
        let root = dir.path();
        for d in ["state", "home", "work", "ctl"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        std::fs::write(root.join("state/secret"), "token").unwrap();
        let spec = SandboxSpec {
            name: name.into(),
            hide: vec![
                root.join("state"),
                "/run".into(),
                "/home".into(),
                "/root".into(),
                "/tmp".into(),
            ],
            mounts: vec![
                Mount {
                    source: root.join("home"),
                    target: "/home/agent".into(),
                    writable: true,
                },
                Mount {
                    source: root.join("work"),
                    target: "/srv".into(),
                    writable: true,
                },
            ],
            listen: Some(format!("127.0.0.1:{PORT}").parse().unwrap()),
            control: root.join("ctl/init.sock"),
            gateway_port: Some(PORT),
        };
        Self {
            dir,
            spec,
            running: None,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn start(&mut self) -> &Running {
        self.start_with(&helper())
    }

    pub fn start_with(&mut self, helper: &HelperCommand) -> &Running {
        let r = ensure_running(&self.spec, helper).expect("sandbox starts");
        self.running.insert(r)
    }

    pub fn control(&self) -> &Path {
        &self.spec.control
    }

    /// Runs `/bin/sh -c script` and returns (exit code, stdout, stderr).
    pub fn sh(&self, script: &str) -> (i32, String, String) {
        let (session, out, err) = self.spawn_sh(script, false);
        let status = session.wait().expect("session ends");
        (status.exit_code(), drain(out), drain(err))
    }

    /// Starts `/bin/sh -c script`; returns the session and the read ends of stdout/stderr.
    pub fn spawn_sh(&self, script: &str, detach: bool) -> (Session, OwnedFd, OwnedFd) {
        let (in_r, in_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        drop(in_w);
        let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let cmd = SessionCommand {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![
                ("PATH".into(), "/usr/bin:/bin:/usr/sbin:/sbin".into()),
                ("HOME".into(), "/home/agent".into()),
            ],
            cwd: "/srv".into(),
            stdio: SessionStdio::Fds {
                stdin: in_r,
                stdout: out_w,
                stderr: err_w,
            },
            detach,
        };
        let s = spawn_session(self.control(), &cmd).expect("session spawns");
        (s, out_r, err_r)
    }
}

impl Drop for TestBox {
    fn drop(&mut self) {
        let _ = stop(&self.spec.control);
    }
}

/// Reads a pipe until every writer has closed it.
pub fn drain(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

/// Reads one line (blocking until it is written).
pub fn read_line(fd: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = rustix::io::read(fd, &mut b) {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Blocks until the process `pid` has exited (pidfd readable), without sleeping.
pub fn wait_gone(pid: u32) {
    let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    rustix::event::poll(&mut fds, None).unwrap();
}

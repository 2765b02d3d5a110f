//! The sandbox's init: PID 1 of the new pid namespace (or a plain supervisor in Landlock mode).
//! It holds the namespaces and the listener, serves control requests, forks sessions, reaps
//! zombies, and exits (removing its control socket) when the last session ends or on `stop`.

use crate::control::{self, Reply, Request};
use crate::error::SandboxError;
use crate::helper::Status;
use crate::session::{self, Confinement};
use crate::spec::{IsolationMode, IsolationReport, SandboxSpec};
use crate::{fsview, landlock, ns, seccomp, sig};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use std::collections::HashMap;
use std::ffi::OsString;
use std::net::TcpListener;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::Duration;

/// Test hook: the init exits without any cleanup right after this setup step ("bind" or "fsview").
pub const TEST_DIE_AFTER: &str = "SANDGATE_SANDBOX_TEST_DIE_AFTER";
const SIGNALS: [i32; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
/// Bounds how long a client may stall in the middle of a frame.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Removes the control socket from the host, even after pivot_root (through a dir fd).
struct SocketFile {
    dir: OwnedFd,
    name: OsString,
}

impl SocketFile {
    fn remove(&self) {
        let _ = rustix::fs::unlinkat(&self.dir, self.name.as_os_str(), AtFlags::empty());
    }
}

struct Conn {
    stream: UnixStream,
    session: Option<i32>,
}

struct SessionEntry {
    detach: bool,
    conn: Option<usize>,
}

struct Init {
    conf: Arc<Confinement>,
    report: IsolationReport,
    control: UnixListener,
    socket: SocketFile,
    listener: Option<TcpListener>,
    signals: OwnedFd,
    conns: HashMap<usize, Conn>,
    next_conn: usize,
    sessions: HashMap<i32, SessionEntry>,
}

/// Runs the init in the forked child; never returns. `status` is the caller's status pipe.
pub(crate) fn run(
    spec: SandboxSpec,
    mode: IsolationMode,
    warnings: Vec<String>,
    mut status: std::fs::File,
) -> ! {
    let mut socket = None;
    match setup(spec, mode, warnings, &mut socket, &mut status) {
        Ok(mut init) => {
            Status::Ready {
                report: init.report.clone(),
            }
            .emit(&mut status);
            drop(status);
            quiet_stdio();
            init.serve()
        }
        Err(e) => {
            if let Some(s) = &socket {
                SocketFile::remove(s);
            }
            Status::from_error(&e).emit(&mut status);
            std::process::exit(1)
        }
    }
}

fn die_after(step: &str) {
    if std::env::var_os(TEST_DIE_AFTER).is_some_and(|v| v == step) {
        std::process::exit(97); // simulated crash: no cleanup at all
    }
}

fn setup(
    spec: SandboxSpec,
    mode: IsolationMode,
    mut warnings: Vec<String>,
    socket: &mut Option<SocketFile>,
    status: &mut std::fs::File,
) -> Result<Init, SandboxError> {
    let progress = |status: &mut std::fs::File, step: &str| {
        Status::Step {
            step: step.to_owned(),
        }
        .emit(status);
    };
    rustix::process::umask(Mode::from_raw_mode(0o077));
    let parent = spec
        .control
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = spec.control.file_name().ok_or_else(|| {
        SandboxError::setup(
            "control socket path",
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )
    })?;
    let dir = crate::error::step(
        "open the control socket's directory",
        rustix::fs::open(
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ),
    )?;
    let control = UnixListener::bind(&spec.control).map_err(|e| {
        SandboxError::setup(format!("bind control socket {}", spec.control.display()), e)
    })?;
    *socket = Some(SocketFile {
        dir,
        name: name.to_owned(),
    });
    progress(status, "bind");
    die_after("bind");

    let mut listener = None;
    if mode == IsolationMode::Full {
        crate::error::step("bring lo up", ns::loopback_up())?;
        crate::error::step("set hostname", ns::set_hostname(&spec.name))?;
        if let Some(addr) = spec.listen {
            listener =
                Some(TcpListener::bind(addr).map_err(|e| {
                    SandboxError::setup(format!("bind {addr} inside the sandbox"), e)
                })?);
        }
        fsview::build(&spec)?;
        progress(status, "fsview");
        die_after("fsview");
    } else {
        crate::error::step(
            "set child subreaper",
            rustix::process::set_child_subreaper(Some(rustix::process::getpid())),
        )?;
        let _ = rustix::process::chdir("/");
        if spec.listen.is_some() {
            warnings.push("no in-sandbox listener without a net namespace: serve the gateway on the host port".into());
        }
    }
    let programs = seccomp::programs(mode == IsolationMode::Landlock)
        .map_err(|e| SandboxError::setup("compile seccomp filter", e))?;
    if mode == IsolationMode::Full
        && !landlock::restrict_init()
            .map_err(|e| SandboxError::setup("landlock scopes for the init", e))?
    {
        warnings.push("Landlock scopes unavailable: sessions may signal processes and reach abstract sockets of other sessions' domains".into());
    }
    let signals = sig::signal_fd(&SIGNALS).map_err(|e| SandboxError::setup("signalfd", e))?;
    let mut report = crate::probe::report(mode, warnings);
    report.seccomp = true;
    let socket = socket
        .take()
        .ok_or_else(|| SandboxError::Protocol("control socket lost".into()))?;
    Ok(Init {
        conf: Arc::new(session::Confinement {
            spec,
            mode,
            seccomp: programs,
        }),
        report,
        control,
        socket,
        listener,
        signals,
        conns: HashMap::new(),
        next_conn: 0,
        sessions: HashMap::new(),
    })
}

/// Points stdin/stdout/stderr at /dev/null so the init holds none of the caller's pipes.
fn quiet_stdio() {
    if let Ok(null) = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

impl Init {
    fn serve(&mut self) -> ! {
        loop {
            let ids: Vec<usize> = self.conns.keys().copied().collect();
            let ready: Vec<bool> = {
                let mut fds = vec![
                    PollFd::new(&self.signals, PollFlags::IN),
                    PollFd::new(&self.control, PollFlags::IN),
                ];
                for id in &ids {
                    if let Some(c) = self.conns.get(id) {
                        fds.push(PollFd::new(&c.stream, PollFlags::IN));
                    }
                }
                match poll(&mut fds, None) {
                    Ok(_) => fds.iter().map(|f| !f.revents().is_empty()).collect(),
                    Err(_) => continue,
                }
            };
            if ready[0] {
                let got = sig::drain(&self.signals);
                if got.iter().any(|s| *s != libc::SIGCHLD) {
                    self.shutdown();
                }
                self.reap();
            }
            if ready[1] {
                self.accept();
            }
            for (i, id) in ids.iter().enumerate() {
                if ready.get(i + 2).copied().unwrap_or(false) {
                    self.handle(*id);
                }
            }
        }
    }

    fn accept(&mut self) {
        if let Ok((stream, _)) = self.control.accept() {
            let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            self.conns.insert(
                self.next_conn,
                Conn {
                    stream,
                    session: None,
                },
            );
            self.next_conn += 1;
        }
    }

    fn handle(&mut self, id: usize) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let msg = control::recv::<Request>(&conn.stream);
        let req = match msg {
            Ok(Some((req, fds))) => (req, fds),
            Ok(None) => return self.close(id),
            Err(e) => {
                let _ = control::send(
                    &conn.stream,
                    &Reply::Error {
                        message: e.to_string(),
                    },
                    &[],
                );
                return self.close(id);
            }
        };
        match req {
            (Request::Hello, _) => self.reply(
                id,
                &Reply::Info {
                    report: self.report.clone(),
                },
                None,
            ),
            (Request::TakeListener, _) => match self.listener.as_ref().map(|l| l.try_clone()) {
                Some(Ok(l)) => self.reply(id, &Reply::Listener, Some(OwnedFd::from(l))),
                Some(Err(e)) => self.reply(
                    id,
                    &Reply::Error {
                        message: format!("cannot dup the listener: {e}"),
                    },
                    None,
                ),
                None => self.reply(
                    id,
                    &Reply::NoListener {
                        mode: mode_name(self.conf.mode).into(),
                    },
                    None,
                ),
            },
            (
                Request::Spawn {
                    argv,
                    env,
                    cwd,
                    stdio,
                    detach,
                },
                fds,
            ) => {
                if conn.session.is_some() {
                    return self.reply(
                        id,
                        &Reply::Error {
                            message: "one session per connection: open a new one".into(),
                        },
                        None,
                    );
                }
                match session::start(&self.conf, &argv, &env, &cwd, stdio, fds) {
                    Ok((pid, master)) => {
                        self.sessions.insert(
                            pid,
                            SessionEntry {
                                detach,
                                conn: Some(id),
                            },
                        );
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.session = Some(pid);
                        }
                        self.reply(id, &Reply::Spawned { pid }, master);
                    }
                    Err(e) => self.reply(
                        id,
                        &Reply::Error {
                            message: e.to_string(),
                        },
                        None,
                    ),
                }
            }
            (Request::Signal { sig }, _) => {
                if let (Some(pid), Some(sig)) = (conn.session.and_then(Pid::from_raw), signal(sig))
                {
                    let _ = rustix::process::kill_process_group(pid, sig);
                }
            }
            (Request::Stop, _) => {
                self.reply(id, &Reply::Stopping, None);
                self.shutdown();
            }
        }
    }

    fn reply(&mut self, id: usize, reply: &Reply, fd: Option<OwnedFd>) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let fds: Vec<_> = fd.iter().map(|f| f.as_fd()).collect();
        if control::send(&conn.stream, reply, &fds).is_err() {
            self.close(id);
        }
    }

    /// A caller went away: a non-detached session dies with its connection.
    fn close(&mut self, id: usize) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        let Some(entry) = conn
            .session
            .and_then(|pid| self.sessions.get_mut(&pid).map(|e| (pid, e)))
        else {
            return;
        };
        entry.1.conn = None;
        if let (false, Some(p)) = (entry.1.detach, Pid::from_raw(entry.0)) {
            let _ = rustix::process::kill_process_group(p, Signal::KILL);
        }
    }

    fn reap(&mut self) {
        let mut ended = false;
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            let Some(entry) = self.sessions.remove(&pid.as_raw_nonzero().get()) else {
                continue;
            };
            ended = true;
            if self.conf.mode != IsolationMode::Full {
                // No pid namespace to end them later: background processes die with their session.
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
            }
            if let Some(id) = entry.conn {
                let status = crate::spec::ExitStatusLike {
                    code: status.exit_status(),
                    signal: status.terminating_signal(),
                };
                self.reply(id, &Reply::Exited { status }, None);
                self.conns.remove(&id);
            }
        }
        if ended && self.sessions.is_empty() {
            self.shutdown();
        }
    }

    /// Removes the control socket, kills everything, exits (as PID 1 the kernel kills the rest).
    fn shutdown(&mut self) -> ! {
        self.socket.remove();
        for pid in self.sessions.keys().filter_map(|p| Pid::from_raw(*p)) {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        std::process::exit(0)
    }
}

fn signal(sig: i32) -> Option<Signal> {
    Signal::from_named_raw(sig)
}

pub(crate) fn mode_name(mode: IsolationMode) -> &'static str {
    match mode {
        IsolationMode::Full => "full",
        IsolationMode::Landlock => "landlock",
        IsolationMode::None => "none",
    }
}

//! Pseudo-terminals: allocation inside the sandbox (init side) and a relay for CLIs.

use crate::control::{self, Reply};
use crate::session::Session;
use crate::sig;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{OptionalActions, Winsize};
use std::io;

/// Opens a pty pair of the current devpts (the sandbox's own after pivot_root): (master, slave).
pub(crate) fn open(rows: u16, cols: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    set_size(&master, rows, cols)?;
    Ok((master, slave))
}

/// Sets the window size (on the master: the session gets SIGWINCH).
pub(crate) fn set_size(fd: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    Ok(rustix::termios::tcsetwinsize(fd, ws)?)
}

/// Restores the terminal's mode when dropped (also on error paths).
struct RawGuard(Option<rustix::termios::Termios>);

impl RawGuard {
    fn enter() -> io::Result<Self> {
        let stdin = io::stdin();
        if !rustix::termios::isatty(&stdin) {
            return Ok(Self(None));
        }
        let saved = rustix::termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Self(Some(saved)))
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = rustix::termios::tcsetattr(io::stdin(), OptionalActions::Now, t);
        }
    }
}

/// Relays the caller's terminal to a pty session: raw mode (restored on return), both
/// directions, SIGWINCH as resize. Returns the session's exit code (128 + signal if killed).
/// Call it from the thread that owns the terminal; SIGWINCH is blocked in that thread while relaying.
pub fn relay_pty(session: &Session) -> io::Result<i32> {
    let master = session.pty_master().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "session has no pty; spawn it with SessionStdio::Pty",
        )
    })?;
    let _raw = RawGuard::enter()?;
    let winch = sig::signal_fd(&[libc::SIGWINCH])?;
    let result = relay(session, master, &winch);
    sig::unblock(&[libc::SIGWINCH]);
    result
}

fn relay(
    session: &Session,
    master: rustix::fd::BorrowedFd<'_>,
    winch: &OwnedFd,
) -> io::Result<i32> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let resize = || -> io::Result<()> {
        if let Ok(ws) = rustix::termios::tcgetwinsize(&stdin) {
            rustix::termios::tcsetwinsize(master, ws)?;
        }
        Ok(())
    };
    resize()?;
    let mut buf = [0u8; 8192];
    let (mut stdin_open, mut master_open) = (true, true);
    loop {
        let mut fds = vec![
            PollFd::new(&session.conn, PollFlags::IN),
            PollFd::new(winch, PollFlags::IN),
        ];
        if master_open {
            fds.push(PollFd::new(&master, PollFlags::IN));
        }
        if stdin_open {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            r => {
                r?;
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready[1] {
            sig::drain(winch);
            resize()?;
        }
        let mut i = 2;
        if master_open {
            if ready[i] {
                match rustix::io::read(master, &mut buf) {
                    Ok(0) | Err(rustix::io::Errno::IO) => master_open = false,
                    Ok(n) => write_all(&stdout, &buf[..n])?,
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            i += 1;
        }
        if stdin_open && ready[i] {
            match rustix::io::read(&stdin, &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => write_all(master, &buf[..n])?,
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if ready[0] {
            return match control::recv::<Reply>(&session.conn) {
                Ok(Some((Reply::Exited { status }, _))) => {
                    drain_master(master, &stdout, &mut buf);
                    Ok(status.exit_code())
                }
                Ok(Some((other, _))) => {
                    Err(io::Error::other(format!("unexpected reply {other:?}")))
                }
                Ok(None) => Err(io::Error::other(
                    "the sandbox init closed the session (sandbox stopped?)",
                )),
                Err(e) => Err(io::Error::other(e.to_string())),
            };
        }
    }
}

/// Copies what the session wrote before it exited.
fn drain_master(master: rustix::fd::BorrowedFd<'_>, out: &io::Stdout, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        if !matches!(
            poll(
                &mut fds,
                Some(&rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0
                })
            ),
            Ok(1)
        ) {
            return;
        }
        match rustix::io::read(master, &mut *buf) {
            Ok(n) if n > 0 => {
                if write_all(out, &buf[..n]).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

fn write_all(fd: impl AsFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(&fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

//! Signals as file descriptors (signalfd), so the init and the pty relay can poll them.
#![allow(unsafe_code)]

use rustix::fd::{FromRawFd, OwnedFd};
use std::io;

/// Blocks `signals` in the calling thread and returns a signalfd that reports them.
pub(crate) fn signal_fd(signals: &[i32]) -> io::Result<OwnedFd> {
    // SAFETY: `sigset_t` is plain data; sigemptyset/sigaddset initialise it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t for each call.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
    }
    // SAFETY: `set` is initialised; the old mask is not requested (null).
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: -1 asks for a new fd; `set` is initialised and outlives the call.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads every pending signal number from a (non-blocking) signalfd.
pub(crate) fn drain(fd: &OwnedFd) -> Vec<i32> {
    let mut out = Vec::new();
    let mut buf = [0u8; 128]; // sizeof(struct signalfd_siginfo)
    while let Ok(128) = rustix::io::read(fd, &mut buf) {
        out.push(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]));
    }
    out
}

/// Unblocks `signals` again (after the signalfd is no longer used).
pub(crate) fn unblock(signals: &[i32]) {
    // SAFETY: as in `signal_fd`.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and initialised before use; the old mask is not requested.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Restores the default SIGPIPE disposition (Rust starts programs with it ignored), so a CLI
/// whose stdout is a closed pipe (`sandgate list | head`) ends quietly instead of panicking.
/// Lives here because this crate is the one place the workspace allows `unsafe` for kernel
/// interfaces that rustix does not wrap.
pub fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Resets every signal the caller may have ignored back to its default action. Ignored
/// dispositions survive `fork` and `exec` (a CLI started in the background by a
/// non-interactive shell has SIGINT and SIGQUIT ignored), and a shell started with SIGINT
/// ignored keeps it ignored for every job, so Ctrl-C would never reach a sandbox's programs.
/// Handlers need no reset (`exec` drops them), and the signal mask is cleared by `Command`.
/// Async-signal-safe: only `signal(2)` calls, for use between `fork` and `exec`.
pub(crate) fn reset_dispositions() {
    for s in 1..=libc::SIGRTMAX() {
        if s == libc::SIGKILL || s == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting a disposition to SIG_DFL installs no handler code; numbers the
        // kernel refuses (the C library's reserved realtime signals) just fail with EINVAL.
        unsafe {
            libc::signal(s, libc::SIG_DFL);
        }
    }
}

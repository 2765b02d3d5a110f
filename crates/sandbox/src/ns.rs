//! Namespaces: user ns with the caller's ids mapped to themselves, the other namespaces, fork,
//! and the bits of a fresh net/uts ns (lo up, hostname). Usable after fork in a multi-threaded
//! parent: nothing here allocates.
#![allow(unsafe_code)]

use rustix::fd::AsRawFd;
use rustix::fs::{Mode, OFlags};
use rustix::io;
use rustix::thread::UnshareFlags;
use std::ffi::CStr;

/// Namespaces created after the user namespace.
pub(crate) const OTHER_NS: UnshareFlags = UnshareFlags::NEWNET
    .union(UnshareFlags::NEWNS)
    .union(UnshareFlags::NEWPID)
    .union(UnshareFlags::NEWIPC)
    .union(UnshareFlags::NEWUTS);

/// Unshares `flags` for the calling (single-threaded) process.
pub(crate) fn unshare(flags: UnshareFlags) -> io::Result<()> {
    // SAFETY: callers run single-threaded (a fresh helper, or a child right after fork), and the
    // flags never include CLONE_FILES/CLONE_FS/CLONE_VM sharing changes that Rust code relies on.
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// Creates a user namespace mapping the current uid/gid to themselves (root: 0 → 0).
pub(crate) fn enter_user_ns() -> io::Result<()> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    unshare(UnshareFlags::NEWUSER)?;
    write_file(c"/proc/self/setgroups", b"deny")?;
    write_map(c"/proc/self/uid_map", uid)?;
    write_map(c"/proc/self/gid_map", gid)
}

fn write_map(path: &CStr, id: u32) -> io::Result<()> {
    // "<id> <id> 1" formatted on the stack.
    let mut buf = [0u8; 32];
    let mut digits = [0u8; 10];
    let mut n = id;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut pos = 0;
    for _ in 0..2 {
        for i in (0..len).rev() {
            buf[pos] = digits[i];
            pos += 1;
        }
        buf[pos] = b' ';
        pos += 1;
    }
    buf[pos] = b'1';
    write_file(path, &buf[..=pos])
}

fn write_file(path: &CStr, data: &[u8]) -> io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let n = rustix::io::write(&fd, data)?;
    if n == data.len() {
        Ok(())
    } else {
        Err(io::Errno::IO)
    }
}

/// Forks. Returns `Some(child_pid)` in the parent, `None` in the child.
pub(crate) fn fork() -> io::Result<Option<i32>> {
    // SAFETY: the child only runs code that is safe after fork: the helper and init are
    // single-threaded, and the probe's child only makes raw syscalls before `_exit`.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        )),
        0 => Ok(None),
        p => Ok(Some(p)),
    }
}

/// Leaves the process immediately, without running atexit handlers (for forked children).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Brings `lo` up (a new net ns starts with it down).
pub(crate) fn loopback_up() -> io::Result<()> {
    use rustix::net::{AddressFamily, SocketType, socket};
    let sock = socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads/writes only `req`, which outlives the call; the fd is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(last_errno());
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(last_errno());
    }
    Ok(())
}

fn last_errno() -> io::Errno {
    io::Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Sets the hostname of the (new) uts namespace.
pub(crate) fn set_hostname(name: &str) -> io::Result<()> {
    rustix::system::sethostname(name.as_bytes())
}

/// Closes every inherited fd above stderr (the caller's pipes must not stay open in the init).
/// Call only at the start of the helper, before this process has opened anything itself.
pub(crate) fn close_inherited_fds() {
    // SAFETY: at the helper's start no Rust object owns an fd above 2, so closing them cannot
    // invalidate an OwnedFd; close_range has no memory arguments.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

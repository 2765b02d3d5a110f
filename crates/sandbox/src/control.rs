//! The wire protocol between callers and a sandbox's init: length-prefixed JSON frames on a unix
//! stream socket, bounded in size, with file descriptors attached by SCM_RIGHTS to a frame's first
//! bytes. Bad input is a typed [`SandboxError::Protocol`], never a panic or an unbounded allocation.

use crate::error::SandboxError;
use crate::spec::{ExitStatusLike, IsolationReport};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::path::PathBuf;

/// Largest frame accepted (argv + env of a session must fit).
pub const MAX_FRAME: usize = 256 * 1024;
/// Most fds one frame may carry.
pub const MAX_FDS: usize = 3;

/// Caller → init.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Request {
    /// Asks for the isolation report.
    Hello,
    /// Asks for a dup of the in-sandbox listener.
    TakeListener,
    /// Starts a session; with `Fds` the frame carries stdin, stdout and stderr.
    Spawn {
        argv: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
        cwd: PathBuf,
        stdio: WireStdio,
        detach: bool,
    },
    /// Sends a signal to the session's process group (on a spawn connection).
    Signal { sig: i32 },
    /// Kills everything in the sandbox; the init exits.
    Stop,
}

/// How a spawned session's stdio is set up.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WireStdio {
    /// Three fds come with the frame.
    Fds,
    /// The init allocates a pty and returns the master with the reply.
    Pty { rows: u16, cols: u16 },
}

/// Init → caller.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Reply {
    /// Answer to `Hello`.
    Info { report: IsolationReport },
    /// Answer to `TakeListener`; the frame carries the listener.
    Listener,
    /// The session runs (pid inside the sandbox); with a pty the frame carries the master.
    Spawned { pid: i32 },
    /// The session ended.
    Exited { status: ExitStatusLike },
    /// Answer to `Stop`; the connection closes when the init is gone.
    Stopping,
    /// No in-namespace listener (Landlock mode).
    NoListener { mode: String },
    /// Refused, with the reason and what to do.
    Error { message: String },
}

/// Sends one frame with `fds` attached.
pub fn send<T: Serialize>(
    sock: impl AsFd,
    msg: &T,
    fds: &[BorrowedFd<'_>],
) -> Result<(), SandboxError> {
    let body = serde_json::to_vec(msg)
        .map_err(|e| SandboxError::Protocol(format!("cannot encode: {e}")))?;
    if body.len() > MAX_FRAME {
        return Err(SandboxError::Refused(format!(
            "request of {} bytes exceeds the {MAX_FRAME}-byte limit; shorten argv/env",
            body.len()
        )));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if fds.len() > MAX_FDS || (!fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds))) {
        return Err(SandboxError::Protocol(format!(
            "at most {MAX_FDS} fds per frame"
        )));
    }
    let mut sent = rustix::net::sendmsg(
        &sock,
        &[IoSlice::new(&frame)],
        &mut anc,
        SendFlags::NOSIGNAL,
    )
    .map_err(std::io::Error::from)?;
    while sent < frame.len() {
        let n = rustix::net::send(&sock, &frame[sent..], SendFlags::NOSIGNAL)
            .map_err(std::io::Error::from)?;
        sent += n;
    }
    Ok(())
}

/// Receives one frame and its fds; `None` on a clean end of stream between frames.
pub fn recv<T: DeserializeOwned>(
    sock: impl AsFd,
) -> Result<Option<(T, Vec<OwnedFd>)>, SandboxError> {
    let mut head = [0u8; 4];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            &sock,
            &mut [IoSliceMut::new(&mut head)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r.map_err(std::io::Error::from)?,
        }
    };
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if msg.bytes == 0 {
        return Ok(None);
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(SandboxError::Protocol(format!(
            "more than {MAX_FDS} fds attached to a frame"
        )));
    }
    read_exact(&sock, &mut head[msg.bytes..])?;
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(SandboxError::Protocol(format!(
            "frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    read_exact(&sock, &mut body)?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| SandboxError::Protocol(format!("malformed frame: {e}")))?;
    Ok(Some((value, fds)))
}

fn read_exact(sock: &impl AsFd, mut buf: &mut [u8]) -> Result<(), SandboxError> {
    while !buf.is_empty() {
        match rustix::net::recv(sock, &mut *buf, RecvFlags::empty()) {
            Ok((0, _)) => {
                return Err(SandboxError::Protocol(
                    "connection closed inside a frame".into(),
                ));
            }
            Ok((n, _)) => buf = &mut buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(std::io::Error::from(e).into()),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn round_trip_with_fds() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, _w) = rustix::pipe::pipe().unwrap();
        send(&a, &Request::Signal { sig: 15 }, &[r.as_fd()]).unwrap();
        let (req, fds) = recv::<Request>(&b).unwrap().unwrap();
        assert!(matches!(req, Request::Signal { sig: 15 }));
        assert_eq!(fds.len(), 1);
        drop(a);
        assert!(
            recv::<Request>(&b).unwrap().is_none(),
            "clean EOF between frames"
        );
    }

    #[test]
    fn oversized_truncated_and_malformed_frames_are_typed_errors() {
        let cases: [&[u8]; 3] = [
            &u32::MAX.to_le_bytes(),
            &[10, 0, 0, 0, b'{'],
            &[3, 0, 0, 0, b'{', b'}', b'x'],
        ];
        for bytes in cases {
            let (mut a, b) = UnixStream::pair().unwrap();
            a.write_all(bytes).unwrap();
            drop(a);
            assert!(
                matches!(recv::<Request>(&b), Err(SandboxError::Protocol(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn too_many_fds_are_refused() {
        let (a, _b) = UnixStream::pair().unwrap();
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let fds = [r.as_fd(); MAX_FDS + 1];
        assert!(send(&a, &Request::Hello, &fds).is_err());
    }
}

//! Landlock rules: for sessions (filesystem + TCP) and for the init (scopes only, so that
//! sessions of one sandbox may signal each other but nothing outside).

use crate::spec::{IsolationMode, SandboxSpec};
use ::landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use std::io;
use std::path::{Path, PathBuf};

/// The newest ABI this crate asks for; the crate's best-effort mode downgrades on older kernels.
const WANT: ABI = ABI::V6;

/// Paths sessions may write in `Full` mode besides the writable mounts.
const RW_FULL: [&str; 8] = [
    "/tmp",
    "/dev/shm",
    "/dev/pts",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
];

/// The Landlock ABI of the running kernel (None: unavailable).
pub(crate) fn kernel_abi() -> Option<u8> {
    crate::probe::landlock_abi()
}

fn to_io(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

/// Restricts the init: abstract unix sockets and signals are scoped to the sandbox (ABI >= 6).
/// The layer also handles `Refer` and grants it everywhere: the kernel treats `Refer` as
/// denied in every layer of a domain whose other layers handle filesystem access, so a
/// scope-only layer would make each cross-directory rename and hard link of the sessions
/// fail with `EXDEV` (npm, git and OpenClaw's workspace publication do both).
pub(crate) fn restrict_init() -> io::Result<bool> {
    if kernel_abi().unwrap_or(0) < 6 {
        return Ok(false);
    }
    let status = Ruleset::default()
        .handle_access(AccessFs::Refer)
        .map_err(to_io)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(to_io)?
        .create()
        .map_err(to_io)?
        .add_rule(PathBeneath::new(
            PathFd::new("/").map_err(to_io)?,
            AccessFs::Refer,
        ))
        .map_err(to_io)?
        .restrict_self()
        .map_err(to_io)?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}

/// Restricts a session: read+exec everywhere visible, write where the sandbox may write, TCP
/// connect only to the gateway port in `Landlock` mode (and scopes there, as no init holds them).
pub(crate) fn restrict_session(spec: &SandboxSpec, mode: IsolationMode) -> io::Result<bool> {
    let all = AccessFs::from_all(WANT);
    let read = AccessFs::from_read(WANT);
    let mut ruleset = Ruleset::default().handle_access(all).map_err(to_io)?;
    if mode == IsolationMode::Landlock {
        ruleset = ruleset
            .handle_access(AccessNet::ConnectTcp | AccessNet::BindTcp)
            .map_err(to_io)?;
        ruleset = ruleset
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(to_io)?;
    }
    let mut created = ruleset.create().map_err(to_io)?;
    let mut rw: Vec<PathBuf> = Vec::new();
    match mode {
        IsolationMode::Landlock => {
            for p in readable_outside(&spec.hide) {
                created = add(created, &p, read)?;
            }
            rw.extend(
                [
                    "/dev/null",
                    "/dev/zero",
                    "/dev/full",
                    "/dev/tty",
                    "/dev/pts",
                    "/dev/ptmx",
                ]
                .map(PathBuf::from),
            );
            rw.extend(
                spec.mounts
                    .iter()
                    .filter(|m| m.writable)
                    .map(|m| m.source.clone()),
            );
            for m in spec.mounts.iter().filter(|m| !m.writable) {
                created = add(created, &m.source, read)?;
            }
            if let Some(port) = spec.gateway_port {
                created = created
                    .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                    .map_err(to_io)?;
            }
        }
        _ => {
            created = add(created, Path::new("/"), read)?;
            rw.extend(RW_FULL.map(PathBuf::from));
            rw.extend(
                spec.mounts
                    .iter()
                    .filter(|m| m.writable)
                    .map(|m| m.target.clone()),
            );
        }
    }
    for p in rw {
        created = add(created, &p, all)?;
    }
    let status = created.restrict_self().map_err(to_io)?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}

/// Adds a path-beneath rule; a missing path is skipped (nothing to grant).
fn add(
    created: ::landlock::RulesetCreated,
    path: &Path,
    access: BitFlags<AccessFs>,
) -> io::Result<::landlock::RulesetCreated> {
    let fd = match PathFd::new(path) {
        Ok(fd) => fd,
        Err(_) => return Ok(created),
    };
    let is_dir = path.is_dir();
    let access = if is_dir {
        access
    } else {
        access & AccessFs::from_file(WANT)
    };
    created
        .add_rule(PathBeneath::new(fd, access))
        .map_err(to_io)
}

/// Without a mount namespace Landlock can only allow, so allow everything except the hidden
/// paths: the siblings of each hidden path and of each of its ancestors.
pub(crate) fn readable_outside(hide: &[PathBuf]) -> Vec<PathBuf> {
    let hidden: Vec<PathBuf> = hide
        .iter()
        .map(|h| std::fs::canonicalize(h).unwrap_or_else(|_| h.clone()))
        .collect();
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if hidden.iter().any(|h| h == &p) {
                continue;
            }
            if hidden.iter().any(|h| h.starts_with(&p)) {
                stack.push(p); // an ancestor of something hidden: descend
            } else {
                out.push(p);
            }
        }
    }
    out
}

//! Rootless sandboxes for agent processes: a per-sandbox init holding user, net, mount, pid, ipc
//! and uts namespaces and a listener bound inside; sessions run in it like `docker exec`, with
//! every capability dropped, no_new_privs, Landlock and a seccomp deny list. Falls back to
//! Landlock + seccomp without namespaces, and says so. See README.md for the contract.

mod caps;
pub mod control;
mod error;
mod fsview;
mod helper;
mod init;
mod landlock;
mod ns;
mod probe;
mod pty;
mod seccomp;
mod session;
mod sig;
mod spec;

pub use error::SandboxError;
pub use helper::{
    HELPER_ARG, Running, ensure_running, run_helper_if_requested, stop, take_listener,
};
pub use init::TEST_DIE_AFTER;
pub use probe::{FORCE_NO_USERNS, probe};
pub use pty::relay_pty;
pub use session::{Session, spawn_session};
pub use sig::restore_default_sigpipe;
pub use spec::{
    ExitStatusLike, HelperCommand, IsolationMode, IsolationReport, Mount, SandboxSpec,
    SessionCommand, SessionStdio,
};

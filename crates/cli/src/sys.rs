//! Process liveness, signals and the effective uid, through rustix (no `unsafe` here).

use rustix::process::{Pid, Signal};

fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

/// Whether a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    let Some(p) = pid_of(pid) else {
        return false;
    };
    // Signal 0: existence and permission only. EPERM means it exists (another user's).
    let exists = match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    };
    if !exists {
        return false;
    }
    // A zombie (exited, not yet reaped) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_none_or(|state| state != 'Z' && state != 'X'),
        Err(_) => true,
    }
}

/// Sends SIGTERM to `pid` (a single positive pid, never a group).
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let p = pid_of(pid)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid pid"))?;
    Ok(rustix::process::kill_process(p, Signal::TERM)?)
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Restores the default SIGPIPE action so that `sandgate list | head` exits quietly
/// instead of panicking on a closed stdout.
pub fn reset_sigpipe() {
    sandgate_sandbox::restore_default_sigpipe();
}

/// The command name of a process (`/proc/<pid>/comm`), if readable.
pub fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_nonsense_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        assert!(euid() == euid());
    }
}

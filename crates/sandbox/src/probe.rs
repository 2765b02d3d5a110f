//! What the kernel allows here, decided without creating a sandbox.
#![allow(unsafe_code)]

use crate::ns;
use crate::spec::{IsolationMode, IsolationReport, NAMESPACES};
use rustix::process::{Pid, WaitOptions};

/// Env override that makes user namespaces count as unavailable (to exercise the fallback).
pub const FORCE_NO_USERNS: &str = "SANDGATE_SANDBOX_FORCE_NO_USERNS";

/// Why user namespaces are unusable, and the remedy.
#[derive(Debug, Clone)]
pub(crate) struct NoUserns {
    pub why: String,
    pub remedy: String,
}

/// Reports the isolation `ensure_running` would achieve here (forks one short-lived child).
pub fn probe() -> IsolationReport {
    let mut warnings = Vec::new();
    let mode = match userns() {
        Ok(()) => IsolationMode::Full,
        Err(no) => {
            warnings.push(format!("no namespaces: {}; remedy: {}", no.why, no.remedy));
            if landlock_abi().is_some() {
                IsolationMode::Landlock
            } else {
                IsolationMode::None
            }
        }
    };
    report(mode, warnings)
}

/// The report for `mode`, with the kernel's Landlock/seccomp facts and `warnings` added to.
pub(crate) fn report(mode: IsolationMode, mut warnings: Vec<String>) -> IsolationReport {
    let abi = landlock_abi();
    let seccomp = rustix::thread::secure_computing_mode().is_ok();
    match abi {
        None => warnings.push("Landlock unavailable: enable CONFIG_SECURITY_LANDLOCK and add `landlock` to the lsm= boot parameter".into()),
        Some(v) if v < 4 && mode == IsolationMode::Landlock => {
            warnings.push(format!("Landlock ABI {v} < 4: TCP connect cannot be limited to the gateway port; upgrade to Linux >= 6.7"))
        }
        Some(v) if v < 6 => warnings.push(format!("Landlock ABI {v} < 6: abstract unix sockets and signals are not scoped; upgrade to Linux >= 6.12")),
        Some(_) => {}
    }
    if mode == IsolationMode::Landlock {
        warnings.push("Landlock mode: no private /tmp, no hostname, mounts are not remapped (sources are granted at their host paths), no in-sandbox listener".into());
    }
    if !seccomp {
        warnings.push("seccomp unavailable: enable CONFIG_SECCOMP_FILTER".into());
    }
    IsolationReport {
        mode,
        namespaces: if mode == IsolationMode::Full {
            NAMESPACES.to_vec()
        } else {
            Vec::new()
        },
        landlock_abi: abi.filter(|_| mode != IsolationMode::None),
        seccomp: seccomp && mode != IsolationMode::None,
        warnings,
    }
}

/// Landlock ABI version of the running kernel.
pub(crate) fn landlock_abi() -> Option<u8> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attr and size 0, this flag only returns the ABI version; no memory is touched.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u8::try_from(v).ok().filter(|v| *v > 0)
}

/// Whether a user namespace with a working net namespace can be created here.
pub(crate) fn userns() -> Result<(), NoUserns> {
    if std::env::var_os(FORCE_NO_USERNS).is_some_and(|v| v == "1") {
        return Err(NoUserns {
            why: format!("{FORCE_NO_USERNS}=1 is set"),
            remedy: format!("unset {FORCE_NO_USERNS}"),
        });
    }
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).ok();
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(NoUserns {
            why: "user.max_user_namespaces is 0".into(),
            remedy: "sysctl -w user.max_user_namespaces=10000".into(),
        });
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0")
        && !rustix::process::getuid().is_root()
    {
        return Err(NoUserns {
            why: "kernel.unprivileged_userns_clone is 0".into(),
            remedy: "sysctl -w kernel.unprivileged_userns_clone=1".into(),
        });
    }
    let apparmor =
        read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1");
    match try_in_child() {
        Ok(()) => Ok(()),
        Err(step) if apparmor => Err(NoUserns {
            why: format!("kernel.apparmor_restrict_unprivileged_userns=1 ({step} failed in a new user namespace)"),
            remedy: "install an AppArmor profile allowing `userns` for this binary, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0".into(),
        }),
        Err(step) => Err(NoUserns {
            why: format!("{step} failed (a container's seccomp profile or a hardened kernel forbids user namespaces)"),
            remedy: "run outside the container / allow unshare(CLONE_NEWUSER), or accept Landlock mode".into(),
        }),
    }
}

/// Forks a child that creates user + net namespaces and brings `lo` up; returns the failing step.
fn try_in_child() -> Result<(), &'static str> {
    const STEPS: [&str; 4] = [
        "fork",
        "unshare(CLONE_NEWUSER) with id maps",
        "unshare(CLONE_NEWNET)",
        "bringing lo up",
    ];
    let child = match ns::fork() {
        Err(_) => return Err(STEPS[0]),
        Ok(None) => {
            // Child of a possibly multi-threaded parent: raw syscalls only, then _exit.
            let code = if ns::enter_user_ns().is_err() {
                1
            } else if ns::unshare(rustix::thread::UnshareFlags::NEWNET).is_err() {
                2
            } else if ns::loopback_up().is_err() {
                3
            } else {
                0
            };
            ns::exit_now(code)
        }
        Ok(Some(pid)) => pid,
    };
    let pid = Pid::from_raw(child).ok_or(STEPS[0])?;
    match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
        Ok(Some((_, status))) => match status.exit_status() {
            Some(0) => Ok(()),
            Some(n) => Err(STEPS.get(n as usize).copied().unwrap_or(STEPS[0])),
            None => Err(STEPS[0]),
        },
        _ => Err(STEPS[0]),
    }
}

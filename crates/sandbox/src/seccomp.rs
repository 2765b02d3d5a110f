//! The seccomp deny list applied to sessions (after no_new_privs, right before exec).

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op,
    SeccompCondition as Cond, SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::io;

/// Syscalls a session never needs: namespaces, mounts, keyrings, bpf, tracing, kernel loading, io_uring.
const DENY: &[libc::c_long] = &[
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

/// `clone` flags that create namespaces.
const NEW_NS: [libc::c_int; 7] = [
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];

fn to_io(e: seccompiler::BackendError) -> io::Error {
    io::Error::other(e)
}

fn cond(arg: u8, op: Op, value: u64) -> io::Result<Cond> {
    Cond::new(arg, Len::Dword, op, value).map_err(to_io)
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> io::Result<BpfProgram> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(to_io)?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch,
    )
    .map_err(to_io)?;
    filter.try_into().map_err(to_io)
}

/// Builds both programs: the deny list (EPERM) and `clone3` → ENOSYS (so libc falls back to
/// `clone`, whose flags a filter can inspect). `strict_sockets` (Landlock mode, no net namespace)
/// also refuses unix, netlink, packet, datagram and raw sockets.
pub(crate) fn programs(strict_sockets: bool) -> io::Result<Vec<BpfProgram>> {
    let mut deny: BTreeMap<i64, Vec<SeccompRule>> = DENY.iter().map(|s| (*s, Vec::new())).collect();
    let mut clone = Vec::new();
    for flag in NEW_NS {
        let f = flag as u64;
        clone.push(SeccompRule::new(vec![cond(0, Op::MaskedEq(f), f)?]).map_err(to_io)?);
    }
    deny.insert(libc::SYS_clone, clone);
    let mut ioctl = Vec::new();
    for req in [libc::TIOCSTI, libc::TIOCLINUX] {
        ioctl.push(SeccompRule::new(vec![cond(1, Op::Eq, req)?]).map_err(to_io)?);
    }
    deny.insert(libc::SYS_ioctl, ioctl);
    if strict_sockets {
        let mut socket = Vec::new();
        for family in [libc::AF_UNIX, libc::AF_NETLINK, libc::AF_PACKET] {
            socket.push(SeccompRule::new(vec![cond(0, Op::Eq, family as u64)?]).map_err(to_io)?);
        }
        for kind in [libc::SOCK_DGRAM, libc::SOCK_RAW, libc::SOCK_SEQPACKET] {
            socket.push(
                SeccompRule::new(vec![cond(1, Op::MaskedEq(0xf), kind as u64)?]).map_err(to_io)?,
            );
        }
        deny.insert(libc::SYS_socket, socket);
    }
    let mut nosys = BTreeMap::new();
    nosys.insert(libc::SYS_clone3, Vec::new());
    Ok(vec![
        compile(deny, libc::EPERM)?,
        compile(nosys, libc::ENOSYS)?,
    ])
}

/// Installs the programs on the calling thread (requires no_new_privs).
pub(crate) fn apply(programs: &[BpfProgram]) -> io::Result<()> {
    for p in programs {
        seccompiler::apply_filter(p).map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(())
}

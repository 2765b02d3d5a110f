//! The sandbox's filesystem view, built in a fresh mount namespace: a read-only recursive clone of
//! `/`, tmpfs over every hidden path, the binds, a private `/tmp`, a minimal `/dev`, a fresh `/proc`,
//! then `pivot_root`. Paths inside the new root are resolved with `RESOLVE_IN_ROOT`, so symlinks
//! can never lead a mount out of the new root.
#![allow(unsafe_code)]

use crate::error::SandboxError;
use crate::spec::SandboxSpec;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{CWD, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::{self, Errno};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountPropagationFlags, MoveMountFlags,
    OpenTreeFlags, UnmountFlags,
};
use std::path::{Component, Path, PathBuf};

/// Host device nodes bind-mounted into the sandbox's `/dev`.
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// Where the new root is attached before `pivot_root` (in the old root; gone afterwards).
const STAGING: &str = "/tmp";

type Result<T> = std::result::Result<T, SandboxError>;

fn err(step: impl Into<String>) -> impl FnOnce(Errno) -> SandboxError {
    let step = step.into();
    move |e| SandboxError::setup(step, std::io::Error::from(e))
}

/// Builds the view described by `spec` and makes it the root of this mount namespace.
pub(crate) fn build(spec: &SandboxSpec) -> Result<()> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(err("make / private"))?;
    // Clones first: later mounts must not change what the sources are.
    let root = clone_tree(Path::new("/"), true)?;
    let mut sources = Vec::with_capacity(spec.mounts.len());
    for m in &spec.mounts {
        let tree = clone_tree(&m.source, true)?;
        let dir = rustix::fs::stat(&m.source)
            .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
            .map_err(err(format!("stat mount source {}", m.source.display())))?;
        let mut attrs = MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV;
        if !m.writable {
            attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY;
        }
        set_attr(&tree, attrs, true)
            .map_err(err(format!("set attributes of {}", m.source.display())))?;
        sources.push((tree, dir, &m.target));
    }
    let mut devs = Vec::with_capacity(DEV_NODES.len());
    for name in DEV_NODES {
        devs.push((name, clone_tree(&Path::new("/dev").join(name), false)?));
    }
    let ro = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV;
    set_attr(&root, ro, true).map_err(err("make the root clone read-only"))?;
    attach(&root, CWD, STAGING).map_err(err("attach the new root"))?;
    let new_root = rustix::fs::open(
        STAGING,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err("open the new root"))?;
    let nr = new_root.as_fd();

    // Mounts made read-only once their mountpoints are created.
    let mut seal = Vec::new();
    for h in &spec.hide {
        if let Some(fd) = hide(nr, h)? {
            seal.push(fd);
        }
    }
    let tmp = tmpfs("mode=1777")?;
    attach(&tmp, at(nr, "/tmp")?.as_fd(), "").map_err(err("mount /tmp"))?;
    seal.push(build_dev(nr, devs)?);
    for (tree, dir, target) in sources {
        let point = mountpoint(nr, target, dir)?;
        attach(&tree, point.as_fd(), "")
            .map_err(err(format!("bind-mount onto {}", target.display())))?;
    }
    let proc = new_fs("proc", &[])?;
    let proc = mount_fs(
        &proc,
        MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )?;
    attach(&proc, at(nr, "/proc")?.as_fd(), "").map_err(err("mount /proc"))?;
    for fd in &seal {
        set_attr(fd, MountAttrFlags::MOUNT_ATTR_RDONLY, false)
            .map_err(err("make hidden paths read-only"))?;
    }

    rustix::process::fchdir(&new_root).map_err(err("enter the new root"))?;
    rustix::process::pivot_root(".", ".").map_err(err("pivot_root"))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(err("detach the old root"))?;
    rustix::process::chdir("/").map_err(err("chdir /"))?;
    Ok(())
}

/// Covers `path` with an empty tmpfs (directories) or the null device (files). Missing paths are skipped.
fn hide(root: BorrowedFd<'_>, path: &Path) -> Result<Option<OwnedFd>> {
    let target = match open_in(root, path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(err(format!("open hidden path {}", path.display()))(e)),
    };
    let st = rustix::fs::fstat(&target).map_err(err("stat hidden path"))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let fs = tmpfs("mode=0755")?;
        attach(&fs, target.as_fd(), "").map_err(err(format!("hide {}", path.display())))?;
        Ok(Some(fs))
    } else {
        let null = clone_tree(Path::new("/dev/null"), false)?;
        attach(&null, target.as_fd(), "").map_err(err(format!("hide {}", path.display())))?;
        Ok(None)
    }
}

/// A minimal `/dev`: host null/zero/full/random/urandom/tty, a new devpts with ptmx, shm, fd links.
fn build_dev(root: BorrowedFd<'_>, devs: Vec<(&str, OwnedFd)>) -> Result<OwnedFd> {
    let dev = tmpfs("mode=0755")?;
    attach(&dev, at(root, "/dev")?.as_fd(), "").map_err(err("mount /dev"))?;
    let d = open_in(root, Path::new("/dev"), OFlags::DIRECTORY).map_err(err("open /dev"))?;
    for (name, tree) in devs {
        let f = rustix::fs::openat(
            &d,
            name,
            OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(err(format!("create /dev/{name}")))?;
        drop(f);
        attach(&tree, &d, name).map_err(err(format!("bind /dev/{name}")))?;
    }
    for dir in ["pts", "shm"] {
        rustix::fs::mkdirat(&d, dir, Mode::from_raw_mode(0o755))
            .map_err(err(format!("mkdir /dev/{dir}")))?;
    }
    let pts = new_fs("devpts", &[("ptmxmode", "0666"), ("mode", "0620")])?;
    let pts = mount_fs(
        &pts,
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )?;
    attach(&pts, &d, "pts").map_err(err("mount /dev/pts"))?;
    let shm = tmpfs("mode=1777")?;
    attach(&shm, &d, "shm").map_err(err("mount /dev/shm"))?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        rustix::fs::symlinkat(to, &d, link).map_err(err(format!("link /dev/{link}")))?;
    }
    Ok(dev)
}

/// Opens (creating if missing, with parents) the mountpoint for a bind target.
fn mountpoint(root: BorrowedFd<'_>, target: &Path, dir: bool) -> Result<OwnedFd> {
    let step = || {
        format!(
            "create mountpoint {} (its parent must be writable, e.g. under a hidden path, or exist on the host)",
            target.display()
        )
    };
    if let Ok(fd) = open_in(root, target, OFlags::PATH) {
        return Ok(fd);
    }
    let parent = target
        .parent()
        .ok_or_else(|| SandboxError::setup(step(), std::io::Error::from(Errno::INVAL)))?;
    let name = target
        .file_name()
        .ok_or_else(|| SandboxError::setup(step(), std::io::Error::from(Errno::INVAL)))?;
    let mut cur = PathBuf::from("/");
    for c in parent.components() {
        if let Component::Normal(part) = c {
            let p = open_in(root, &cur, OFlags::DIRECTORY).map_err(err(step()))?;
            match rustix::fs::mkdirat(&p, part, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(err(step())(e)),
            }
            cur.push(part);
        }
    }
    let p = open_in(root, &cur, OFlags::DIRECTORY).map_err(err(step()))?;
    if dir {
        match rustix::fs::mkdirat(&p, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(err(step())(e)),
        }
    } else {
        drop(
            rustix::fs::openat(
                &p,
                name,
                OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(err(step()))?,
        );
    }
    open_in(root, target, OFlags::PATH).map_err(err(step()))
}

fn at(root: BorrowedFd<'_>, path: &str) -> Result<OwnedFd> {
    open_in(root, Path::new(path), OFlags::PATH | OFlags::DIRECTORY)
        .map_err(err(format!("open {path} in the new root")))
}

/// Opens `path` as if `root` were `/` (symlinks included).
fn open_in(root: BorrowedFd<'_>, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    rustix::fs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

fn clone_tree(path: &Path, recursive: bool) -> Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    rustix::mount::open_tree(CWD, path, flags).map_err(err(format!("clone {}", path.display())))
}

fn attach<Fd: AsFd>(tree: &OwnedFd, to: Fd, to_path: &str) -> io::Result<()> {
    let mut flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH;
    if to_path.is_empty() {
        flags |= MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    }
    rustix::mount::move_mount(tree, "", to, to_path, flags)
}

fn tmpfs(mode: &str) -> Result<OwnedFd> {
    let (key, value) = mode.split_once('=').unwrap_or(("mode", mode));
    let fs = new_fs("tmpfs", &[(key, value)])?;
    mount_fs(
        &fs,
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV,
    )
}

fn new_fs(kind: &str, opts: &[(&str, &str)]) -> Result<OwnedFd> {
    let fs = rustix::mount::fsopen(kind, FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(err(format!("fsopen {kind}")))?;
    for (k, v) in opts {
        rustix::mount::fsconfig_set_string(&fs, *k, *v)
            .map_err(err(format!("{kind} option {k}={v}")))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(err(format!("create {kind}")))?;
    Ok(fs)
}

fn mount_fs(fs: &OwnedFd, attrs: MountAttrFlags) -> Result<OwnedFd> {
    rustix::mount::fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(err("fsmount"))
}

/// `mount_setattr(2)` (not wrapped by rustix): adds `attrs` to the mount (tree) behind `fd`.
fn set_attr(fd: &OwnedFd, attrs: MountAttrFlags, recursive: bool) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: u64::from(attrs.bits()),
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a valid NUL-terminated empty string, `attr` is a correctly laid out
    // `struct mount_attr` that outlives the call, and its size is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

//! `gateway.pid` and `gateway.json`, written by the daemon and read by the CLI, and the
//! ownership check a stopping daemon applies before it removes them (with `admin.sock`): an
//! orphaned daemon must never delete the files of the live one that replaced it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::paths::{StateDir, write_atomic};

/// Contents of `gateway.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayFile {
    /// Gateway id.
    pub id: String,
    /// Daemon pid.
    pub pid: u32,
    /// Start time, ms since the epoch.
    pub started_at_ms: u64,
    /// The `/metrics` listener's address, once bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<String>,
}

/// Writes both files.
pub fn write(state: &StateDir, info: &GatewayFile) -> std::io::Result<()> {
    write_atomic(
        &state.pid_file(),
        format!("{}\n", info.pid).as_bytes(),
        0o644,
    )?;
    let json = serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?;
    write_atomic(&state.info_file(), &json, 0o644)
}

/// The pid in `gateway.pid`, if the file exists and parses.
pub fn read_pid(state: &StateDir) -> Option<u32> {
    std::fs::read_to_string(state.pid_file())
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// `gateway.json`, if present.
pub fn read_info(state: &StateDir) -> Option<GatewayFile> {
    let text = std::fs::read_to_string(state.info_file()).ok()?;
    serde_json::from_str(&text).ok()
}

/// Removes the pid file, `gateway.json` and the admin socket (after a clean stop, or when
/// they are stale).
pub fn remove_runtime_files(state: &StateDir) {
    for p in [state.pid_file(), state.info_file(), state.admin_socket()] {
        let _ = std::fs::remove_file(p);
    }
}

/// A file's identity (device and inode), to recognise the socket a daemon bound even after
/// another one replaced it at the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of `path` itself (a link is not followed).
    pub fn of(path: &Path) -> std::io::Result<FileId> {
        let m = std::fs::symlink_metadata(path)?;
        Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// What a daemon wrote: its `gateway.json` (pid and start time) and the socket it bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The daemon's pid (what `gateway.pid` holds).
    pub pid: u32,
    /// Its start time (with the pid, identifies its `gateway.json`).
    pub started_at_ms: u64,
    /// The admin socket it bound, once bound.
    pub socket: Option<FileId>,
}

/// Removes `path` only if it is still the file `id` (the socket this daemon bound).
pub fn remove_if_same(path: &Path, id: FileId) -> bool {
    FileId::of(path).is_ok_and(|now| now == id) && std::fs::remove_file(path).is_ok()
}

/// Removes the pid file, `gateway.json` and the admin socket, each only if it is still
/// `owner`'s; a file a newer daemon wrote is left alone. Returns how many were removed.
pub fn remove_own_runtime_files(state: &StateDir, owner: &Owner) -> usize {
    let mut removed = 0;
    if read_pid(state) == Some(owner.pid) && std::fs::remove_file(state.pid_file()).is_ok() {
        removed += 1;
    }
    if read_info(state)
        .is_some_and(|i| i.pid == owner.pid && i.started_at_ms == owner.started_at_ms)
        && std::fs::remove_file(state.info_file()).is_ok()
    {
        removed += 1;
    }
    if owner
        .socket
        .is_some_and(|id| remove_if_same(&state.admin_socket(), id))
    {
        removed += 1;
    }
    removed
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let s = StateDir::new(dir.path().to_path_buf());
        let f = GatewayFile {
            id: "g".into(),
            pid: 42,
            started_at_ms: 7,
            metrics_addr: None,
        };
        assert!(write(&s, &f).is_ok());
        assert_eq!(read_pid(&s), Some(42));
        assert_eq!(read_info(&s), Some(f));
        remove_runtime_files(&s);
        assert_eq!(read_pid(&s), None);
    }

    #[test]
    fn only_own_files_are_removed() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let s = StateDir::new(dir.path().to_path_buf());
        let mine = GatewayFile {
            id: "g".into(),
            pid: 42,
            started_at_ms: 7,
            metrics_addr: None,
        };
        assert!(write(&s, &mine).is_ok());
        assert!(std::fs::write(s.admin_socket(), b"old").is_ok());
        let Ok(my_sock) = FileId::of(&s.admin_socket()) else {
            panic!("stat socket")
        };
        let owner = Owner {
            pid: 42,
            started_at_ms: 7,
            socket: Some(my_sock),
        };
        // A live daemon replaced all three files.
        let live = GatewayFile {
            id: "g".into(),
            pid: 43,
            started_at_ms: 9,
            metrics_addr: None,
        };
        assert!(write(&s, &live).is_ok());
        let _ = std::fs::remove_file(s.admin_socket());
        assert!(std::fs::write(s.admin_socket(), b"new").is_ok());
        assert_eq!(remove_own_runtime_files(&s, &owner), 0);
        assert_eq!(read_info(&s), Some(live));
        assert!(s.admin_socket().exists());
        // Its own files go.
        assert!(write(&s, &mine).is_ok());
        let Ok(sock) = FileId::of(&s.admin_socket()) else {
            panic!("stat socket")
        };
        let owner = Owner {
            socket: Some(sock),
            ..owner
        };
        assert_eq!(remove_own_runtime_files(&s, &owner), 3);
        assert_eq!(read_pid(&s), None);
        assert!(!s.admin_socket().exists());
    }
}

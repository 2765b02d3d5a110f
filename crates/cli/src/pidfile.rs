//! `gateway.pid` and `gateway.json`, written by the daemon and read by the CLI.

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
        };
        assert!(write(&s, &f).is_ok());
        assert_eq!(read_pid(&s), Some(42));
        assert_eq!(read_info(&s), Some(f));
        remove_runtime_files(&s);
        assert_eq!(read_pid(&s), None);
    }
}

//! The state directory layout (DESIGN.md, "State directory").

use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult, ErrorKind};

/// Paths inside one state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Uses `dir`, or `~/.sandgate` when none is given. Relative paths are made absolute so
    /// that the daemon and shells started elsewhere agree on them.
    pub fn resolve(dir: Option<&Path>) -> CliResult<StateDir> {
        let root = match dir {
            Some(d) => d.to_path_buf(),
            None => {
                let home = std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| {
                        CliError::new(
                            ErrorKind::NoStateDir,
                            "cannot find the state directory: $HOME is not set",
                            "pass --state-dir DIR or set SANDGATE_STATE_DIR",
                        )
                    })?;
                PathBuf::from(home).join(".sandgate")
            }
        };
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()
                .map_err(|e| CliError::io("current directory", &e))?
                .join(root)
        };
        Ok(StateDir { root })
    }

    /// Wraps an existing path as is.
    pub fn new(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `gateway.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("gateway.pid")
    }
    /// `gateway.json`.
    pub fn info_file(&self) -> PathBuf {
        self.root.join("gateway.json")
    }
    /// `admin.sock`.
    pub fn admin_socket(&self) -> PathBuf {
        self.root.join("admin.sock")
    }
    /// Held by the running daemon for its whole life.
    pub fn daemon_lock(&self) -> PathBuf {
        self.root.join("gateway.lock")
    }
    /// Held by `gateway start` while it spawns a daemon.
    pub fn start_lock(&self) -> PathBuf {
        self.root.join("start.lock")
    }
    /// `logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// `logs/gateway.log`.
    pub fn log_file(&self) -> PathBuf {
        self.logs_dir().join("gateway.log")
    }
    /// `tls/ca-bundle.pem`: the system roots plus the gateway CA, for every client in a
    /// sandbox that replaces its roots (curl, requests, pip, npm, git, cargo).
    pub fn combined_ca_bundle(&self) -> PathBuf {
        self.root.join("tls").join("ca-bundle.pem")
    }
    /// `run/` (0700): the control sockets of running sandboxes.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    /// `run/<name>.sock`: the control socket of sandbox `name`'s init, while it runs.
    pub fn sandbox_control(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.sock"))
    }
    /// `sandboxes/<name>/home`: the sandbox's persistent `$HOME`.
    pub fn sandbox_home(&self, name: &str) -> PathBuf {
        self.sandbox_dir(name).join("home")
    }
    /// `sandboxes/`.
    pub fn sandboxes_dir(&self) -> PathBuf {
        self.root.join("sandboxes")
    }
    /// `sandboxes/<name>/`.
    pub fn sandbox_dir(&self, name: &str) -> PathBuf {
        self.sandboxes_dir().join(name)
    }
    /// `sandboxes/<name>/sandbox.json`: non-secret description written by the daemon.
    pub fn sandbox_record(&self, name: &str) -> PathBuf {
        self.sandbox_dir(name).join(RECORD_FILE)
    }
    /// `sandboxes/<name>/gateway-token` (0600): the sandbox token.
    pub fn sandbox_token(&self, name: &str) -> PathBuf {
        self.sandbox_dir(name).join(TOKEN_FILE)
    }
    /// `sandboxes/<name>/env` (0600): the `connect` environment as shell exports.
    pub fn sandbox_env_file(&self, name: &str) -> PathBuf {
        self.sandbox_dir(name).join(ENV_FILE)
    }
    /// `sandboxes/<name>/openclaw`: `OPENCLAW_STATE_DIR` inside the sandbox.
    pub fn sandbox_openclaw_dir(&self, name: &str) -> PathBuf {
        self.sandbox_dir(name).join(OPENCLAW_DIR)
    }

    /// Creates the directory tree (mode 0700 for the root).
    pub fn ensure(&self) -> CliResult<()> {
        use std::os::unix::fs::PermissionsExt;
        for d in [self.root.clone(), self.logs_dir(), self.sandboxes_dir()] {
            std::fs::create_dir_all(&d).map_err(|e| CliError::io(d.display(), &e))?;
        }
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| CliError::io(self.root.display(), &e))?;
        Ok(())
    }

    /// `--state-dir DIR` as it should appear in suggested commands (empty for the default).
    pub fn flag(&self) -> String {
        let default = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".sandgate"));
        if default.as_deref() == Some(self.root.as_path()) {
            String::new()
        } else {
            format!(
                " --state-dir {}",
                shell_quote(&self.root.display().to_string())
            )
        }
    }

    /// A `sandgate …` command line to suggest, carrying `--state-dir` when it is not the default.
    pub fn cmd(&self, rest: &str) -> String {
        format!("sandgate{} {rest}", self.flag())
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// In a sandbox's directory (the gateway's, see `Gateway::with_sandbox_dir`): `sandbox.json`.
pub const RECORD_FILE: &str = "sandbox.json";
/// … `gateway-token`.
pub const TOKEN_FILE: &str = "gateway-token";
/// … `env`.
pub const ENV_FILE: &str = "env";
/// … `openclaw/`.
pub const OPENCLAW_DIR: &str = "openclaw";

/// Writes `contents` to `path` atomically (temp file + rename) with `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/a-b"), "/tmp/a-b");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn layout() {
        let s = StateDir::new(PathBuf::from("/s"));
        assert_eq!(
            s.sandbox_record("a"),
            PathBuf::from("/s/sandboxes/a/sandbox.json")
        );
        assert_eq!(s.admin_socket(), PathBuf::from("/s/admin.sock"));
        assert_eq!(s.cmd("list"), "sandgate --state-dir /s list");
    }
}

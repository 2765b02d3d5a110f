//! The filesystem a sandbox session sees: what is hidden, what is mounted where, and the
//! environment paths that match.
//!
//! ```text
//! /                      the host's, read-only
//! /home, /root, /run,    empty (the host's hidden), and the host's $HOME and the state dir
//! /tmp                   private to the sandbox
//! /home/sandbox          $HOME: <state>/sandboxes/<name>/home, persistent, read-write
//! /run/sandgate/         ca-bundle.pem (system roots + gateway CA), gateway-ca.pem
//! /run/sandgate/state/   SANDGATE_STATE_DIR: only sandboxes/<name> (its own token, device, OpenClaw state)
//! <workspace>, --ro, --rw  at their own paths
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use sandgate_sandbox::{Mount, SandboxSpec};

use super::mounts::Visible;
use crate::admin::proto::SandboxView;
use crate::env::EnvPaths;
use crate::error::{CliError, CliResult};
use crate::paths::StateDir;

/// `$HOME` inside every sandbox.
pub const INSIDE_HOME: &str = "/home/sandbox";
const INSIDE_RUN: &str = "/run/sandgate";

/// The environment paths as a sandboxed process sees them.
pub fn inside_paths(name: &str) -> EnvPaths {
    let run = Path::new(INSIDE_RUN);
    let state = run.join("state");
    EnvPaths {
        bundle: run.join("ca-bundle.pem"),
        gateway_ca: run.join("gateway-ca.pem"),
        openclaw_dir: state.join("sandboxes").join(name).join("openclaw"),
        state_dir: state,
    }
}

fn bind(source: PathBuf, target: impl Into<PathBuf>, writable: bool) -> Mount {
    Mount {
        source,
        target: target.into(),
        writable,
    }
}

/// The sandbox spec of `view` with `visible` host paths. Creates the sandbox's home and the
/// 0700 run directory that holds its control socket.
pub fn spec(state: &StateDir, view: &SandboxView, visible: &Visible) -> CliResult<SandboxSpec> {
    let name = &view.name;
    let home = state.sandbox_home(name);
    std::fs::create_dir_all(&home).map_err(|e| CliError::io(home.display(), &e))?;
    let run = state.run_dir();
    std::fs::create_dir_all(&run).map_err(|e| CliError::io(run.display(), &e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700));
    }
    let mut hide: Vec<PathBuf> = vec![
        state.root().to_path_buf(),
        "/run".into(),
        "/home".into(),
        "/root".into(),
    ];
    // The caller's own home, wherever it lives.
    if let Some(h) = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute() && h != Path::new("/"))
        && !hide.iter().any(|x| h.starts_with(x))
    {
        hide.push(h);
    }
    let inside = inside_paths(name);
    let mut mounts = vec![
        bind(home, INSIDE_HOME, true),
        bind(
            state.sandbox_dir(name),
            inside.state_dir.join("sandboxes").join(name),
            true,
        ),
        bind(state.combined_ca_bundle(), inside.bundle, false),
        bind(view.ca_bundle.clone(), inside.gateway_ca, false),
    ];
    if let Some(ws) = &visible.workspace {
        mounts.push(bind(ws.clone(), ws.clone(), true));
    }
    mounts.extend(visible.ro.iter().map(|p| bind(p.clone(), p.clone(), false)));
    mounts.extend(visible.rw.iter().map(|p| bind(p.clone(), p.clone(), true)));
    Ok(SandboxSpec {
        name: name.clone(),
        hide,
        mounts,
        listen: Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, view.port)),
        control: state.sandbox_control(name),
        gateway_port: Some(view.port),
    })
}

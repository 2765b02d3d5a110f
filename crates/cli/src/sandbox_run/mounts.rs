//! What a sandbox session sees of the host besides `/` read-only: the workspace and the extra
//! `--ro`/`--rw` paths, checked before anything is created. Paths are made absolute and
//! resolved (symlinks included), so none can expose the state directory or its neighbours.

use std::path::{Path, PathBuf};

use crate::args::RunArgs;
use crate::error::{CliError, CliResult, ErrorKind};

/// The host paths a session makes visible, each at its own path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visible {
    /// Read-write workspace (the session's working directory).
    pub workspace: Option<PathBuf>,
    /// Extra read-only paths.
    pub ro: Vec<PathBuf>,
    /// Extra read-write paths.
    pub rw: Vec<PathBuf>,
}

fn resolve_path(raw: &Path, cwd: &Path, what: &str) -> CliResult<PathBuf> {
    let abs = if raw.is_absolute() {
        raw.to_path_buf()
    } else {
        cwd.join(raw)
    };
    abs.canonicalize().map_err(|e| {
        CliError::new(
            ErrorKind::InvalidMount,
            format!("{what} {}: {e}", abs.display()),
            "pass an existing directory or file",
        )
    })
}

/// Refuses a path that is `/`, or that contains or lies inside the state directory.
fn check_exposure(path: &Path, state: &Path, what: &str) -> CliResult<()> {
    let refuse = |why: String| {
        CliError::new(
            ErrorKind::InvalidMount,
            format!("{what} {} {why}; nothing was started", path.display()),
            "choose a directory outside the sandgate state directory (and not `/`)",
        )
    };
    if path == Path::new("/") {
        return Err(refuse("is the whole filesystem".into()));
    }
    if state.starts_with(path) {
        return Err(refuse(format!(
            "contains the state directory {}",
            state.display()
        )));
    }
    if path.starts_with(state) {
        return Err(refuse(format!(
            "is inside the state directory {}",
            state.display()
        )));
    }
    Ok(())
}

/// Checks the workspace and the extra mounts of one session.
pub fn resolve(
    args: &RunArgs,
    cwd: &Path,
    home: Option<&Path>,
    state: &Path,
) -> CliResult<Visible> {
    let state = state.canonicalize().unwrap_or_else(|_| state.to_path_buf());
    let workspace = if args.no_workspace {
        None
    } else {
        let explicit = args.workspace.is_some();
        let ws = resolve_path(args.workspace.as_deref().unwrap_or(cwd), cwd, "workspace")?;
        let is_home = home
            .and_then(|h| h.canonicalize().ok())
            .is_some_and(|h| h == ws);
        match (check_exposure(&ws, &state, "workspace"), is_home) {
            (Err(e), _) if explicit => return Err(e),
            (Ok(()), true) if explicit => {
                return Err(CliError::new(
                    ErrorKind::InvalidMount,
                    format!(
                        "workspace {} is your home directory; nothing was started",
                        ws.display()
                    ),
                    "pass a project directory with --workspace DIR, or --no-workspace",
                ));
            }
            // The current directory is only a default: when it is not a fit, there is none.
            (Err(_), _) | (Ok(()), true) => None,
            (Ok(()), false) => Some(ws),
        }
    };
    let mut visible = Visible {
        workspace,
        ..Visible::default()
    };
    for p in &args.ro {
        let p = resolve_path(p, cwd, "--ro")?;
        check_exposure(&p, &state, "--ro")?;
        visible.ro.push(p);
    }
    for p in &args.rw {
        let p = resolve_path(p, cwd, "--rw")?;
        check_exposure(&p, &state, "--rw")?;
        visible.rw.push(p);
    }
    Ok(visible)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs {
        _t: tempfile::TempDir,
        root: PathBuf,
        state: PathBuf,
        proj: PathBuf,
    }

    fn dirs() -> Option<Dirs> {
        let t = tempfile::tempdir().ok()?;
        let root = t.path().canonicalize().ok()?;
        let state = root.join("state");
        let proj = root.join("proj");
        std::fs::create_dir_all(state.join("sandboxes/other")).ok()?;
        std::fs::create_dir_all(&proj).ok()?;
        Some(Dirs {
            _t: t,
            root,
            state,
            proj,
        })
    }

    fn args(ws: Option<&Path>, ro: &[&Path], rw: &[&Path]) -> RunArgs {
        RunArgs {
            workspace: ws.map(Path::to_path_buf),
            ro: ro.iter().map(|p| p.to_path_buf()).collect(),
            rw: rw.iter().map(|p| p.to_path_buf()).collect(),
            ..RunArgs::default()
        }
    }

    #[test]
    fn the_workspace_defaults_to_the_current_directory_when_it_is_safe() {
        let Some(d) = dirs() else { return };
        let v = resolve(&args(None, &[], &[]), &d.proj, None, &d.state);
        assert_eq!(v.ok().and_then(|v| v.workspace), Some(d.proj.clone()));
        // From inside the state dir or above it, or at home, there is simply no workspace.
        for cwd in [&d.state, &d.root] {
            let v = resolve(&args(None, &[], &[]), cwd, None, &d.state);
            assert_eq!(v.ok().map(|v| v.workspace), Some(None), "{}", cwd.display());
        }
        let v = resolve(&args(None, &[], &[]), &d.proj, Some(&d.proj), &d.state);
        assert_eq!(v.ok().map(|v| v.workspace), Some(None));
    }

    #[test]
    fn exposing_paths_are_refused() {
        let Some(d) = dirs() else { return };
        let other = d.state.join("sandboxes/other");
        let link = d.proj.join("sneaky");
        let _ = std::os::unix::fs::symlink(&d.state, &link);
        for a in [
            args(Some(Path::new("/")), &[], &[]),
            args(Some(&d.root), &[], &[]),
            args(Some(&d.state), &[], &[]),
            args(Some(&d.proj), &[], &[&other]),
            args(Some(&d.proj), &[&d.root], &[]),
            args(Some(&d.proj), &[&link], &[]),
            args(Some(&d.proj), &[Path::new("/")], &[]),
            args(Some(&d.proj), &[Path::new("no/such/dir")], &[]),
        ] {
            let r = resolve(&a, &d.proj, None, &d.state);
            assert!(
                r.as_ref().is_err_and(|e| e.kind == ErrorKind::InvalidMount),
                "{a:?} → {r:?}"
            );
        }
        let r = resolve(
            &args(Some(&d.proj), &[], &[]),
            &d.proj,
            Some(&d.proj),
            &d.state,
        );
        assert!(r.is_err(), "an explicit --workspace at $HOME");
        // Relative paths are taken from the current directory.
        let r = resolve(
            &args(Some(Path::new("proj")), &[Path::new("proj")], &[]),
            &d.root,
            None,
            &d.state,
        );
        assert_eq!(
            r.ok().map(|v| (v.workspace, v.ro)),
            Some((Some(d.proj.clone()), vec![d.proj.clone()]))
        );
    }
}

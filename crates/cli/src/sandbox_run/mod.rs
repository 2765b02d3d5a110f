//! `sandgate <name> connect|exec|stop`: sessions inside the sandbox (`sandgate-sandbox`), or,
//! with `--isolation none`, a host process with the sandbox environment.
//!
//! A sandbox is one environment: the first session starts its init (namespaces, filesystem
//! view, a listener bound inside its network), the daemon is asked to serve that listener, and
//! every later session joins the same init. Its processes live until the last session ends,
//! or until `stop` for `exec --detach` services.

pub mod layout;
pub mod mounts;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use sandgate_sandbox::{
    HelperCommand, IsolationMode, IsolationReport, SessionCommand, SessionStdio,
};

use crate::admin::client;
use crate::admin::proto::{Request, SandboxView};
use crate::admin::reply::{Attached, Detached};
use crate::args::{Isolation, RunArgs};
use crate::env;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;
use crate::{gateway_cmd, policy_cmd, ui};

/// What to run in a session.
#[derive(Debug, Clone)]
pub enum What {
    /// `$SHELL` (or `/bin/sh`), interactive.
    Shell,
    /// One command.
    Command(Vec<String>),
}

fn blocking_err(e: tokio::task::JoinError) -> CliError {
    CliError::internal(e.to_string())
}

fn sandbox_err(e: sandgate_sandbox::SandboxError) -> CliError {
    CliError::new(
        ErrorKind::SandboxFailed,
        e.to_string(),
        "run again with `--isolation none` to bypass the sandbox (no isolation)",
    )
}

/// Runs one session of sandbox `name`; returns its exit code.
pub async fn run(
    state: &StateDir,
    name: &str,
    run: &RunArgs,
    what: What,
    detach: bool,
) -> CliResult<u8> {
    let view = env::read_record(state, name).ok_or_else(|| env::unknown_sandbox(state, name))?;
    let token = env::read_token(state, name).ok_or_else(|| {
        CliError::new(
            ErrorKind::MissingToken,
            format!("the token of sandbox `{name}` is missing"),
            format!(
                "start the gateway (`{}`); it rewrites the sandbox files",
                state.cmd("gateway start")
            ),
        )
    })?;
    if gateway_cmd::healthy(state).await.is_none() {
        eprintln!(
            "{}",
            ui::warn(&format!(
                "warning: the gateway is not running; start it with `{}`",
                state.cmd("gateway start")
            ))
        );
    }
    let setting = run.isolation.or(view.isolation).unwrap_or(Isolation::Auto);
    let report = sandgate_sandbox::probe();
    let started = crate::pidfile::now_ms();
    let code = match decide(setting, &report)? {
        None => {
            eprintln!(
                "{}",
                ui::warn(&format!(
                    "warning: `{name}` runs WITHOUT isolation (--isolation none): it can read your files and reach any host"
                ))
            );
            if detach {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    "--detach needs a sandbox",
                    "drop --isolation none",
                ));
            }
            host(state, &view, &token, what)?
        }
        Some(report) => {
            if matches!(what, What::Shell) || run.verbose {
                eprintln!("Isolation: {}", describe(&report));
            }
            for w in &report.warnings {
                eprintln!("{}", ui::warn(&format!("warning: {w}")));
            }
            sandboxed(state, &view, &token, run, what, detach, report.mode).await?
        }
    };
    if let Some(d) = policy_cmd::session_denials(state, name, started).await {
        eprintln!("{}", ui::warn(&policy_cmd::summary(state, name, &d)));
    }
    Ok(code)
}

/// `None`: run on the host; `Some`: sandbox, with what it will achieve.
fn decide(setting: Isolation, report: &IsolationReport) -> CliResult<Option<IsolationReport>> {
    match (setting, report.mode) {
        (Isolation::None, _) => Ok(None),
        (_, IsolationMode::Full) => Ok(Some(report.clone())),
        (Isolation::Require, _) => Err(CliError::new(
            ErrorKind::IsolationUnavailable,
            format!(
                "full isolation is not available here (best: {}): {}",
                describe(report),
                report.warnings.join("; ")
            ),
            "fix the cause above, or choose `--isolation auto` (best effort) or `--isolation none`",
        )),
        (Isolation::Auto, IsolationMode::Landlock) => Ok(Some(report.clone())),
        (Isolation::Auto, IsolationMode::None) => {
            eprintln!(
                "{}",
                ui::warn(&format!(
                    "warning: no isolation is possible here: {}",
                    report.warnings.join("; ")
                ))
            );
            Ok(None)
        }
    }
}

/// `full (user, net, mount, pid, ipc, uts; landlock ABI 7; seccomp)`.
pub fn describe(r: &IsolationReport) -> String {
    let mode = match r.mode {
        IsolationMode::Full => "full",
        IsolationMode::Landlock => "landlock (degraded: no namespaces)",
        IsolationMode::None => "none",
    };
    let mut parts = Vec::new();
    if !r.namespaces.is_empty() {
        parts.push(r.namespaces.join(", "));
    }
    if let Some(abi) = r.landlock_abi {
        parts.push(format!("landlock ABI {abi}"));
    }
    if r.seccomp {
        parts.push("seccomp".into());
    }
    format!("{mode} ({})", parts.join("; "))
}

fn argv_of(what: &What) -> Vec<String> {
    match what {
        What::Shell => vec![
            std::env::var("SHELL")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "/bin/sh".into()),
        ],
        What::Command(argv) => argv.clone(),
    }
}

/// `--isolation none`: a host process with the sandbox environment.
fn host(state: &StateDir, view: &SandboxView, token: &str, what: What) -> CliResult<u8> {
    let argv = argv_of(&what);
    let Some((program, rest)) = argv.split_first() else {
        return Err(CliError::new(
            ErrorKind::Usage,
            "no command given",
            "pass one after `--`, e.g. `exec -- env`",
        ));
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest).env_clear();
    cmd.envs(env::host_allowlisted(std::env::vars()));
    cmd.envs(env::sandbox_env(
        &env::EnvPaths::host(state, view),
        view,
        token,
    ));
    let status = cmd.status().map_err(|e| {
        CliError::new(
            ErrorKind::ExecFailed,
            format!("cannot run `{program}`: {e}"),
            "check that the command exists and is executable",
        )
    })?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from((128 + sig) & 0xff).unwrap_or(1),
        _ => 1,
    }
}

async fn sandboxed(
    state: &StateDir,
    view: &SandboxView,
    token: &str,
    run: &RunArgs,
    what: What,
    detach: bool,
    mode: IsolationMode,
) -> CliResult<u8> {
    let name = view.name.clone();
    let cwd = std::env::current_dir().map_err(|e| CliError::io("current directory", &e))?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let visible = mounts::resolve(run, &cwd, home.as_deref(), state.root())?;
    let spec = layout::spec(state, view, &visible)?;
    // With namespaces the sandbox has its own view; in Landlock mode it sees host paths, of
    // which only the granted ones are reachable.
    let (home_inside, paths) = match mode {
        IsolationMode::Full => (
            PathBuf::from(layout::INSIDE_HOME),
            layout::inside_paths(&name),
        ),
        _ => (state.sandbox_home(&name), env::EnvPaths::host(state, view)),
    };
    let mut vars = env::host_allowlisted(std::env::vars());
    vars.retain(|(k, _)| k != "HOME");
    vars.push(("HOME".into(), home_inside.display().to_string()));
    vars.extend(env::sandbox_env(&paths, view, token));
    let pty = matches!(what, What::Shell)
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let stdio = if detach {
        detached_stdio(state, &name)?
    } else if pty {
        let (rows, cols) = terminal_size();
        SessionStdio::Pty { rows, cols }
    } else {
        SessionStdio::Inherit
    };
    if matches!(what, What::Shell) {
        eprintln!("Connected to sandbox `{name}`. Type `exit` to leave.");
        eprintln!("  Try: sandgate agent --agent main -m \"hello\"");
    }
    let cmd = SessionCommand {
        argv: argv_of(&what).into_iter().map(OsString::from).collect(),
        env: vars
            .into_iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect(),
        cwd: visible.workspace.clone().unwrap_or(home_inside),
        stdio,
        detach,
    };
    let session = start_session(state, &name, spec, cmd).await?;
    let code =
        tokio::task::spawn_blocking(move || -> Result<i32, sandgate_sandbox::SandboxError> {
            if detach {
                println!(
                    "Started in sandbox (pid {} inside); stop it with `sandgate <name> stop`.",
                    session.pid()
                );
                return Ok(0);
            }
            if pty {
                return sandgate_sandbox::relay_pty(&session)
                    .map_err(sandgate_sandbox::SandboxError::from);
            }
            session.wait().map(|s| s.exit_code())
        })
        .await
        .map_err(blocking_err)?
        .map_err(sandbox_err)?;
    Ok(u8::try_from(code & 0xff).unwrap_or(1))
}

/// Starts (or joins) the sandbox, has the daemon serve its listener, and starts the session.
/// A sandbox whose last session ended between the join and the session start is started again.
async fn start_session(
    state: &StateDir,
    name: &str,
    spec: sandgate_sandbox::SandboxSpec,
    cmd: SessionCommand,
) -> CliResult<sandgate_sandbox::Session> {
    let cmd = std::sync::Arc::new(cmd);
    let lock_path = state.run_dir().join(format!("{name}.lock"));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (spec_c, lock_path) = (spec.clone(), lock_path.clone());
        // Sessions starting at once serialise on the sandbox's lock, so exactly one of them
        // starts the init and has the daemon serve its listener before any other joins: a
        // joiner attaching first would have its listener replaced under its first connection.
        let locked = tokio::task::spawn_blocking(move || {
            let lock = std::fs::File::create(&lock_path)?;
            lock.lock()?;
            sandgate_sandbox::ensure_running(&spec_c, &HelperCommand::default())
                .map(|running| (lock, running))
        })
        .await
        .map_err(blocking_err)?;
        let (lock, running) = match locked {
            // Joined an init that was just exiting (its last session ended): start it again.
            Err(e) if attempt < 6 && init_went_away(&e) => {
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                continue;
            }
            other => other.map_err(sandbox_err)?,
        };
        let attach = Request::AttachSandbox {
            name: name.to_owned(),
            replace: running.created,
        };
        // Without a network namespace (Landlock mode) the sandbox reaches the host port.
        let in_netns = running.report.mode == IsolationMode::Full;
        if in_netns && let Err(e) = client::call::<Attached>(state, &attach).await {
            eprintln!(
                "{}",
                ui::warn(&format!(
                    "warning: the gateway does not serve this sandbox yet ({}); start it with `{}`",
                    e.message,
                    state.cmd("gateway start")
                ))
            );
        }
        drop(lock);
        let (control, c) = (spec.control.clone(), cmd.clone());
        match tokio::task::spawn_blocking(move || sandgate_sandbox::spawn_session(&control, &c))
            .await
            .map_err(blocking_err)?
        {
            // The sandbox's last session ended between the join and this start: its init is
            // gone or going. Start (or join) it again.
            Err(e) if attempt < 6 && init_went_away(&e) => {
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
            }
            other => return other.map_err(sandbox_err),
        }
    }
}

fn init_went_away(e: &sandgate_sandbox::SandboxError) -> bool {
    use std::io::ErrorKind::{
        BrokenPipe, ConnectionRefused, ConnectionReset, NotFound, UnexpectedEof,
    };
    match e {
        sandgate_sandbox::SandboxError::NotRunning { .. } => true,
        sandgate_sandbox::SandboxError::Io(io) => {
            matches!(
                io.kind(),
                BrokenPipe | ConnectionRefused | ConnectionReset | NotFound | UnexpectedEof
            )
        }
        _ => false,
    }
}

/// A detached service must not hold the caller's terminal or pipes: stdin is `/dev/null`,
/// stdout and stderr append to `<state>/logs/<name>-detached.log`.
fn detached_stdio(state: &StateDir, name: &str) -> CliResult<SessionStdio> {
    let log = state.logs_dir().join(format!("{name}-detached.log"));
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| CliError::io(log.display(), &e))
    };
    let null = std::fs::File::open("/dev/null").map_err(|e| CliError::io("/dev/null", &e))?;
    eprintln!("Output of the detached command: {}", log.display());
    Ok(SessionStdio::Fds {
        stdin: null.into(),
        stdout: open()?.into(),
        stderr: open()?.into(),
    })
}

fn terminal_size() -> (u16, u16) {
    match rustix::termios::tcgetwinsize(std::io::stdout()) {
        Ok(ws) if ws.ws_row > 0 && ws.ws_col > 0 => (ws.ws_row, ws.ws_col),
        _ => (24, 80),
    }
}

/// `sandgate <name> stop`: ends every process of the sandbox and its init.
pub async fn stop(state: &StateDir, name: &str, json: bool) -> CliResult<u8> {
    env::read_record(state, name).ok_or_else(|| env::unknown_sandbox(state, name))?;
    let control = state.sandbox_control(name);
    let stopped = match tokio::task::spawn_blocking(move || sandgate_sandbox::stop(&control))
        .await
        .map_err(blocking_err)?
    {
        Ok(()) => true,
        Err(sandgate_sandbox::SandboxError::NotRunning { .. }) => false,
        Err(e) => return Err(sandbox_err(e)),
    };
    let _ = client::call::<Detached>(
        state,
        &Request::DetachSandbox {
            name: name.to_owned(),
        },
    )
    .await;
    if json {
        ui::print_json(
            &serde_json::json!({"schemaVersion": 1, "sandbox": name, "stopped": stopped}),
        );
    } else if stopped {
        println!("Sandbox `{name}` stopped (its processes ended); it stays onboarded.");
    } else {
        println!("Sandbox `{name}` was not running.");
    }
    Ok(0)
}

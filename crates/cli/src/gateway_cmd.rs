//! `sandgate gateway start|stop|status`, and starting or reusing the gateway for other commands.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::admin::client;
use crate::admin::proto::Health;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;
use crate::{pidfile, sys, ui};

/// How long `start` waits for a new daemon to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits for the daemon to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval while waiting on another process.
const POLL: Duration = Duration::from_millis(50);

/// What `ensure_running` did.
#[derive(Debug)]
pub enum Started {
    /// A healthy gateway was already running.
    Reused(Health),
    /// A new daemon was started (the child handle lets a long-lived caller reap it).
    Spawned(Health, Option<Child>),
}

impl Started {
    /// The gateway's health.
    pub fn health(&self) -> &Health {
        match self {
            Started::Reused(h) | Started::Spawned(h, _) => h,
        }
    }
}

/// A healthy gateway: answers health on the admin socket and its pid is alive.
pub async fn healthy(state: &StateDir) -> Option<Health> {
    client::health(state)
        .await
        .filter(|h| sys::pid_alive(h.pid))
}

fn is_sandgated(pid: u32) -> bool {
    sys::pid_alive(pid) && sys::process_name(pid).is_some_and(|n| n.starts_with("sandgated"))
}

/// Reuses the healthy gateway or starts one. `say` receives progress lines.
pub async fn ensure_running(state: &StateDir, say: &mut dyn FnMut(&str)) -> CliResult<Started> {
    state.ensure()?;
    if let Some(h) = healthy(state).await {
        return Ok(Started::Reused(h));
    }
    // Serialise concurrent starters on this state directory.
    let lock_path = state.start_lock();
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| CliError::io(lock_path.display(), &e))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| CliError::new(ErrorKind::InternalError, e.to_string(), "retry"))?
        .map_err(|e| CliError::io(lock_path.display(), &e))?;
    let result = start_locked(state, say).await;
    drop(lock);
    result
}

async fn start_locked(state: &StateDir, say: &mut dyn FnMut(&str)) -> CliResult<Started> {
    if let Some(h) = healthy(state).await {
        return Ok(Started::Reused(h));
    }
    if let Some(pid) = pidfile::read_pid(state) {
        if is_sandgated(pid) {
            // Starting up, or hung: give it the start-up window to answer.
            if let Some(h) = wait_for_health(state, None, pid).await? {
                return Ok(Started::Reused(h));
            }
            return Err(CliError::new(
                ErrorKind::GatewayUnhealthy,
                format!(
                    "the gateway (pid {pid}) is running but does not answer on its admin socket"
                ),
                format!(
                    "see {}; then stop it with `{}` and start it again",
                    state.log_file().display(),
                    state.cmd("gateway stop")
                ),
            ));
        }
        say(&format!(
            "Removing stale gateway pid file (pid {pid} is not running)."
        ));
        pidfile::remove_runtime_files(state);
    }
    let exe = daemon_exe()?;
    let log = File::options()
        .create(true)
        .append(true)
        .open(state.log_file())
        .map_err(|e| CliError::io(state.log_file().display(), &e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| CliError::io(state.log_file().display(), &e))?;
    let mut child = Command::new(&exe)
        .arg("--state-dir")
        .arg(state.root())
        .env_clear()
        .envs(daemon_env(std::env::vars()))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .process_group(0)
        .spawn()
        .map_err(|e| {
            CliError::new(
                ErrorKind::SpawnFailed,
                format!("cannot start {}: {e}", exe.display()),
                "reinstall sandgate so that `sandgated` sits next to `sandgate`",
            )
        })?;
    let pid = child.id();
    match wait_for_health(state, Some(&mut child), pid).await? {
        Some(h) => Ok(Started::Spawned(h, Some(child))),
        None => {
            let _ = sys::terminate(pid);
            Err(CliError::new(
                ErrorKind::GatewayStartTimeout,
                format!(
                    "the gateway did not become healthy within {}s",
                    START_TIMEOUT.as_secs()
                ),
                format!("see {}", state.log_file().display()),
            ))
        }
    }
}

/// The daemon starts from a scrubbed environment: only these of the caller's variables reach
/// it (provider keys never do; the CLI sends them over the admin socket when onboarding).
const DAEMON_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "SANDGATE_LOG",
    "RUST_BACKTRACE",
    // Upstream providers may sit behind the host's own proxy.
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    sandgate_gateway::egress::resolve::OVERRIDE_ENV,
];

fn daemon_env(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.filter(|(k, _)| DAEMON_ENV.contains(&k.as_str()))
        .collect()
}

/// The `sandgated` binary next to the running executable.
fn daemon_exe() -> CliResult<std::path::PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::io("current executable", &e))?
        .with_file_name("sandgated");
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(CliError::new(
            ErrorKind::DaemonMissing,
            format!("cannot find the daemon at {}", exe.display()),
            "install `sandgated` in the same directory as `sandgate` (cargo install puts both there)",
        ))
    }
}

async fn wait_for_health(
    state: &StateDir,
    mut child: Option<&mut Child>,
    pid: u32,
) -> CliResult<Option<Health>> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(h) = client::health(state).await
            && h.pid == pid
        {
            return Ok(Some(h));
        }
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            let tail = ui::tail(&state.log_file(), 5);
            return Err(CliError::new(
                ErrorKind::GatewayStartFailed,
                format!("sandgated exited during start-up ({status}){tail}"),
                format!("see {} for the full log", state.log_file().display()),
            ));
        }
        if child.is_none() && !sys::pid_alive(pid) {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What `stop` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was running and has exited.
    Stopped(u32),
    /// Nothing was running.
    NotRunning,
    /// A stale pid file was removed.
    Stale(u32),
}

/// Sends SIGTERM and waits for the daemon to exit.
pub async fn stop(state: &StateDir) -> CliResult<Stopped> {
    let Some(pid) = pidfile::read_pid(state) else {
        return Ok(Stopped::NotRunning);
    };
    if !is_sandgated(pid) {
        pidfile::remove_runtime_files(state);
        return Ok(Stopped::Stale(pid));
    }
    sys::terminate(pid).map_err(|e| {
        CliError::new(
            ErrorKind::StopFailed,
            format!("cannot signal the gateway (pid {pid}): {e}"),
            "stop it as the user that started it",
        )
    })?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while sys::pid_alive(pid) {
        if Instant::now() >= deadline {
            return Err(CliError::new(
                ErrorKind::StopTimeout,
                format!(
                    "the gateway (pid {pid}) did not exit within {}s of SIGTERM",
                    STOP_TIMEOUT.as_secs()
                ),
                format!(
                    "see {}; force it with `kill -9 {pid}`",
                    state.log_file().display()
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
    pidfile::remove_runtime_files(state);
    Ok(Stopped::Stopped(pid))
}

/// `sandgate gateway start|stop|status`.
pub async fn run(
    state: &StateDir,
    action: crate::args::GatewayAction,
    json: bool,
) -> CliResult<u8> {
    use crate::args::GatewayAction;
    match action {
        GatewayAction::Start => {
            let started = ensure_running(state, &mut |line| println!("{line}")).await?;
            let h = started.health();
            if json {
                let reused = matches!(started, Started::Reused(_));
                ui::print_json(&serde_json::json!({
                    "schemaVersion": 1, "reused": reused, "gateway": health_json(Some(h)),
                }));
            } else if matches!(started, Started::Reused(_)) {
                println!(
                    "[reuse] Gateway already running (pid {}, id {}). Reusing healthy gateway.",
                    h.pid, h.id
                );
            } else {
                println!("Gateway started (pid {}, id {}).", h.pid, h.id);
                println!("  CA fingerprint: {}", h.ca_fingerprint);
                println!("  Logs: {}", state.log_file().display());
            }
            Ok(0)
        }
        GatewayAction::Stop => {
            let s = stop(state).await?;
            if json {
                ui::print_json(
                    &serde_json::json!({"schemaVersion": 1, "stopped": matches!(s, Stopped::Stopped(_))}),
                );
            } else {
                match s {
                    Stopped::Stopped(pid) => println!("Gateway stopped (pid {pid})."),
                    Stopped::NotRunning => println!("Gateway is not running."),
                    Stopped::Stale(pid) => {
                        println!("Gateway is not running (removed a stale pid file for pid {pid}).")
                    }
                }
            }
            Ok(0)
        }
        GatewayAction::Status => {
            let h = healthy(state).await;
            if json {
                ui::print_json(
                    &serde_json::json!({"schemaVersion": 1, "gateway": health_json(h.as_ref())}),
                );
            } else {
                match &h {
                    Some(h) => {
                        println!(
                            "Gateway: running (pid {}, id {}, up {})",
                            h.pid,
                            h.id,
                            ui::uptime(h.started_at_ms)
                        );
                        println!("  Admin socket: {}", h.admin_socket.display());
                        println!("  CA fingerprint: {}", h.ca_fingerprint);
                        if let Some(a) = &h.metrics_addr {
                            println!("  Metrics: http://{a}/metrics");
                        }
                    }
                    None => {
                        println!("Gateway: down");
                        println!("  Start it with `{}`", state.cmd("gateway start"));
                    }
                }
            }
            Ok(if h.is_some() { 0 } else { 1 })
        }
    }
}

/// The `gateway` object of status JSON.
pub fn health_json(h: Option<&Health>) -> serde_json::Value {
    match h {
        Some(h) => serde_json::json!({
            "running": true,
            "healthy": true,
            "pid": h.pid,
            "id": h.id,
            "caFingerprint": h.ca_fingerprint,
            "caBundle": h.ca_bundle,
            "endpoint": format!("unix:{}", h.admin_socket.display()),
            "startedAtMs": h.started_at_ms,
            "uptimeSeconds": pidfile::now_ms().saturating_sub(h.started_at_ms) / 1000,
            "version": h.version,
            "metricsAddr": h.metrics_addr,
            "metricsUrl": h.metrics_addr.as_ref().map(|a| format!("http://{a}/metrics")),
        }),
        None => serde_json::json!({
            "running": false, "healthy": false, "pid": null, "id": null, "caFingerprint": null,
        }),
    }
}

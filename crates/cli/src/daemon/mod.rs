//! `sandgated`: owns the state directory, runs the gateway, serves the admin socket,
//! and shuts down cleanly on SIGTERM/SIGINT.

mod line;
mod ops;
mod rlimit;
mod server;

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::admin::proto::Health;
use crate::args::DaemonArgs;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::StateDir;
use crate::pidfile::{self, FileId, GatewayFile, Owner};

/// How long admin connections get to finish after a shutdown signal.
const ADMIN_DRAIN: Duration = Duration::from_secs(10);

/// Runs the daemon until SIGTERM/SIGINT.
pub fn run(args: &DaemonArgs) -> CliResult<()> {
    // Same-uid processes (sandboxes included, before they are isolated) must not read this
    // process's memory or `/proc/<pid>/environ`: provider keys pass through it.
    let dumpable =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let state = StateDir::resolve(args.state_dir.as_deref())?;
    state.ensure()?;
    let lock_path = state.daemon_lock();
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| CliError::io(lock_path.display(), &e))?;
    if lock.try_lock().is_err() {
        let pid = pidfile::read_pid(&state)
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        return Err(CliError::new(
            ErrorKind::AlreadyRunning,
            format!(
                "another sandgated already serves {}{pid}",
                state.root().display()
            ),
            format!("use it, or stop it with `{}`", state.cmd("gateway stop")),
        ));
    }
    let _log_guard = init_logging(&state)?;
    if let Err(e) = dumpable {
        tracing::warn!(error = %e, "cannot clear the dumpable flag");
    }
    let nofile = rlimit::raise_nofile();
    tracing::info!(before = ?nofile.before, after = ?nofile.after, "open-files limit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("tokio runtime", &e))?;
    let result = runtime.block_on(serve(state.clone(), args.metrics_addr));
    if let Err(e) = &result {
        tracing::error!(kind = %e.kind, error = %e.message, "sandgated failed");
    }
    drop(lock);
    result
}

fn init_logging(state: &StateDir) -> CliResult<tracing_appender::non_blocking::WorkerGuard> {
    let appender = tracing_appender::rolling::never(state.logs_dir(), "gateway.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANDGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // One JSON object per line, fields at the top level: `sandgate <name> logs` filters by the
    // `sandbox` field and renders them (or passes them through with `--json`).
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(guard)
}

async fn serve(state: StateDir, metrics_addr: std::net::SocketAddr) -> CliResult<()> {
    let pid = std::process::id();
    let started_at_ms = pidfile::now_ms();
    // Replaced by the gateway library's persistent id once the gateway is open.
    let id = String::new();
    // Signals are installed first so that a stop during start-up is not lost.
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| CliError::io("SIGTERM handler", &e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| CliError::io("SIGINT handler", &e))?;
    // We hold the daemon lock: whatever runtime files exist are stale.
    pidfile::remove_runtime_files(&state);
    pidfile::write(
        &state,
        &GatewayFile {
            id: id.clone(),
            pid,
            started_at_ms,
            metrics_addr: None,
        },
    )
    .map_err(|e| CliError::io(state.pid_file().display(), &e))?;
    let metrics_tcp = tokio::net::TcpListener::bind(metrics_addr)
        .await
        .map_err(|e| {
            CliError::new(
                ErrorKind::PortInUse,
                format!("cannot serve metrics on {metrics_addr}: {e}"),
                "choose another address with --metrics-addr or SANDGATE_METRICS_ADDR",
            )
        });
    let metrics_tcp = match metrics_tcp {
        Ok(l) => l,
        Err(e) => {
            pidfile::remove_runtime_files(&state);
            return Err(e);
        }
    };
    let metrics_at = metrics_tcp.local_addr().ok().map(|a| a.to_string());
    tracing::info!(pid, state_dir = %state.root().display(), "sandgated starting");

    let health = Health {
        id,
        pid,
        started_at_ms,
        version: env!("CARGO_PKG_VERSION").to_string(),
        ca_fingerprint: String::new(),
        ca_bundle: Default::default(),
        admin_socket: state.admin_socket(),
        metrics_addr: metrics_at.clone(),
    };
    let mut owner = Owner {
        pid,
        started_at_ms,
        socket: None,
    };
    let daemon = match ops::Daemon::open(state.clone(), health).await {
        Ok(d) => Arc::new(d),
        Err(e) => {
            pidfile::remove_own_runtime_files(&state, &owner);
            return Err(e);
        }
    };
    // The gateway id is the gateway library's persistent id.
    let gw_file = GatewayFile {
        id: daemon.health().id.clone(),
        pid,
        started_at_ms,
        metrics_addr: metrics_at.clone(),
    };
    if let Err(e) = pidfile::write(&state, &gw_file) {
        tracing::warn!(error = %e, "cannot rewrite gateway.json");
    }
    let (metrics_stop, mut metrics_stopped) = tokio::sync::watch::channel(false);
    let metrics_app = sandgate_gateway::metrics::router(daemon.metrics());
    let metrics_task = tokio::spawn(async move {
        let stopped = async move {
            let _ = metrics_stopped.changed().await;
        };
        if let Err(e) = axum::serve(metrics_tcp, metrics_app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    });
    tracing::info!(addr = ?metrics_at, "metrics served at /metrics");
    let sock = state.admin_socket();
    let listener = UnixListener::bind(&sock).map_err(|e| CliError::io(sock.display(), &e))?;
    // Recorded so that at stop only this socket is removed, never a newer daemon's.
    owner.socket = FileId::of(&sock).ok();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| CliError::io(sock.display(), &e))?;
    tracing::info!(
        id = %daemon.health().id,
        admin = %sock.display(),
        ca = %daemon.health().ca_fingerprint,
        "sandgated ready"
    );

    let shutdown = async {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
    };
    let mut tasks = server::serve(listener, Arc::clone(&daemon), shutdown).await;
    // Stop taking admin requests; let the ones in flight finish.
    if let Some(id) = owner.socket {
        pidfile::remove_if_same(&sock, id);
    }
    let drained = tokio::time::timeout(ADMIN_DRAIN, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("admin requests still running after the drain period; aborting them");
        tasks.shutdown().await;
    }
    let _ = metrics_stop.send(true);
    let _ = metrics_task.await;
    match Arc::try_unwrap(daemon) {
        Ok(d) => d.shutdown().await,
        Err(_) => tracing::warn!("gateway still referenced at shutdown; listeners close on exit"),
    }
    let removed = pidfile::remove_own_runtime_files(&state, &owner);
    tracing::info!(removed, "sandgated stopped");
    Ok(())
}

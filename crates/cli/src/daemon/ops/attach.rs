//! Serving a sandbox's in-namespace listener: fetched from its init's control socket (the
//! init keeps it, so after a daemon restart the daemon fetches it again).

use std::net::SocketAddr;

use super::{Daemon, gateway_error};
use crate::error::{CliError, CliResult, ErrorKind};

impl Daemon {
    /// Takes the listener of sandbox `name`'s running init and serves it.
    pub(super) async fn attach(&self, name: &str) -> CliResult<SocketAddr> {
        let control = self.state.sandbox_control(name);
        let listener =
            tokio::task::spawn_blocking(move || sandgate_sandbox::take_listener(&control))
                .await
                .map_err(|e| CliError::internal(e.to_string()))?
                .map_err(|e| {
                    CliError::new(
                        ErrorKind::SandboxNotRunning,
                        format!("cannot take the listener of sandbox `{name}`: {e}"),
                        self.state.cmd(&format!("{name} connect")),
                    )
                })?;
        self.gw
            .attach_listener(name, listener)
            .await
            .map_err(|e| gateway_error("cannot serve the sandbox listener", &e, &self.state))
    }

    /// At start: serve the listeners of sandboxes whose init is still running (a daemon
    /// restart never breaks a sandbox's sessions).
    pub(super) async fn reattach_running(&self) {
        for info in self.gw.sandboxes().await {
            if !self.state.sandbox_control(&info.name).exists() {
                continue;
            }
            match self.attach(&info.name).await {
                Ok(addr) => {
                    tracing::info!(sandbox = %info.name, %addr, "re-attached running sandbox")
                }
                Err(e) => {
                    tracing::info!(sandbox = %info.name, error = %e.message, "sandbox not running; nothing to re-attach")
                }
            }
        }
    }
}

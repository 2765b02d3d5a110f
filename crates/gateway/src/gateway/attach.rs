//! Serving a listener that was bound inside a sandbox's network namespace (handed over by the
//! sandbox's init), beside the sandbox's host-side port. A sandbox has at most one: attaching a
//! new one (a new sandbox instance, or the same one after a daemon restart) replaces the old.

use std::net::SocketAddr;

use tokio::sync::watch;

use super::{Gateway, GatewayError, io};
use crate::listener;

impl Gateway {
    /// Serves `tcp` (bound inside sandbox `name`'s network namespace) with the sandbox's own
    /// gateway, proxy and `/v1`; returns the address as the sandbox sees it.
    pub async fn attach_listener(
        &self,
        name: &str,
        tcp: std::net::TcpListener,
    ) -> Result<SocketAddr, GatewayError> {
        tcp.set_nonblocking(true)
            .map_err(io("prepare the sandbox listener"))?;
        let tcp =
            tokio::net::TcpListener::from_std(tcp).map_err(io("adopt the sandbox listener"))?;
        let old = {
            let mut sandboxes = self.sandboxes.lock().await;
            let running = sandboxes
                .get_mut(name)
                .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))?;
            let (stop, _) = watch::channel(false);
            let handle = listener::spawn_counted(
                tcp,
                running.app.clone(),
                stop,
                self.opts.limits.clone(),
                self.port_cap(name),
            )
            .map_err(io("serve the sandbox listener"))?;
            tracing::info!(sandbox = %name, addr = %handle.local_addr(), "sandbox listener attached (inside its network namespace)");
            let addr = handle.local_addr();
            (running.inside.replace(handle), addr)
        };
        if let Some(previous) = old.0 {
            previous.shutdown().await;
        }
        Ok(old.1)
    }

    /// Stops serving sandbox `name`'s in-sandbox listener, if one is attached.
    pub async fn detach_listener(&self, name: &str) -> Result<bool, GatewayError> {
        let old = self
            .sandboxes
            .lock()
            .await
            .get_mut(name)
            .ok_or_else(|| GatewayError::UnknownSandbox(name.into()))?
            .inside
            .take();
        let had = old.is_some();
        if let Some(h) = old {
            h.shutdown().await;
            tracing::info!(sandbox = %name, "sandbox listener detached");
        }
        Ok(had)
    }
}

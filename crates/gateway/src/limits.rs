//! Resource limits of the sandbox listeners and the per-sandbox connection cap.
//!
//! The defaults follow what nginx and Node do for hostile or forgotten clients: headers
//! must arrive promptly, idle keep-alive connections are closed, a request body that stops
//! making progress is answered `408`, and one sandbox can hold only so many sockets, so
//! that it can never exhaust the daemon's file descriptors for the other sandboxes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Default [`Limits::header_read`]: 30 s (hyper's own default; nginx and Node use 60 s).
pub const DEFAULT_HEADER_READ: Duration = Duration::from_secs(30);
/// Default [`Limits::keep_alive_idle`]: 15 s (Node uses 5 s, nginx 75 s).
pub const DEFAULT_KEEP_ALIVE_IDLE: Duration = Duration::from_secs(15);
/// Default [`Limits::body_progress`]: 30 s (nginx's `client_body_timeout` is 60 s).
pub const DEFAULT_BODY_PROGRESS: Duration = Duration::from_secs(30);
/// Default [`Limits::max_connections_per_sandbox`].
pub const DEFAULT_MAX_CONNECTIONS_PER_SANDBOX: usize = 256;

/// Limits applied to every sandbox port of a gateway (see the crate README for the table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request's head (request line and headers, including WebSocket upgrades and CONNECT)
    /// must be complete this long after the connection opens or the previous response ends;
    /// otherwise the connection is closed. This bounds silent and slowloris connections.
    pub header_read: Duration,
    /// An HTTP connection with no bytes in either direction for this long is closed between
    /// requests (an exchange in flight is finished first). Upgraded sessions are exempt. hyper
    /// also bounds the wait for the next request by `header_read`, so the effective idle limit
    /// is the smaller of the two.
    pub keep_alive_idle: Duration,
    /// A request body (e.g. a `/v1` chunked upload) that delivers no bytes for this long is
    /// abandoned: the client gets `408 Request Timeout` and the connection is closed.
    pub body_progress: Duration,
    /// Concurrent TCP connections one sandbox port may hold, upgraded sessions and tunnels
    /// included. Connections beyond it are answered `503` and closed at once.
    pub max_connections_per_sandbox: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: DEFAULT_HEADER_READ,
            keep_alive_idle: DEFAULT_KEEP_ALIVE_IDLE,
            body_progress: DEFAULT_BODY_PROGRESS,
            max_connections_per_sandbox: DEFAULT_MAX_CONNECTIONS_PER_SANDBOX,
        }
    }
}

impl Limits {
    /// Lowers the per-sandbox cap so that one sandbox's port can hold at most a quarter of
    /// `nofile` descriptors (the process's open-files limit): a flooded sandbox then reaches
    /// its cap long before the daemon runs out of descriptors for the other sandboxes, the
    /// admin socket and the state database. `None` (unlimited) changes nothing.
    pub fn within_fd_budget(mut self, nofile: Option<u64>) -> Self {
        if let Some(n) = nofile {
            let quarter = usize::try_from(n / 4).unwrap_or(usize::MAX).max(8);
            self.max_connections_per_sandbox = self.max_connections_per_sandbox.min(quarter);
        }
        self
    }
}

/// Counts one port's open connections against its cap.
#[derive(Debug, Clone)]
pub struct ConnCap {
    active: Arc<AtomicUsize>,
    max: usize,
    gauge: Option<prometheus::IntGauge>,
}

impl ConnCap {
    /// A cap of `max` concurrent connections.
    pub fn new(max: usize) -> Self {
        ConnCap {
            active: Arc::new(AtomicUsize::new(0)),
            max,
            gauge: None,
        }
    }

    /// Also counts held slots on `gauge` (the sandbox's open-connections metric).
    pub fn with_gauge(mut self, gauge: Option<prometheus::IntGauge>) -> Self {
        self.gauge = gauge;
        self
    }

    /// Takes a slot, or `None` when the cap is reached.
    pub fn try_acquire(&self) -> Option<ConnSlot> {
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| {
                if let Some(g) = &self.gauge {
                    g.inc();
                }
                ConnSlot {
                    active: Arc::clone(&self.active),
                    gauge: self.gauge.clone(),
                }
            })
    }

    /// Connections currently holding a slot.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// One connection's slot; dropping it (on every exit path) frees the slot.
#[derive(Debug)]
pub struct ConnSlot {
    active: Arc<AtomicUsize>,
    gauge: Option<prometheus::IntGauge>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_descriptor_budget() {
        let d = Limits::default();
        assert_eq!(
            d.clone().within_fd_budget(None).max_connections_per_sandbox,
            256
        );
        assert_eq!(
            d.clone()
                .within_fd_budget(Some(20_000))
                .max_connections_per_sandbox,
            256
        );
        assert_eq!(
            d.clone()
                .within_fd_budget(Some(256))
                .max_connections_per_sandbox,
            64
        );
        assert_eq!(d.within_fd_budget(Some(4)).max_connections_per_sandbox, 8);
    }

    #[test]
    fn cap_refuses_beyond_max_and_frees_on_drop() {
        let cap = ConnCap::new(2);
        let a = cap.try_acquire();
        let b = cap.try_acquire();
        assert!(a.is_some() && b.is_some());
        assert!(cap.try_acquire().is_none());
        assert_eq!(cap.active(), 2);
        drop(a);
        assert_eq!(cap.active(), 1);
        let c = cap.try_acquire();
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(cap.active(), 0);
    }
}

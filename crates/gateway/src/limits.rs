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
/// Default [`Limits::max_connections_total`].
pub const DEFAULT_MAX_CONNECTIONS_TOTAL: usize = 8192;

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
    /// Concurrent TCP connections all sandbox ports of the gateway may hold together. Beyond
    /// it, connections are answered `503` and closed at once, so sandbox traffic can never take
    /// the descriptors the daemon itself needs (its database, admin socket, state files).
    pub max_connections_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: DEFAULT_HEADER_READ,
            keep_alive_idle: DEFAULT_KEEP_ALIVE_IDLE,
            body_progress: DEFAULT_BODY_PROGRESS,
            max_connections_per_sandbox: DEFAULT_MAX_CONNECTIONS_PER_SANDBOX,
            max_connections_total: DEFAULT_MAX_CONNECTIONS_TOTAL,
        }
    }
}

impl Limits {
    /// Fits the caps to `nofile` descriptors (the process's open-files limit): a quarter (at
    /// least 16) stays with the daemon itself; sandbox connections together get half of the
    /// rest (each may need a second descriptor upstream: a tunnel, an inference request); one
    /// sandbox's port gets at most a quarter of the limit and never the whole total, so one
    /// flooded sandbox leaves room for the others. `None` (unlimited) changes nothing.
    pub fn within_fd_budget(mut self, nofile: Option<u64>) -> Self {
        if let Some(n) = nofile {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            let spare = (n / 4).max(16);
            let total = (n.saturating_sub(spare) / 2).max(8);
            self.max_connections_total = self.max_connections_total.min(total);
            let per = (n / 4).min(total * 2 / 3).max(4);
            self.max_connections_per_sandbox = self.max_connections_per_sandbox.min(per);
        }
        self
    }
}

/// Counts one port's open connections against its cap (and, [`ConnCap::within`], against
/// the gateway's total).
#[derive(Debug, Clone)]
pub struct ConnCap {
    active: Arc<AtomicUsize>,
    max: usize,
    gauge: Option<prometheus::IntGauge>,
    total: Option<Box<ConnCap>>,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// This port's own cap.
    Port(usize),
    /// The gateway's total over all ports.
    Total(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Port(max) => write!(
                f,
                "too many connections to this sandbox's port (limit {max})"
            ),
            Full::Total(max) => write!(
                f,
                "too many connections to the gateway (limit {max} over all sandboxes)"
            ),
        }
    }
}

impl ConnCap {
    /// A cap of `max` concurrent connections.
    pub fn new(max: usize) -> Self {
        ConnCap {
            active: Arc::new(AtomicUsize::new(0)),
            max,
            gauge: None,
            total: None,
        }
    }

    /// Also counts this port's connections against `total` (shared by every port).
    pub fn within(mut self, total: &ConnCap) -> Self {
        self.total = Some(Box::new(total.clone()));
        self
    }

    /// Also counts held slots on `gauge` (the sandbox's open-connections metric).
    pub fn with_gauge(mut self, gauge: Option<prometheus::IntGauge>) -> Self {
        self.gauge = gauge;
        self
    }

    /// Takes a slot here and in the total, or says which cap is reached.
    pub fn try_acquire(&self) -> Result<ConnSlot, Full> {
        let total = match &self.total {
            Some(t) => Some(Box::new(t.try_acquire().map_err(|_| Full::Total(t.max))?)),
            None => None,
        };
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map_err(|_| Full::Port(self.max))?;
        if let Some(g) = &self.gauge {
            g.inc();
        }
        Ok(ConnSlot {
            active: Arc::clone(&self.active),
            gauge: self.gauge.clone(),
            _total: total,
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
    _total: Option<Box<ConnSlot>>,
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_caps_fit_the_descriptor_budget() {
        let caps = |n: Option<u64>| {
            let l = Limits::default().within_fd_budget(n);
            (l.max_connections_per_sandbox, l.max_connections_total)
        };
        assert_eq!(caps(None), (256, 8192));
        assert_eq!(caps(Some(20_000)), (256, 7500));
        assert_eq!(caps(Some(256)), (64, 96));
        assert_eq!(caps(Some(64)), (16, 24));
        assert_eq!(caps(Some(4)), (4, 8));
    }

    #[test]
    fn cap_refuses_beyond_max_and_frees_on_drop() {
        let cap = ConnCap::new(2);
        let a = cap.try_acquire();
        let b = cap.try_acquire();
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(cap.try_acquire().err(), Some(Full::Port(2)));
        assert_eq!(cap.active(), 2);
        drop(a);
        assert_eq!(cap.active(), 1);
        let c = cap.try_acquire();
        assert!(c.is_ok());
        drop((b, c));
        assert_eq!(cap.active(), 0);
    }

    #[test]
    fn the_total_is_shared_by_every_port_and_freed_with_the_slot() {
        let total = ConnCap::new(3);
        let (a, b) = (
            ConnCap::new(2).within(&total),
            ConnCap::new(2).within(&total),
        );
        let held: Vec<_> = [&a, &a, &b]
            .iter()
            .map(|c| c.try_acquire().unwrap())
            .collect();
        assert_eq!(b.try_acquire().err(), Some(Full::Total(3)));
        assert_eq!(a.try_acquire().err(), Some(Full::Total(3)));
        assert_eq!((total.active(), a.active(), b.active()), (3, 2, 1));
        drop(held);
        assert_eq!((total.active(), a.active(), b.active()), (0, 0, 0));
        let _one = b.try_acquire().unwrap();
        assert_eq!(total.active(), 1);
    }
}

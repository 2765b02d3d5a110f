//! Moving bytes for an allowed target: connect to a vetted address, then relay both ways
//! until both sides finish or nothing moves for the idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Timeouts of egress connections.
#[derive(Debug, Clone, Copy)]
pub struct TunnelTimeouts {
    /// Connecting to the upstream address.
    pub connect: Duration,
    /// No byte in either direction for this long ends the tunnel.
    pub idle: Duration,
}

impl Default for TunnelTimeouts {
    fn default() -> Self {
        TunnelTimeouts {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(120),
        }
    }
}

/// Connects to the first address that answers within the connect timeout.
pub async fn connect(addrs: &[SocketAddr], timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{addr} did not accept within {}s", timeout.as_secs()),
                );
            }
        }
    }
    Err(last)
}

/// Bytes relayed, and how the tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    /// Sandbox → upstream.
    pub up: u64,
    /// Upstream → sandbox.
    pub down: u64,
    /// True when the idle timeout ended it.
    pub idle_timeout: bool,
}

/// Relays `a` ⇄ `b` until both directions reach EOF (each EOF is passed on as a write
/// shutdown) or no byte moves either way for `idle`.
pub async fn relay<A, B>(a: A, b: B, idle: Duration) -> Relayed
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let up = pump(&mut ar, &mut bw, &last, start, idle);
    let down = pump(&mut br, &mut aw, &last, start, idle);
    let ((up, up_idle), (down, down_idle)) = tokio::join!(up, down);
    Relayed {
        up,
        down,
        idle_timeout: up_idle || down_idle,
    }
}

async fn pump<R, W>(
    r: &mut R,
    w: &mut W,
    last: &AtomicU64,
    start: Instant,
    idle: Duration,
) -> (u64, bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        match tokio::time::timeout(idle, r.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                let _ = w.shutdown().await;
                return (total, false);
            }
            Ok(Ok(n)) => {
                if w.write_all(&buf[..n]).await.is_err() {
                    return (total, false);
                }
                total += n as u64;
                last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                // This direction was quiet for `idle`; the tunnel is idle only if the other was too.
                let quiet_ms = (start.elapsed().as_millis() as u64)
                    .saturating_sub(last.load(Ordering::Relaxed));
                if quiet_ms >= idle.as_millis() as u64 {
                    let _ = w.shutdown().await;
                    return (total, true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn relays_both_ways_and_ends_on_idle() {
        let (a_near, mut a_far) = tokio::io::duplex(1024);
        let (b_near, mut b_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(relay(a_near, b_near, Duration::from_millis(200)));
        a_far.write_all(b"hello").await.ok();
        let mut got = [0u8; 5];
        b_far.read_exact(&mut got).await.ok();
        assert_eq!(&got, b"hello");
        b_far.write_all(b"world!").await.ok();
        let mut got = [0u8; 6];
        a_far.read_exact(&mut got).await.ok();
        assert_eq!(&got, b"world!");
        // Nothing moves: the relay ends by itself and both far ends see EOF.
        let r = task.await.ok();
        assert_eq!(
            r,
            Some(Relayed {
                up: 5,
                down: 6,
                idle_timeout: true
            })
        );
        assert_eq!(a_far.read(&mut got).await.ok(), Some(0));
    }

    #[tokio::test]
    async fn eof_each_way_ends_the_relay() {
        let (a_near, mut a_far) = tokio::io::duplex(1024);
        let (b_near, mut b_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(relay(a_near, b_near, Duration::from_secs(30)));
        a_far.write_all(b"ping").await.ok();
        a_far.shutdown().await.ok();
        let mut v = Vec::new();
        b_far.read_to_end(&mut v).await.ok();
        assert_eq!(v, b"ping");
        b_far.shutdown().await.ok();
        let r = task.await.ok();
        assert_eq!(
            r,
            Some(Relayed {
                up: 4,
                down: 0,
                idle_timeout: false
            })
        );
    }
}

//! Bounded line reads for the admin socket: a line is refused as soon as it exceeds the
//! limit, so a peer that never sends a newline costs at most `max + 1` bytes of memory.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line exceeds the limit (the rest is not read).
    #[error("request line longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// No complete line arrived in time.
    #[error("no request within {0:?}")]
    TimedOut(Duration),
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one line (without its newline) of at most `max` bytes into `buf` within `timeout`.
/// `Ok(false)` at end of stream; a last line without a newline is returned as a line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    timeout: Duration,
) -> Result<bool, LineError> {
    buf.clear();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut bounded = (&mut *reader).take(limit);
    let n = tokio::time::timeout(timeout, bounded.read_until(b'\n', buf))
        .await
        .map_err(|_| LineError::TimedOut(timeout))??;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > max {
        return Err(LineError::TooLong { max });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, BufReader, ReadBuf};

    const SEC: Duration = Duration::from_secs(5);

    /// Yields `left` bytes of `a` (no newline), counting what was consumed.
    struct Endless {
        left: usize,
        consumed: usize,
    }

    impl AsyncRead for Endless {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = buf.remaining().min(self.left);
            buf.put_slice(&vec![b'a'; n]);
            self.left -= n;
            self.consumed += n;
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn sixteen_mib_without_newline_is_refused_after_the_limit() {
        let max = 1 << 20;
        let mut r = BufReader::new(Endless {
            left: 16 << 20,
            consumed: 0,
        });
        let mut buf = Vec::new();
        let err = read_line(&mut r, &mut buf, max, SEC).await.unwrap_err();
        assert!(matches!(err, LineError::TooLong { max: m } if m == max));
        assert_eq!(buf.len(), max + 1);
        assert!(buf.capacity() <= 2 * (max + 1), "{}", buf.capacity());
        let consumed = r.get_ref().consumed;
        assert!(consumed <= max + 1 + 8192, "read {consumed} bytes");
    }

    #[tokio::test]
    async fn lines_up_to_the_limit_pass() {
        let input = b"{\"op\":\"health\"}\nabc\nlast".to_vec();
        let mut r = BufReader::new(&input[..]);
        let mut buf = Vec::new();
        assert!(read_line(&mut r, &mut buf, 15, SEC).await.unwrap());
        assert_eq!(buf, b"{\"op\":\"health\"}");
        assert!(read_line(&mut r, &mut buf, 15, SEC).await.unwrap());
        assert_eq!(buf, b"abc");
        assert!(read_line(&mut r, &mut buf, 15, SEC).await.unwrap());
        assert_eq!(buf, b"last");
        assert!(!read_line(&mut r, &mut buf, 15, SEC).await.unwrap());
        let mut r = BufReader::new(&b"0123456789\n"[..]);
        assert!(matches!(
            read_line(&mut r, &mut buf, 9, SEC).await,
            Err(LineError::TooLong { max: 9 })
        ));
    }

    #[tokio::test]
    async fn a_silent_peer_times_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut r = BufReader::new(server);
        let mut buf = Vec::new();
        let err = read_line(&mut r, &mut buf, 10, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, LineError::TimedOut(_)));
        drop(client);
    }
}

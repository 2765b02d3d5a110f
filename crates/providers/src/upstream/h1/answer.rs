//! An answer's body: polled by the serving task, it reads its connection and decodes.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;

use super::wire::{BodyDecoder, Framing, WireError};
use super::{Conn, Endpoint, Shared};

/// Largest piece one poll hands out.
const MAX_PIECE: usize = 64 * 1024;

/// Why a body broke off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("i/o: {0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Wire(WireError),
}

/// An answer's body. Each item is everything decoded so far (up to [`MAX_PIECE`]). A
/// connection whose answer ended cleanly goes back to the pool; one dropped early, or
/// whose answer ended in an error, is closed.
pub(crate) struct Answer {
    conn: Option<Conn>,
    decoder: BodyDecoder,
    keep_alive: bool,
    pool: Arc<Shared>,
    endpoint: Arc<Endpoint>,
    /// An error met after data that was handed out first.
    failed: Option<BodyError>,
}

impl Answer {
    pub(super) fn new(
        conn: Conn,
        framing: Framing,
        keep_alive: bool,
        pool: Arc<Shared>,
        endpoint: Arc<Endpoint>,
    ) -> Self {
        let mut answer = Self {
            conn: Some(conn),
            decoder: BodyDecoder::new(framing),
            keep_alive,
            pool,
            endpoint,
            failed: None,
        };
        if answer.decoder.is_done() {
            answer.finish();
        }
        answer
    }

    /// The body ended: a reusable connection with nothing left over goes back to the pool.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && conn.buf.is_empty()
        {
            self.pool.checkin(&self.endpoint.origin, conn);
        }
    }

    /// Decodes what is buffered and reads more until the read would block, the body ends,
    /// or a piece is full.
    fn fill(&mut self, cx: &mut Context<'_>, out: &mut BytesMut) -> Result<(), BodyError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        loop {
            out.reserve(conn.buf.len());
            self.decoder
                .decode(&mut conn.buf, out)
                .map_err(BodyError::Wire)?;
            if self.decoder.is_done() {
                self.finish();
                return Ok(());
            }
            if out.len() >= MAX_PIECE {
                return Ok(());
            }
            match conn.poll_read_more(cx) {
                Poll::Ready(Ok(0)) => {
                    self.keep_alive = false;
                    self.decoder.eof().map_err(BodyError::Wire)?;
                    self.finish();
                    return Ok(());
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Err(BodyError::Io(e)),
                Poll::Pending => return Ok(()),
            }
        }
    }
}

impl Stream for Answer {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(e) = this.failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        let mut out = BytesMut::new();
        if let Err(e) = this.fill(cx, &mut out) {
            this.conn = None;
            if out.is_empty() {
                return Poll::Ready(Some(Err(e)));
            }
            this.failed = Some(e);
        }
        if !out.is_empty() {
            Poll::Ready(Some(Ok(out.freeze())))
        } else if this.conn.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

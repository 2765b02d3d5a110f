//! A request body that fails when no bytes arrive for a while, so a client that stalls in
//! the middle of an upload cannot hold a handler (and its connection) forever.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a [`ProgressBody`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// No bytes arrived for the configured time.
    #[error("request body stalled: no bytes for {0:?}")]
    Stalled(Duration),
    /// The underlying body failed.
    #[error("request body: {0}")]
    Inner(#[from] hyper::Error),
}

/// Set once a body stalls; the listener then answers `408` and closes the connection.
#[derive(Debug, Clone, Default)]
pub struct Stalled(Arc<AtomicBool>);

impl Stalled {
    /// True once the body timed out.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Wraps a request body: each wait for the next frame may last at most `timeout`.
#[derive(Debug)]
pub struct ProgressBody {
    inner: hyper::body::Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    stalled: Stalled,
}

impl ProgressBody {
    /// A body that fails with [`BodyError::Stalled`] (and sets `stalled`) after `timeout`
    /// without progress.
    pub fn new(inner: hyper::body::Incoming, timeout: Duration, stalled: Stalled) -> Self {
        ProgressBody {
            inner,
            timeout,
            sleep: None,
            stalled,
        }
    }
}

impl Body for ProgressBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                // Progress: the next wait gets a full timeout again.
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(BodyError::from)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this.sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + timeout))
                });
                if sleep.as_mut().poll(cx).is_ready() {
                    this.stalled.set();
                    return Poll::Ready(Some(Err(BodyError::Stalled(timeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

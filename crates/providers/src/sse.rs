//! The caller-facing SSE body: frames → `data: …` events, `data: [DONE]` last, and a failure
//! after the stream began → one OpenAI error event, then `data: [DONE]`.
//!
//! Whatever is ready is written together (up to [`COALESCE`] bytes), so a burst of small
//! chunks leaves as one write. Pass-through frames are never copied: each is handed on as it
//! is, and hyper gathers the pieces that are ready into one vectored write.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{HeaderValue, Response, header};
use serde::Serialize;

use crate::stream::{Frame, FrameStream};

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";
/// Largest batch of ready frames written at once.
const COALESCE: usize = 16 * 1024;

/// A `text/event-stream` response streaming `frames`.
pub(crate) fn response(frames: FrameStream) -> Response<Body> {
    let body = SseBody {
        frames,
        held: None,
        done: false,
    };
    event_stream(Body::from_stream(body))
}

/// A `text/event-stream`, `no-cache` response with `body`.
pub(crate) fn event_stream(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

struct SseBody {
    frames: FrameStream,
    /// Bytes that arrived behind a pass-through frame, handed on by the next poll.
    held: Option<Bytes>,
    done: bool,
}

/// One write being gathered: a single frame as is, or a copy of several.
#[derive(Default)]
struct Batch {
    first: Option<Bytes>,
    buf: BytesMut,
}

impl Batch {
    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.buf.len()
    }

    fn buf(&mut self) -> &mut BytesMut {
        if let Some(first) = self.first.take() {
            self.buf.reserve(first.len() + 512);
            self.buf.extend_from_slice(&first);
        }
        &mut self.buf
    }

    /// Adds `b`; gives it back when it should rather follow as a piece of its own (after a
    /// pass-through frame, which is not copied).
    fn bytes(&mut self, b: Bytes) -> Option<Bytes> {
        if self.first.is_some() {
            return Some(b);
        }
        if self.buf.is_empty() {
            self.first = Some(b);
        } else {
            self.buf.extend_from_slice(&b);
        }
        None
    }

    /// `data: <json>\n\n`. JSON never contains a raw newline, so an upstream cannot forge
    /// events through the content.
    fn event<T: Serialize>(&mut self, value: &T) {
        let buf = self.buf();
        buf.extend_from_slice(b"data: ");
        let mut w = buf.writer();
        if serde_json::to_writer(&mut w, value).is_err() {
            w.get_mut().extend_from_slice(b"{}");
        }
        w.into_inner().extend_from_slice(b"\n\n");
    }

    fn take(self) -> Option<Bytes> {
        match self.first {
            Some(b) => Some(b),
            None => (!self.buf.is_empty()).then(|| self.buf.freeze()),
        }
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(b) = self.held.take() {
            return Poll::Ready(Some(Ok(b)));
        }
        if self.done {
            return Poll::Ready(None);
        }
        let mut batch = Batch::default();
        while batch.len() < COALESCE && self.held.is_none() {
            match self.frames.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(Frame::Sse(b)))) => self.held = batch.bytes(b),
                Poll::Ready(Some(Ok(Frame::Chunk(c)))) => batch.event(&c),
                Poll::Ready(Some(Err(err))) => {
                    tracing::warn!(error = %err, "inference stream failed after it began");
                    batch.event(&err.to_body());
                    batch.buf().extend_from_slice(DONE_FRAME);
                    self.done = true;
                    break;
                }
                Poll::Ready(None) => {
                    self.held = batch.bytes(Bytes::from_static(DONE_FRAME));
                    self.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        match batch.take() {
            Some(b) => Poll::Ready(Some(Ok(b))),
            None if self.done => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

//! Named-event SSE bodies (`event: <name>` + `data: <json>`) for the surfaces whose streams
//! are typed events rather than chat chunks: the Responses API and Anthropic Messages.
//!
//! An [`Encoder`] turns the internal [`ChatStream`] (every provider's stream, translated to
//! chat chunks) into the caller's events; [`response`] drives it. A failure after the
//! stream began becomes the encoder's error event, and the stream ends there.

use std::convert::Infallible;

use axum::body::Body;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderValue, Response, header};
use serde::Serialize;

use crate::error::ProviderError;
use crate::stream::ChatStream;
use crate::types::ChatChunk;

/// One event of a typed SSE stream.
pub(crate) trait NamedEvent: Serialize + Send {
    /// The SSE `event:` name (equal to the payload's `type`).
    fn name(&self) -> &'static str;
}

/// A stateful translation of chat chunks into a surface's events.
pub(crate) trait Encoder: Send + 'static {
    /// The surface's event type.
    type Event: NamedEvent;

    /// Events sent before the first chunk (e.g. `response.created`, `message_start`).
    fn start(&mut self, out: &mut Vec<Self::Event>);

    /// Events for one chunk.
    fn chunk(&mut self, chunk: ChatChunk, out: &mut Vec<Self::Event>);

    /// Closing events after the last chunk.
    fn finish(&mut self, out: &mut Vec<Self::Event>);

    /// The error event for a failure mid-stream.
    fn fail(&mut self, err: &ProviderError, out: &mut Vec<Self::Event>);
}

struct Drive<E: Encoder> {
    chunks: ChatStream,
    enc: E,
    started: bool,
    done: bool,
    events: Vec<E::Event>,
}

/// Appends `event: <name>\ndata: <json>\n\n` to `buf`.
fn write_event<T: NamedEvent>(buf: &mut BytesMut, ev: &T) {
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(ev.name().as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    let mut w = buf.writer();
    if serde_json::to_writer(&mut w, ev).is_err() {
        w.get_mut().extend_from_slice(b"{}");
    }
    w.into_inner().extend_from_slice(b"\n\n");
}

/// A `text/event-stream` response of `enc`'s events for `chunks`.
pub(crate) fn response<E: Encoder>(chunks: ChatStream, enc: E) -> Response<Body> {
    let drive = Drive {
        chunks,
        enc,
        started: false,
        done: false,
        events: Vec::new(),
    };
    let body = futures::stream::unfold(drive, |mut d| async move {
        if d.done {
            return None;
        }
        if !d.started {
            d.started = true;
            d.enc.start(&mut d.events);
        }
        match d.chunks.next().await {
            Some(Ok(chunk)) => d.enc.chunk(chunk, &mut d.events),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "inference stream failed after it began");
                d.enc.fail(&e, &mut d.events);
                d.done = true;
            }
            None => {
                d.enc.finish(&mut d.events);
                d.done = true;
            }
        }
        let mut buf = BytesMut::new();
        for ev in d.events.drain(..) {
            write_event(&mut buf, &ev);
        }
        Some((Ok::<Bytes, Infallible>(buf.freeze()), d))
    })
    .filter(|b| futures::future::ready(b.as_ref().map_or(true, |b| !b.is_empty())));
    let mut resp = Response::new(Body::from_stream(body));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// A fresh id with `prefix` (`resp_`, `msg_`, `fc_`, `toolu_`, …).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

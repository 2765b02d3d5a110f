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
use http::Response;
use serde::Serialize;

use axum::response::IntoResponse;

use crate::client::InferenceClient;
use crate::error::ProviderError;
use crate::route::Route;
use crate::stream::ChatStream;
use crate::types::{ChatChunk, ChatRequest, ChatResponse, FinishReason, ToolCallDelta, Usage};

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
    crate::sse::event_stream(Body::from_stream(body))
}

/// Sends a translated `chat` along `route`: streamed through `enc` when the chat request
/// streams, else buffered and shaped by `buffered` into the caller's JSON.
pub(crate) async fn answer<E: Encoder, T: Serialize>(
    client: &InferenceClient,
    route: &Route,
    chat: ChatRequest,
    enc: E,
    buffered: impl FnOnce(ChatResponse) -> T,
) -> Result<Response<Body>, ProviderError> {
    if chat.is_stream() {
        let chunks = client.chat_stream(route, chat).await?;
        Ok(response(chunks, enc))
    } else {
        let resp = client.chat(route, chat).await?;
        Ok(axum::Json(buffered(resp)).into_response())
    }
}

/// What one chat chunk carries for an encoder, in order.
pub(crate) enum Piece {
    /// A text fragment.
    Text(String),
    /// A tool call fragment.
    Call(ToolCallDelta),
}

/// The pieces of choice 0 of `chunk`; records its usage and finish reason.
pub(crate) fn pieces(
    chunk: ChatChunk,
    usage: &mut Option<Usage>,
    finish: &mut Option<FinishReason>,
) -> Vec<Piece> {
    if chunk.usage.is_some() {
        *usage = chunk.usage;
    }
    let mut out = Vec::new();
    for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
        out.extend(
            choice
                .delta
                .content
                .filter(|t| !t.is_empty())
                .map(Piece::Text),
        );
        out.extend(
            choice
                .delta
                .tool_calls
                .into_iter()
                .flatten()
                .map(Piece::Call),
        );
        if choice.finish_reason.is_some() {
            *finish = choice.finish_reason;
        }
    }
    out
}

/// A fresh id with `prefix` (`resp_`, `msg_`, `fc_`, `toolu_`, …).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

//! Stream plumbing: byte streams → lines → SSE events → OpenAI chunks, idle timeouts.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::types::ChatChunk;

/// A stream of OpenAI chat chunks. After an `Err` item the stream ends.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

/// One piece of an answer stream as the adapters produce it.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A chunk translated from a native API (or built by the mock).
    Chunk(ChatChunk),
    /// Complete OpenAI SSE events exactly as an OpenAI-compatible upstream sent them,
    /// `data: [DONE]` excluded.
    Sse(Bytes),
}

/// What an adapter streams: frames, ending after an `Err`.
pub(crate) type FrameStream = Pin<Box<dyn Stream<Item = Result<Frame, ProviderError>> + Send>>;

/// A stream of upstream body bytes.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

/// Ends the stream with [`ProviderError::IdleTimeout`] when it makes no progress for `idle`.
/// Every stream this wraps is line-framed (SSE, NDJSON), so progress is a piece that ends a
/// line: bytes that never complete a line (an upstream trickling one byte at a time) do not
/// reset the timer, or such an upstream would hold the caller forever. There is no total
/// timeout: a slow but steady stream of lines runs as long as it needs.
pub(crate) fn with_idle_timeout(
    inner: ByteStream,
    idle: Duration,
    provider: ProviderKind,
) -> ByteStream {
    Box::pin(IdleTimeout {
        inner,
        idle,
        provider,
        last: tokio::time::Instant::now(),
        timer: Box::pin(tokio::time::sleep(idle)),
        dead: false,
    })
}

struct IdleTimeout {
    inner: ByteStream,
    idle: Duration,
    provider: ProviderKind,
    last: tokio::time::Instant,
    timer: Pin<Box<tokio::time::Sleep>>,
    dead: bool,
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.dead {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            // Progress is a completed line; a byte trickle without newlines is not.
            if matches!(&item, Some(Ok(b)) if b.contains(&b'\n')) {
                self.last = tokio::time::Instant::now();
            }
            self.dead = !matches!(item, Some(Ok(_)));
            return Poll::Ready(item);
        }
        loop {
            let deadline = self.last + self.idle;
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if tokio::time::Instant::now() >= deadline {
                self.dead = true;
                let (provider, idle) = (self.provider, self.idle);
                return Poll::Ready(Some(Err(ProviderError::IdleTimeout { provider, idle })));
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

struct LineState {
    inner: ByteStream,
    buf: BytesMut,
    ended: bool,
    max_line: usize,
}

/// The next complete line of `buf` (without its `\n` or `\r\n`), split off without copying.
fn next_line(buf: &mut BytesMut) -> Option<Bytes> {
    let at = memchr::memchr(b'\n', buf)?;
    let mut line = buf.split_to(at + 1).freeze();
    line.truncate(at);
    if line.last() == Some(&b'\r') {
        line.truncate(at - 1);
    }
    Some(line)
}

/// Splits a byte stream into lines (NDJSON and SSE framing) without copying them out of the
/// read buffer. A line longer than `max_line` ends the stream with
/// [`ProviderError::ResponseTooLarge`].
pub(crate) fn lines(
    inner: ByteStream,
    max_line: usize,
) -> impl Stream<Item = Result<Bytes, ProviderError>> + Send {
    let state = LineState {
        inner,
        buf: BytesMut::new(),
        ended: false,
        max_line,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = next_line(&mut st.buf) {
                return Some((Ok(line), st));
            }
            if st.ended {
                if st.buf.is_empty() {
                    return None;
                }
                let rest = st.buf.split().freeze();
                return Some((Ok(rest), st));
            }
            match st.inner.next().await {
                Some(Ok(bytes)) => {
                    st.buf.extend_from_slice(&bytes);
                    if st.buf.len() > st.max_line && memchr::memchr(b'\n', &st.buf).is_none() {
                        st.ended = true;
                        st.buf.clear();
                        let err = ProviderError::ResponseTooLarge { limit: st.max_line };
                        return Some((Err(err), st));
                    }
                }
                Some(Err(e)) => {
                    st.ended = true;
                    st.buf.clear();
                    return Some((Err(e), st));
                }
                None => st.ended = true,
            }
        }
    })
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<Bytes>,
    /// The joined `data:` lines (a slice of the read buffer for the usual single line).
    pub data: Bytes,
}

/// Groups lines into SSE events (blank line terminates an event; `:` lines are comments).
pub(crate) fn sse_events(
    lines: impl Stream<Item = Result<Bytes, ProviderError>> + Send + 'static,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send {
    let lines = Box::pin(lines);
    futures::stream::unfold((lines, false), |(mut lines, ended)| async move {
        if ended {
            return None;
        }
        let mut ev = SseEvent::default();
        let mut joined: Option<BytesMut> = None;
        let mut has_data = false;
        loop {
            match lines.next().await {
                Some(Ok(line)) => {
                    if line.is_empty() {
                        if has_data {
                            if let Some(j) = joined {
                                ev.data = j.freeze();
                            }
                            return Some((Ok(ev), (lines, false)));
                        }
                        ev.event = None;
                        continue;
                    }
                    if line.starts_with(b":") {
                        continue;
                    }
                    let (field, value) = match memchr::memchr(b':', &line) {
                        Some(at) => {
                            let skip = if line.get(at + 1) == Some(&b' ') {
                                2
                            } else {
                                1
                            };
                            (line.slice(..at), line.slice(at + skip..))
                        }
                        None => (line.clone(), Bytes::new()),
                    };
                    match &field[..] {
                        b"event" => ev.event = Some(value),
                        b"data" if !has_data => {
                            ev.data = value;
                            has_data = true;
                        }
                        b"data" => {
                            let j = joined.get_or_insert_with(|| BytesMut::from(&ev.data[..]));
                            j.extend_from_slice(b"\n");
                            j.extend_from_slice(&value);
                        }
                        _ => {}
                    }
                }
                Some(Err(e)) => return Some((Err(e), (lines, true))),
                None => {
                    if let Some(j) = joined {
                        ev.data = j.freeze();
                    }
                    return has_data.then_some((Ok(ev), (lines, true)));
                }
            }
        }
    })
}

/// A stateful translation of one upstream's stream events into OpenAI chunks.
pub(crate) trait Translate: Send + 'static {
    /// The upstream event type (an SSE event, an NDJSON line, …).
    type Event: Send;

    /// Handles one event, pushing chunks to `out`. Returns `true` when the upstream
    /// signalled a complete, successful end.
    fn event(&mut self, ev: Self::Event, out: &mut Vec<ChatChunk>) -> Result<bool, ProviderError>;

    /// Called when the upstream ended without signalling completion; returns an error if
    /// that means the stream was cut, or pushes closing chunks if it is a normal end.
    fn end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), ProviderError>;
}

struct Driver<S, T> {
    events: Pin<Box<S>>,
    tr: T,
    /// Translated chunks not yet handed out, in reverse order (popped from the back).
    out: Vec<ChatChunk>,
    scratch: Vec<ChatChunk>,
    finished: bool,
}

/// Runs a [`Translate`] over an event stream; its buffers are reused from event to event.
pub(crate) fn translate<S, T>(events: S, tr: T) -> FrameStream
where
    T: Translate,
    S: Stream<Item = Result<T::Event, ProviderError>> + Send + 'static,
{
    let driver = Driver {
        events: Box::pin(events),
        tr,
        out: Vec::new(),
        scratch: Vec::new(),
        finished: false,
    };
    Box::pin(futures::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(chunk) = d.out.pop() {
                return Some((Ok(Frame::Chunk(chunk)), d));
            }
            if d.finished {
                return None;
            }
            let step = match d.events.next().await {
                Some(Ok(ev)) => d.tr.event(ev, &mut d.scratch),
                Some(Err(e)) => Err(e),
                None => d.tr.end(&mut d.scratch).map(|()| true),
            };
            d.out.extend(d.scratch.drain(..).rev());
            match step {
                Ok(done) => d.finished = done,
                Err(e) => {
                    d.finished = true;
                    d.out.clear();
                    return Some((Err(e), d));
                }
            }
        }
    }))
}

/// The chunks of whole OpenAI SSE events (a pass-through frame), for typed consumers.
pub(crate) fn sse_chunks(
    provider: ProviderKind,
    events: &[u8],
) -> Vec<Result<ChatChunk, ProviderError>> {
    events
        .split(|b| *b == b'\n')
        .filter_map(|line| line.strip_prefix(b"data:"))
        .map(<[u8]>::trim_ascii)
        .filter(|data| !data.is_empty())
        .map(|data| {
            serde_json::from_slice(data)
                .map_err(|e| ProviderError::protocol(provider, format!("bad chunk: {e}")))
        })
        .collect()
}

/// Current Unix time in seconds.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh OpenAI-style completion id.
pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(parts: &[&'static str]) -> ByteStream {
        let items: Vec<Result<Bytes, ProviderError>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        Box::pin(futures::stream::iter(items))
    }

    #[tokio::test]
    async fn lines_split_across_chunks() {
        let got: Vec<_> = lines(bytes_of(&["ab", "c\r\nde", "\nf"]), 100)
            .collect::<Vec<_>>()
            .await;
        let got: Vec<Bytes> = got.into_iter().filter_map(Result::ok).collect();
        assert_eq!(got, vec!["abc", "de", "f"]);
    }

    #[tokio::test]
    async fn overlong_line_is_an_error() {
        let got: Vec<_> = lines(bytes_of(&["aaaaaaaaaa"]), 4)
            .collect::<Vec<_>>()
            .await;
        assert!(matches!(
            got.last(),
            Some(Err(ProviderError::ResponseTooLarge { .. }))
        ));
    }

    #[tokio::test]
    async fn sse_events_parse_fields_and_comments() {
        let src = bytes_of(&[
            ": ping\n\nevent: a\ndata: {\"x\":1}\n\n",
            "data: one\ndata: two\n\ndata: [DONE]\n\n",
        ]);
        let evs: Vec<SseEvent> = sse_events(lines(src, 1000))
            .filter_map(|e| async move { e.ok() })
            .collect()
            .await;
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0].event.as_deref(), Some(&b"a"[..]));
        assert_eq!(evs[1].data, "one\ntwo");
        assert_eq!(evs[2].data, "[DONE]");
    }
}

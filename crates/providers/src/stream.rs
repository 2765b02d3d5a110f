//! Stream plumbing: byte streams → lines → SSE events → OpenAI chunks, idle timeouts.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::types::ChatChunk;

/// A stream of OpenAI chat chunks. After an `Err` item the stream ends.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

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
    let start = tokio::time::Instant::now() + idle;
    Box::pin(futures::stream::unfold(
        (inner, false, start),
        move |(mut inner, dead, deadline)| async move {
            if dead {
                return None;
            }
            match tokio::time::timeout_at(deadline, inner.next()).await {
                Ok(Some(Ok(b))) => {
                    let deadline = if b.contains(&b'\n') {
                        tokio::time::Instant::now() + idle
                    } else {
                        deadline
                    };
                    Some((Ok(b), (inner, false, deadline)))
                }
                Ok(Some(Err(e))) => Some((Err(e), (inner, true, deadline))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(ProviderError::IdleTimeout { provider, idle }),
                    (inner, true, deadline),
                )),
            }
        },
    ))
}

struct LineState {
    inner: ByteStream,
    buf: Vec<u8>,
    ready: VecDeque<String>,
    ended: bool,
    max_line: usize,
}

fn take_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.trim_end_matches(['\n', '\r']).to_string()
}

/// Splits a byte stream into lines (NDJSON and SSE framing). A line longer than
/// `max_line` ends the stream with [`ProviderError::ResponseTooLarge`].
pub(crate) fn lines(
    inner: ByteStream,
    max_line: usize,
) -> impl Stream<Item = Result<String, ProviderError>> + Send {
    let state = LineState {
        inner,
        buf: Vec::new(),
        ready: VecDeque::new(),
        ended: false,
        max_line,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.ready.pop_front() {
                return Some((Ok(line), st));
            }
            if st.ended {
                return None;
            }
            match st.inner.next().await {
                Some(Ok(bytes)) => {
                    let mut start = st.buf.len();
                    st.buf.extend_from_slice(&bytes);
                    while let Some(rel) = st.buf[start..].iter().position(|b| *b == b'\n') {
                        let end = start + rel + 1;
                        let line: Vec<u8> = st.buf.drain(..end).collect();
                        st.ready.push_back(take_line(&line));
                        start = 0;
                    }
                    if st.buf.len() > st.max_line {
                        st.ended = true;
                        st.ready.clear();
                        let err = ProviderError::ResponseTooLarge { limit: st.max_line };
                        return Some((Err(err), st));
                    }
                }
                Some(Err(e)) => {
                    st.ended = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.ended = true;
                    if !st.buf.is_empty() {
                        let rest = std::mem::take(&mut st.buf);
                        st.ready.push_back(take_line(&rest));
                    }
                }
            }
        }
    })
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The joined `data:` lines.
    pub data: String,
}

/// Groups lines into SSE events (blank line terminates an event; `:` lines are comments).
pub(crate) fn sse_events(
    lines: impl Stream<Item = Result<String, ProviderError>> + Send + 'static,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send {
    let lines = Box::pin(lines);
    futures::stream::unfold((lines, false), |(mut lines, ended)| async move {
        if ended {
            return None;
        }
        let mut ev = SseEvent::default();
        let mut has_data = false;
        loop {
            match lines.next().await {
                Some(Ok(line)) => {
                    if line.is_empty() {
                        if has_data {
                            return Some((Ok(ev), (lines, false)));
                        }
                        ev.event = None;
                        continue;
                    }
                    if line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = match line.split_once(':') {
                        Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                        None => (line.as_str(), ""),
                    };
                    match field {
                        "event" => ev.event = Some(value.to_string()),
                        "data" => {
                            if has_data {
                                ev.data.push('\n');
                            }
                            ev.data.push_str(value);
                            has_data = true;
                        }
                        _ => {}
                    }
                }
                Some(Err(e)) => return Some((Err(e), (lines, true))),
                None => {
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
    out: VecDeque<ChatChunk>,
    finished: bool,
}

/// Runs a [`Translate`] over an event stream.
pub(crate) fn translate<S, T>(events: S, tr: T) -> ChatStream
where
    T: Translate,
    S: Stream<Item = Result<T::Event, ProviderError>> + Send + 'static,
{
    let driver = Driver {
        events: Box::pin(events),
        tr,
        out: VecDeque::new(),
        finished: false,
    };
    Box::pin(futures::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(chunk) = d.out.pop_front() {
                return Some((Ok(chunk), d));
            }
            if d.finished {
                return None;
            }
            let mut buf = Vec::new();
            let step = match d.events.next().await {
                Some(Ok(ev)) => d.tr.event(ev, &mut buf),
                Some(Err(e)) => Err(e),
                None => d.tr.end(&mut buf).map(|()| true),
            };
            d.out.extend(buf);
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
        let got: Vec<String> = got.into_iter().filter_map(Result::ok).collect();
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
        assert_eq!(evs[0].event.as_deref(), Some("a"));
        assert_eq!(evs[1].data, "one\ntwo");
        assert_eq!(evs[2].data, "[DONE]");
    }
}

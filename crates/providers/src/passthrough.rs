//! Byte pass-through of an OpenAI-compatible upstream's SSE stream.
//!
//! Complete events are forwarded exactly as they arrived (a slice of the read buffer, no
//! parse, no re-encode); only the framing is looked at, plus cheap byte searches over each
//! run of whole events: `[DONE]` (the end; not forwarded, the service writes its own), a
//! top-level `"error"` (parsed only then, and ended with an error), a non-null
//! `"finish_reason"` (a stream that ends without `[DONE]` but after a finish is complete) and
//! a `"usage"` object. Only a run where one of the rare three appears is walked event by
//! event; the final usage chunk is the one event parsed in full, to log the usage.
//!
//! A partial event is held back until its blank line arrives, so a failure mid-stream is
//! always appended after whole events and the caller's SSE stays well formed.

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use memchr::memmem::Finder;
use serde::Deserialize;

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::stream::{ByteStream, Frame, FrameStream};
use crate::types::{Usage, UsageCounts};
use crate::upstream::extract_message;

static ERROR_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));
static FINISH_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"finish_reason\":"));
static USAGE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\":"));
static DONE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"[DONE]"));

/// Forwards `bytes` as [`Frame::Sse`] pieces of whole events; `max_event` bounds one event.
pub(crate) fn passthrough(
    bytes: ByteStream,
    provider: ProviderKind,
    max_event: usize,
) -> FrameStream {
    let scan = Scan {
        inner: bytes,
        buf: BytesMut::new(),
        provider,
        max_event,
        finished: false,
        usage: None,
        ended: false,
    };
    Box::pin(futures::stream::unfold(scan, |mut st| async move {
        loop {
            if st.ended {
                return None;
            }
            let step = match st.inner.next().await {
                Some(Ok(bytes)) => st.feed(bytes),
                Some(Err(e)) => Step::Fail(e),
                None => st.close(),
            };
            match step {
                Step::More(Some(out)) => return Some((Ok(Frame::Sse(out)), st)),
                Step::More(None) => {}
                Step::Done(out) => {
                    st.ended = true;
                    st.log_usage();
                    match out {
                        Some(out) => return Some((Ok(Frame::Sse(out)), st)),
                        None => return None,
                    }
                }
                Step::Fail(e) => {
                    st.ended = true;
                    return Some((Err(e), st));
                }
            }
        }
    }))
}

struct Scan {
    inner: ByteStream,
    /// The held-back start of an event whose blank line has not arrived.
    buf: BytesMut,
    provider: ProviderKind,
    max_event: usize,
    finished: bool,
    usage: Option<Usage>,
    ended: bool,
}

enum Step {
    /// Forward these whole events (if any) and read on.
    More(Option<Bytes>),
    /// The upstream finished; forward these last events (if any).
    Done(Option<Bytes>),
    /// The upstream failed.
    Fail(ProviderError),
}

/// What one look at a run of bytes found.
enum Seen {
    /// Whole events end at this offset; nothing special among them.
    Upto(usize),
    /// `data: [DONE]` starts at this offset.
    Done(usize),
    /// An error event.
    Error(ProviderError),
}

fn non_empty(b: Bytes) -> Option<Bytes> {
    (!b.is_empty()).then_some(b)
}

impl Scan {
    fn feed(&mut self, bytes: Bytes) -> Step {
        // The usual case: a read holds whole events and is forwarded as a slice of itself.
        let data = if self.buf.is_empty() {
            bytes
        } else {
            self.buf.extend_from_slice(&bytes);
            std::mem::take(&mut self.buf).freeze()
        };
        // Events before the first rare one are passed over; from that event on (usually
        // just the last, `[DONE]`) they are walked one by one.
        let whole = whole_events(&data);
        // A finish matters only to a stream that ends without `[DONE]`, so it is searched
        // for only when this run holds no `[DONE]`.
        let plain = match first_rare(&data[..whole]) {
            Some(at) => whole_events(&data[..at]),
            None => whole,
        };
        let seen = if plain == whole {
            Seen::Upto(whole)
        } else {
            self.look(&data, plain)
        };
        if !matches!(seen, Seen::Done(_))
            && !self.finished
            && value_at(&data[..plain], &FINISH_KEY, b'"').is_some()
        {
            self.finished = true;
        }
        match seen {
            Seen::Upto(end) => {
                self.buf.extend_from_slice(&data[end..]);
                self.check_size()
                    .unwrap_or(Step::More(non_empty(data.slice(..end))))
            }
            Seen::Done(at) => Step::Done(non_empty(data.slice(..at))),
            Seen::Error(e) => Step::Fail(e),
        }
    }

    fn check_size(&mut self) -> Option<Step> {
        (self.buf.len() > self.max_event).then(|| {
            self.buf.clear();
            Step::Fail(ProviderError::ResponseTooLarge {
                limit: self.max_event,
            })
        })
    }

    /// The upstream closed: a last event without its blank line still counts.
    fn close(&mut self) -> Step {
        let mut rest = std::mem::take(&mut self.buf);
        if !rest.iter().all(u8::is_ascii_whitespace) {
            rest.extend_from_slice(b"\n\n");
        }
        let rest = rest.freeze();
        let tail = match self.look(&rest, 0) {
            Seen::Done(at) => return Step::Done(non_empty(rest.slice(..at))),
            Seen::Error(e) => return Step::Fail(e),
            Seen::Upto(end) => non_empty(rest.slice(..end)),
        };
        if self.finished {
            Step::Done(tail)
        } else {
            Step::Fail(ProviderError::protocol(
                self.provider,
                "stream ended before the completion finished",
            ))
        }
    }

    /// Walks the lines of `data` from `from` (an event's start), checking each whole event.
    fn look(&mut self, data: &[u8], from: usize) -> Seen {
        let mut event_start = from;
        let mut line_start = from;
        for nl in memchr::memchr_iter(b'\n', &data[from..]).map(|nl| nl + from) {
            let line = &data[line_start..nl];
            let blank = line.is_empty() || line == b"\r";
            if blank {
                if line_start > event_start
                    && let Some(seen) = self.check(&data[event_start..line_start], event_start)
                {
                    return seen;
                }
                event_start = nl + 1;
            }
            line_start = nl + 1;
        }
        Seen::Upto(event_start)
    }

    /// Checks one whole event (its lines, without the blank line) starting at `at`.
    fn check(&mut self, event: &[u8], at: usize) -> Option<Seen> {
        let payload = data_of(event);
        if payload.trim_ascii() == b"[DONE]" {
            return Some(Seen::Done(at));
        }
        if ERROR_KEY.find(event).is_some() && is_error(&payload) {
            return Some(Seen::Error(ProviderError::protocol(
                self.provider,
                format!("upstream stream error: {}", extract_message(&payload)),
            )));
        }
        if !self.finished && value_starts(event, &FINISH_KEY, b'"') {
            self.finished = true;
        }
        if value_starts(event, &USAGE_KEY, b'{')
            && let Ok(u) = serde_json::from_slice::<UsageOnly>(&payload)
        {
            self.usage = Some(u.usage.into());
        }
        None
    }

    fn log_usage(&self) {
        if let Some(u) = &self.usage {
            tracing::debug!(
                provider = %self.provider,
                prompt_tokens = u.prompt_tokens,
                completion_tokens = u.completion_tokens,
                "stream usage"
            );
        }
    }
}

/// Where the whole events at the start of `data` end: after its last blank line (the same
/// framing as [`Scan::look`]'s walk), found walking back from the end.
fn whole_events(data: &[u8]) -> usize {
    let mut nl = memchr::memrchr(b'\n', data);
    while let Some(end) = nl {
        let prev = memchr::memrchr(b'\n', &data[..end]);
        let line = &data[prev.map_or(0, |p| p + 1)..end];
        if line.is_empty() || line == b"\r" {
            return end + 1;
        }
        nl = prev;
    }
    0
}

/// The first offset in the whole events `run` of something [`Scan::check`] must see: a
/// `[DONE]`, an `"error"` key or a `"usage"` object.
fn first_rare(run: &[u8]) -> Option<usize> {
    [
        DONE_KEY.find(run),
        ERROR_KEY.find(run),
        value_at(run, &USAGE_KEY, b'{'),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// The usage of a usage chunk among whole `events` (one byte search when there is none).
pub(crate) fn usage_in(events: &[u8]) -> Option<Usage> {
    USAGE_KEY.find(events)?;
    events
        .split(|b| *b == b'\n')
        .rev()
        .filter(|l| value_starts(l, &USAGE_KEY, b'{'))
        .filter_map(|l| {
            let data = l.strip_prefix(b"data:")?;
            serde_json::from_slice::<UsageOnly>(data.trim_ascii()).ok()
        })
        .map(|u| u.usage.into())
        .next()
}

#[derive(Deserialize)]
struct UsageOnly {
    usage: UsageCounts,
}

/// The `data:` payload of an event: borrowed for the usual single line, joined otherwise.
fn data_of(event: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut lines = event
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter_map(|l| l.strip_prefix(b"data:"))
        .map(|v| v.strip_prefix(b" ").unwrap_or(v));
    let Some(first) = lines.next() else {
        return std::borrow::Cow::Borrowed(&[]);
    };
    let mut joined: Option<Vec<u8>> = None;
    for more in lines {
        let j = joined.get_or_insert_with(|| first.to_vec());
        j.push(b'\n');
        j.extend_from_slice(more);
    }
    match joined {
        Some(j) => std::borrow::Cow::Owned(j),
        None => std::borrow::Cow::Borrowed(first),
    }
}

/// Whether a key found by `key` is followed (after blanks) by `first`.
fn value_starts(event: &[u8], key: &Finder<'_>, first: u8) -> bool {
    value_at(event, key, first).is_some()
}

/// The first offset of a key found by `key` whose value starts with `first`.
fn value_at(data: &[u8], key: &Finder<'_>, first: u8) -> Option<usize> {
    key.find_iter(data).find(|at| {
        data[at + key.needle().len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            == Some(&first)
    })
}

/// Whether the payload is an object with a top-level `error` (the rare, parsed path).
fn is_error(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
        .is_ok_and(|obj| obj.get("error").is_some_and(|e| !e.is_null()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(parts: &[&'static str]) -> Vec<Result<Bytes, ProviderError>> {
        let items: Vec<Result<Bytes, ProviderError>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        let frames = passthrough(
            Box::pin(futures::stream::iter(items)),
            ProviderKind::OpenAiApi,
            1000,
        );
        futures::executor::block_on(frames.collect::<Vec<_>>())
            .into_iter()
            .map(|f| {
                f.map(|f| match f {
                    Frame::Sse(b) => b,
                    Frame::Chunk(_) => Bytes::new(),
                })
            })
            .collect()
    }

    const A: &str =
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    const FIN: &str = "data: {\"choices\":[{\"delta\":{},\"finish_reason\": \"stop\"}]}\n\n";

    #[test]
    fn whole_events_pass_unchanged_and_done_is_dropped() {
        let got = run(&[A, FIN, "data: [DONE]\n\n"]);
        let text: Vec<_> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(text, vec![Bytes::from(A), Bytes::from(FIN)]);
    }

    #[test]
    fn split_events_are_held_back_until_whole() {
        let (a1, a2) = A.split_at(10);
        let got = run(&[a1, a2, "data: [DO", "NE]\r\n\r\n"]);
        let text: Vec<_> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(text, vec![Bytes::from(A)]);
    }

    #[test]
    fn a_cut_after_whole_events_is_an_error() {
        let got = run(&[A, "data: {\"choi"]);
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[1], Err(ProviderError::Protocol { .. })));
    }

    #[test]
    fn an_end_after_a_finish_without_done_is_complete() {
        let got = run(&[A, FIN]);
        assert!(got.iter().all(Result::is_ok), "{got:?}");
    }

    #[test]
    fn an_error_event_ends_the_stream_with_its_message() {
        let got = run(&[A, "data: {\"error\":{\"message\":\"overloaded\"}}\n\n", FIN]);
        match &got[..] {
            [Ok(_), Err(ProviderError::Protocol { detail, .. })] => {
                assert!(detail.contains("overloaded"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_usage_chunk_among_ordinary_events_is_read() {
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}}\n\n";
        let all = format!("{A}{FIN}{usage}data: [DONE]\n\n");
        let mut scan = Scan {
            inner: Box::pin(futures::stream::empty()),
            buf: BytesMut::new(),
            provider: ProviderKind::OpenAiApi,
            max_event: 1000,
            finished: false,
            usage: None,
            ended: false,
        };
        match scan.feed(Bytes::from(all)) {
            Step::Done(Some(out)) => assert_eq!(out, format!("{A}{FIN}{usage}")),
            _ => panic!("not done"),
        }
        assert_eq!(scan.usage.map(|u| u.completion_tokens), Some(3));
    }

    #[test]
    fn whole_events_end_after_the_last_blank_line() {
        assert_eq!(whole_events(b"data: a\n\ndata: b"), 9);
        assert_eq!(whole_events(b"data: a\r\n\r\ndata: b\n"), 11);
        assert_eq!(whole_events(b"\ndata: b"), 1);
        assert_eq!(whole_events(b"data: b"), 0);
        assert_eq!(whole_events(b"data: a\n\ndata: b\n\ndata: c\n"), 18);
    }

    #[test]
    fn content_mentioning_error_is_not_an_error() {
        let ev = "data: {\"choices\":[{\"delta\":{\"content\":\"error\"},\"finish_reason\":\"stop\"}]}\n\n";
        let got = run(&[ev, "data: [DONE]\n\n"]);
        assert!(got.iter().all(Result::is_ok), "{got:?}");
    }
}

//! HTTP/1.1 client wire format, sans-IO: request bytes out; response head and body framing
//! in (RFC 9112). Bytes in, decoded pieces out; no sockets, no clock.
//!
//! The body decoder copies payload out of the read buffer run by run (a chunk-size line is
//! found with one `memchr`, not read byte by byte), so a burst of stream events that arrived
//! in one read becomes one piece. Every length is bounded: head, header count, chunk-size
//! line, trailers.

use std::io::Write as _;
use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

/// Largest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_SIZE_LINE: usize = 1024;
/// Most trailer bytes accepted.
const MAX_TRAILERS: usize = 16 * 1024;

/// A response the wire format does not allow, or a request it cannot write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("malformed response head: {0}")]
    Head(&'static str),
    #[error("response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("invalid Content-Length")]
    ContentLength,
    #[error("malformed chunked body: {0}")]
    Chunk(&'static str),
    #[error("the connection closed inside the body")]
    Truncated,
    #[error("cannot write the request: {0}")]
    Request(&'static str),
}

/// One request header. Its value is written as the concatenation of its parts, so a
/// credential and its scheme (`Bearer `) need no joined copy. `Debug` shows the name only:
/// the value may be a credential.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: [&'a str; 2],
}

impl std::fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A request: the target is `path` (its parts concatenated, the endpoint's prefix first).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    pub(crate) host: &'a str,
    pub(crate) path: [&'a str; 2],
    pub(crate) body: &'a [u8],
}

/// The request line, `Host`, `fields` and `Content-Length`, then the body (one buffer, one
/// write). A target or value that would break the head (a control character, a space in
/// the target) is refused here, where the bytes are written.
pub(crate) fn encode_request<'a>(
    req: &Request<'_>,
    fields: impl IntoIterator<Item = Field<'a>>,
) -> Result<Vec<u8>, WireError> {
    let target_ok = |p: &str| p.bytes().all(|b| b.is_ascii_graphic());
    if !req.path.iter().all(|p| target_ok(p)) || !target_ok(req.host) {
        return Err(WireError::Request(
            "request target or host not printable ASCII",
        ));
    }
    let mut out = Vec::with_capacity(256 + req.body.len());
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    for part in req.path {
        out.extend_from_slice(part.as_bytes());
    }
    if req.path.iter().all(|p| p.is_empty()) {
        out.push(b'/');
    }
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(req.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for field in fields {
        if !name_ok(field.name) || !field.value.iter().all(|v| value_ok(v)) {
            return Err(WireError::Request("header name or value not allowed"));
        }
        out.extend_from_slice(field.name.as_bytes());
        out.extend_from_slice(b": ");
        for part in field.value {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    let method = req.method;
    if !req.body.is_empty() || *method == Method::POST || *method == Method::PUT {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "content-length: {}\r\n", req.body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.body);
    Ok(out)
}

/// A header name: a non-empty token (RFC 9110 §5.6.2).
fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The bytes a header value may hold (those `http::HeaderValue` accepts: visible ASCII,
/// space, tab, obs-text; never CR, LF or NUL).
fn value_ok(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    /// Only the headers in [`KEPT`].
    pub(crate) headers: HeaderMap,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request after this answer.
    pub(crate) keep_alive: bool,
}

/// How a response body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// Parses a response head from the front of `buf`, consuming it. `Ok(None)`: more bytes
/// needed. Interim (1xx) answers are consumed and skipped.
pub(crate) fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, WireError> {
    loop {
        // Uninitialised slots: initialising 128 headers costs more than parsing a head.
        let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(WireError::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(WireError::Head("too many headers"));
            }
            Err(_) => return Err(WireError::Head("not an HTTP/1.x status line and headers")),
        };
        if len > MAX_HEAD {
            return Err(WireError::HeadTooLarge);
        }
        let code = resp.code.ok_or(WireError::Head("no status"))?;
        let status = StatusCode::from_u16(code).map_err(|_| WireError::Head("bad status"))?;
        let http10 = resp.version == Some(0);
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err(WireError::Head("unexpected protocol switch"));
            }
            buf.advance(len);
            continue;
        }
        let framing = framing(status, resp.headers)?;
        // A Transfer-Encoding answer with a Content-Length too, or from HTTP/1.0, may be
        // framed differently than it looks: read it, then close (RFC 9112 §6.1, §6.3).
        let encoded = values(resp.headers, &header::TRANSFER_ENCODING)
            .next()
            .is_some();
        let suspect = encoded
            && (http10
                || values(resp.headers, &header::CONTENT_LENGTH)
                    .next()
                    .is_some());
        let keep_alive = keep_alive(http10, resp.headers) && framing != Framing::Close && !suspect;
        let mut headers = kept_headers(resp.headers)?;
        if encoded {
            // Transfer-Encoding overrides it; a stale Content-Length must not cap the body.
            headers.remove(header::CONTENT_LENGTH);
        }
        buf.advance(len);
        return Ok(Some(Head {
            status,
            headers,
            framing,
            keep_alive,
        }));
    }
}

/// The answer headers callers read; the others are dropped unparsed.
const KEPT: [HeaderName; 2] = [header::CONTENT_LENGTH, header::RETRY_AFTER];

fn kept_headers(raw: &[httparse::Header<'_>]) -> Result<HeaderMap, WireError> {
    let mut headers = HeaderMap::new();
    for h in raw {
        if let Some(name) = KEPT
            .iter()
            .find(|k| h.name.eq_ignore_ascii_case(k.as_str()))
        {
            let value = HeaderValue::from_bytes(h.value)
                .map_err(|_| WireError::Head("bad header value"))?;
            headers.append(name.clone(), value);
        }
    }
    Ok(headers)
}

/// The values of every header named `name`.
fn values<'a>(
    raw: &'a [httparse::Header<'_>],
    name: &'a HeaderName,
) -> impl DoubleEndedIterator<Item = &'a [u8]> {
    raw.iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name.as_str()))
        .map(|h| h.value)
}

fn framing(status: StatusCode, raw: &[httparse::Header<'_>]) -> Result<Framing, WireError> {
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Empty);
    }
    if let Some(te) = values(raw, &header::TRANSFER_ENCODING).next_back() {
        let last = te.rsplit(|&b| b == b',').next().unwrap_or_default();
        return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    let mut length: Option<u64> = None;
    for value in values(raw, &header::CONTENT_LENGTH) {
        for part in value.split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) || part.len() > 19 {
                return Err(WireError::ContentLength);
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(WireError::ContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(WireError::ContentLength);
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

fn keep_alive(http10: bool, raw: &[httparse::Header<'_>]) -> bool {
    let mut close = http10;
    for value in values(raw, &header::CONNECTION) {
        for token in value.split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                return false;
            }
            if token.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    !close
}

/// Where a body decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `n` payload bytes left (of a Content-Length body or of the current chunk).
    Data(u64),
    /// The CRLF after a chunk's payload.
    DataEnd,
    /// A chunk-size line.
    Size,
    /// Trailer lines after the last chunk; `seen` bytes so far.
    Trailers {
        seen: usize,
    },
    /// Until the connection closes.
    UntilClose,
    Done,
}

/// Decodes one response body.
#[derive(Debug)]
pub(crate) struct BodyDecoder {
    state: State,
    chunked: bool,
}

impl BodyDecoder {
    pub(crate) fn new(framing: Framing) -> Self {
        let (state, chunked) = match framing {
            Framing::Empty | Framing::Length(0) => (State::Done, false),
            Framing::Length(n) => (State::Data(n), false),
            Framing::Chunked => (State::Size, true),
            Framing::Close => (State::UntilClose, false),
        };
        Self { state, chunked }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Moves the payload at the front of `input` to `out`, consuming framing as it goes;
    /// stops when `input` is exhausted or the body is done. Bytes after the body's end stay
    /// in `input`.
    pub(crate) fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<(), WireError> {
        loop {
            match self.state {
                State::Done => return Ok(()),
                State::UntilClose => {
                    out.extend_from_slice(input);
                    input.clear();
                    return Ok(());
                }
                State::Data(left) => {
                    if input.is_empty() {
                        return Ok(());
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input.advance(take);
                    let left = left - take as u64;
                    self.state = match (left, self.chunked) {
                        (0, true) => State::DataEnd,
                        (0, false) => State::Done,
                        (n, _) => State::Data(n),
                    };
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        if input.first().is_some_and(|&b| b != b'\r') {
                            return Err(WireError::Chunk("no CRLF after a chunk"));
                        }
                        return Ok(());
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(WireError::Chunk("no CRLF after a chunk"));
                    }
                    input.advance(2);
                    self.state = State::Size;
                }
                State::Size => {
                    let Some(nl) = memchr::memchr(b'\n', input) else {
                        if input.len() >= MAX_SIZE_LINE {
                            return Err(WireError::Chunk("chunk-size line too long"));
                        }
                        return Ok(());
                    };
                    if nl >= MAX_SIZE_LINE {
                        return Err(WireError::Chunk("chunk-size line too long"));
                    }
                    let size = chunk_size(&input[..nl])?;
                    input.advance(nl + 1);
                    self.state = match size {
                        0 => State::Trailers { seen: 0 },
                        n => State::Data(n),
                    };
                }
                State::Trailers { seen } => {
                    let Some(nl) = memchr::memchr(b'\n', input) else {
                        if seen + input.len() > MAX_TRAILERS {
                            return Err(WireError::Chunk("trailers too long"));
                        }
                        return Ok(());
                    };
                    let line = &input[..nl];
                    let empty = line.is_empty() || line == b"\r";
                    let seen = seen + nl + 1;
                    if seen > MAX_TRAILERS {
                        return Err(WireError::Chunk("trailers too long"));
                    }
                    input.advance(nl + 1);
                    self.state = if empty {
                        State::Done
                    } else {
                        State::Trailers { seen }
                    };
                }
            }
        }
    }

    /// The connection closed: fine only for a close-delimited body or a finished one.
    pub(crate) fn eof(&mut self) -> Result<(), WireError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(WireError::Truncated),
        }
    }
}

/// The size of a chunk-size line (without its `\n`): hex digits, then optional
/// whitespace and `;extensions`, then `\r`.
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let line = line
        .strip_suffix(b"\r")
        .ok_or(WireError::Chunk("chunk-size line without CRLF"))?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(WireError::Chunk("no chunk size"));
    }
    if digits > 15 {
        return Err(WireError::Chunk("chunk size too large"));
    }
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(WireError::Chunk("junk after the chunk size"));
    }
    let mut n = 0u64;
    for &b in &line[..digits] {
        n = (n << 4) | u64::from(hex(b));
    }
    Ok(n)
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
#[allow(clippy::unwrap_used)]
mod tests;

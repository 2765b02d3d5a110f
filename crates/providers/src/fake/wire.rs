//! Helpers shared by the fake upstreams: the reply script, JSON and streamed responses,
//! latency and injected failures.

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use super::{Call, Failure, FakeConfig};

/// One step of a fake reply.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    /// A word (with its leading space, except the first).
    Text(String),
    /// A tool call.
    Tool {
        id: String,
        name: String,
        args: Value,
    },
}

/// The whole fake reply.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub pieces: Vec<Piece>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Script {
    /// The label-marked reply, or a call of `tool` when one is offered.
    pub fn new(cfg: &FakeConfig, last_user: &str, tool: Option<String>, body: &Value) -> Self {
        let prompt_tokens = count_words(body);
        if let Some(name) = tool {
            return Self {
                pieces: vec![Piece::Tool {
                    id: "call_fake_0".to_string(),
                    name,
                    args: json!({ "label": cfg.label, "input": last_user }),
                }],
                prompt_tokens,
                completion_tokens: 1,
            };
        }
        let mut pieces = vec![Piece::Text(format!("[fake-{}:{}]", cfg.kind, cfg.label))];
        pieces.extend((1..=cfg.tokens).map(|i| Piece::Text(format!(" token{i}"))));
        let completion_tokens = u64::try_from(pieces.len()).unwrap_or(u64::MAX);
        Self {
            pieces,
            prompt_tokens,
            completion_tokens,
        }
    }

    /// The reply text (empty for a tool call).
    pub fn text(&self) -> String {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                Piece::Tool { .. } => None,
            })
            .collect()
    }

    /// The tool call, if the reply is one.
    pub fn tool(&self) -> Option<(&str, &str, &Value)> {
        self.pieces.iter().find_map(|p| match p {
            Piece::Tool { id, name, args } => Some((id.as_str(), name.as_str(), args)),
            Piece::Text(_) => None,
        })
    }

    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Words in every `text`, `content` and `system` string of a request body.
pub(crate) fn count_words(v: &Value) -> u64 {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if matches!(k.as_str(), "text" | "content" | "system") => {
                    crate::adapters::mapping::word_count(s)
                }
                other => count_words(other),
            })
            .sum(),
        Value::Array(items) => items.iter().map(count_words).sum(),
        _ => 0,
    }
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Applies `Status5xx` and `Timeout` before a chat call is answered; `None` means go on.
pub(crate) async fn pre_chat(
    call: &Call,
    error: impl Fn(u16) -> Response<Body>,
) -> Option<Response<Body>> {
    match call.cfg.failure {
        Failure::Status5xx(status) => Some(error(status)),
        Failure::Timeout => {
            call.hang().await;
            Some(error(503))
        }
        _ => None,
    }
}

/// A buffered chat answer, after the simulated generation time; `CutStream` sends half the
/// body and breaks off, `Stall` never finishes.
pub(crate) async fn buffered_chat(call: &Call, script: &Script, value: &Value) -> Response<Body> {
    let latency = call.cfg.latency;
    if !latency.is_zero() {
        let words = u32::try_from(script.pieces.len()).unwrap_or(u32::MAX);
        tokio::time::sleep(latency * words).await;
    }
    let text = value.to_string();
    match call.cfg.failure {
        Failure::CutStream(_) => {
            let bytes = Bytes::from(text.into_bytes());
            let half = bytes.slice(..bytes.len() / 2);
            let parts = futures::stream::iter([0u8, 1]).then(move |step| {
                let half = half.clone();
                async move {
                    if step == 0 {
                        Ok(half)
                    } else {
                        tokio::task::yield_now().await;
                        Err(std::io::Error::other("fake cut"))
                    }
                }
            });
            let mut resp = Response::new(Body::from_stream(parts));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Failure::Stall(_) => {
            call.hang().await;
            json_response(503, &json!({ "error": "shutting down" }))
        }
        _ => json_response(200, value),
    }
}

/// A streamed answer of `frames`, with latency before each and the stream failures applied
/// (`CutStream(n)`: break the connection after n frames; `Stall(n)`: go silent after n).
pub(crate) fn stream_response(
    call: &Call,
    content_type: &'static str,
    frames: Vec<Bytes>,
) -> Response<Body> {
    let latency = call.cfg.latency;
    let failure = call.cfg.failure;
    let token = call.shutdown.clone();
    let stream = futures::stream::unfold(
        (frames.into_iter(), 0usize, false),
        move |(mut frames, sent, dead)| {
            let token = token.clone();
            async move {
                if dead {
                    return None;
                }
                match failure {
                    Failure::CutStream(n) if sent >= n => {
                        // Let the server flush what was sent before the connection breaks,
                        // as a real upstream dying mid-stream would have.
                        tokio::task::yield_now().await;
                        let err = std::io::Error::other("fake upstream cut the stream");
                        return Some((Err(err), (frames, sent, true)));
                    }
                    Failure::Stall(n) if sent >= n => {
                        token.cancelled().await;
                        return None;
                    }
                    _ => {}
                }
                let frame = frames.next()?;
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                Some((Ok(frame), (frames, sent + 1, false)))
            }
        },
    );
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `data: <json>\n\n` (or with `\r\n` line ends, as Gemini sends).
pub(crate) fn sse_data(value: &Value, crlf: bool) -> Bytes {
    if crlf {
        Bytes::from(format!("data: {value}\r\n\r\n"))
    } else {
        Bytes::from(format!("data: {value}\n\n"))
    }
}

/// `event: <name>\ndata: <json>\n\n`.
pub(crate) fn sse_named(event: &str, value: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {value}\n\n"))
}

/// The texts of an embeddings input (string or array of strings).
pub(crate) fn input_texts(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The fake's embedding vector for a text.
pub(crate) fn vector(cfg: &FakeConfig, text: &str) -> Vec<f32> {
    crate::adapters::mock::deterministic_vector(&cfg.label, text)
}

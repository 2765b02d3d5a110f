//! Gateway frames (protocol reference §1.2): one JSON object per WebSocket text message.
//!
//! Every object is closed (`deny_unknown_fields`), as in OpenClaw's schema. Parse text with
//! [`Frame::parse`] at the edge; it checks size limits first, never panics, and returns a typed
//! [`FrameError`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::codes::ErrorCode;

/// Largest frame accepted before the handshake completes (`MAX_PREAUTH_PAYLOAD_BYTES`).
pub const MAX_PREAUTH_FRAME_BYTES: usize = 65_536;
/// Largest frame accepted after the handshake (`MAX_PAYLOAD_BYTES`, 25 MiB).
pub const MAX_FRAME_BYTES: usize = 26_214_400;
/// Largest `traceparent` accepted on a request (v4).
pub const MAX_TRACEPARENT_CHARS: usize = 128;

/// Deserialises a present field as `Some`, even when it is JSON `null`, so `null` round-trips.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One gateway frame, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Frame {
    /// `"req"`: a method call.
    #[serde(rename = "req")]
    Req(RequestFrame),
    /// `"res"`: the answer to a request.
    #[serde(rename = "res")]
    Res(ResponseFrame),
    /// `"event"`: a server push.
    #[serde(rename = "event")]
    Event(EventFrame),
}

/// A request: `{type:"req", id, method, params?, traceparent?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFrame {
    /// Opaque non-empty id, echoed in the response.
    pub id: String,
    /// Non-empty method name.
    pub method: String,
    /// Method parameters; absent and `{}` mean the same to methods.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub params: Option<Value>,
    /// v4 W3C trace context (≤ 128 chars); honoured only after authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// A response: `{type:"res", id, ok, payload?, error?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFrame {
    /// The request id this answers.
    pub id: String,
    /// Success flag.
    pub ok: bool,
    /// Result on success.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<Value>,
    /// Failure description when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorShape>,
}

/// An event: `{type:"event", event, payload?, seq?, stateVersion?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFrame {
    /// Event name (`connect.challenge`, `tick`, `health`, …).
    pub event: String,
    /// Event body.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<Value>,
    /// Per-connection sequence number; absent on `connect.challenge` and targeted events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Presence/health state versions, attached to `presence` and `health` events.
    #[serde(
        default,
        rename = "stateVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_version: Option<StateVersion>,
}

/// `{presence, health}` counters (closed, integers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateVersion {
    /// Presence state version.
    pub presence: u64,
    /// Health state version.
    pub health: u64,
}

/// The `error` object of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorShape {
    /// Top-level code.
    pub code: ErrorCode,
    /// Human-readable message (clients sometimes match on it; keep the reference texts).
    pub message: String,
    /// Structured details; `details.code` is what clients branch on.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<Value>,
    /// Whether retrying may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Suggested retry delay.
    #[serde(
        default,
        rename = "retryAfterMs",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    /// An error with just a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorShape {
            code,
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }

    /// Adds `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Marks the error retryable after `after_ms`.
    pub fn with_retry_after(mut self, after_ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(after_ms);
        self
    }

    /// `details.code` parsed, when details is an object with a string `code`.
    pub fn detail_code(&self) -> Option<crate::codes::DetailCode> {
        self.details
            .as_ref()?
            .get("code")?
            .as_str()
            .map(crate::codes::DetailCode::parse)
    }
}

impl RequestFrame {
    /// A request with the given id, method and params.
    pub fn new(id: impl Into<String>, method: impl Into<String>, params: Option<Value>) -> Self {
        RequestFrame {
            id: id.into(),
            method: method.into(),
            params,
            traceparent: None,
        }
    }
}

impl ResponseFrame {
    /// A success response carrying `payload`.
    pub fn ok(id: impl Into<String>, payload: Value) -> Self {
        ResponseFrame {
            id: id.into(),
            ok: true,
            payload: Some(payload),
            error: None,
        }
    }

    /// A failure response carrying `error`.
    pub fn err(id: impl Into<String>, error: ErrorShape) -> Self {
        ResponseFrame {
            id: id.into(),
            ok: false,
            payload: None,
            error: Some(error),
        }
    }
}

impl EventFrame {
    /// An event without `seq` or `stateVersion` (the caller stamps `seq` per connection).
    pub fn new(event: impl Into<String>, payload: Option<Value>) -> Self {
        EventFrame {
            event: event.into(),
            payload,
            seq: None,
            state_version: None,
        }
    }

    /// Sets the per-connection sequence number.
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }

    /// Sets the state versions.
    pub fn with_state_version(mut self, sv: StateVersion) -> Self {
        self.state_version = Some(sv);
        self
    }
}

/// Why a text message is not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Larger than the applicable limit (checked before any parsing).
    #[error("frame too large: {len} bytes (limit {limit})")]
    TooLarge {
        /// Size of the text in bytes.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// Not syntactically valid JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// Valid JSON, but not a valid frame (wrong type, unknown field, missing field, …).
    #[error("invalid frame: {0}")]
    Invalid(String),
    /// A request or response with an empty `id`.
    #[error("invalid frame: id must be a non-empty string")]
    EmptyId,
    /// A request with an empty `method`.
    #[error("invalid frame: method must be a non-empty string")]
    EmptyMethod,
    /// An event with an empty `event` name.
    #[error("invalid frame: event must be a non-empty string")]
    EmptyEvent,
    /// A `traceparent` longer than 128 chars.
    #[error("invalid frame: traceparent longer than {MAX_TRACEPARENT_CHARS} characters")]
    TraceparentTooLong,
    /// An object key that serde_json reserves for its raw values: a frame holding one would
    /// not parse back once serialised (found by the `frame` fuzz target).
    #[error("invalid frame: the object key `{RESERVED_KEY}` is reserved")]
    ReservedKey,
}

/// The key serde_json (with the `raw_value` feature, which axum turns on) reads as "the
/// next value is raw JSON text" when it comes first in an object.
const RESERVED_KEY: &str = "$serde_json::private::RawValue";

/// Whether any object inside `v` has [`RESERVED_KEY`] (iterative: depth is bounded by
/// serde_json's recursion limit anyway, but no recursion is needed).
fn holds_reserved_key(v: &Value) -> bool {
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                if map.contains_key(RESERVED_KEY) {
                    return true;
                }
                todo.extend(map.values());
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    false
}

impl Frame {
    /// Parses a post-handshake frame (limit [`MAX_FRAME_BYTES`]).
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        Frame::parse_with_limit(text, MAX_FRAME_BYTES)
    }

    /// Parses a frame received before the handshake completed (limit
    /// [`MAX_PREAUTH_FRAME_BYTES`]; the gateway closes 1009 on [`FrameError::TooLarge`]).
    pub fn parse_preauth(text: &str) -> Result<Frame, FrameError> {
        Frame::parse_with_limit(text, MAX_PREAUTH_FRAME_BYTES)
    }

    /// Parses with an explicit byte limit, then checks the non-empty and length rules.
    pub fn parse_with_limit(text: &str, limit: usize) -> Result<Frame, FrameError> {
        if text.len() > limit {
            return Err(FrameError::TooLarge {
                len: text.len(),
                limit,
            });
        }
        let frame: Frame = serde_json::from_str(text).map_err(|e| {
            if e.is_syntax() || e.is_eof() || e.is_io() {
                return FrameError::Malformed(e.to_string());
            }
            // A type error can be raised before a later syntax error is reached (`[1,2`):
            // re-scan without building anything to classify the text correctly.
            match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(syntax) if !syntax.is_data() => FrameError::Malformed(syntax.to_string()),
                _ => FrameError::Invalid(e.to_string()),
            }
        })?;
        frame.check()?;
        Ok(frame)
    }

    /// The rules serde cannot express: non-empty id/method/event, traceparent length, no
    /// reserved object key.
    pub fn check(&self) -> Result<(), FrameError> {
        let values = match self {
            Frame::Req(r) => [r.params.as_ref(), None],
            Frame::Res(r) => [
                r.payload.as_ref(),
                r.error.as_ref().and_then(|e| e.details.as_ref()),
            ],
            Frame::Event(e) => [e.payload.as_ref(), None],
        };
        if values.into_iter().flatten().any(holds_reserved_key) {
            return Err(FrameError::ReservedKey);
        }
        match self {
            Frame::Req(r) => {
                if r.id.is_empty() {
                    return Err(FrameError::EmptyId);
                }
                if r.method.is_empty() {
                    return Err(FrameError::EmptyMethod);
                }
                if r.traceparent
                    .as_ref()
                    .is_some_and(|t| t.chars().count() > MAX_TRACEPARENT_CHARS)
                {
                    return Err(FrameError::TraceparentTooLong);
                }
            }
            Frame::Res(r) if r.id.is_empty() => return Err(FrameError::EmptyId),
            Frame::Event(e) if e.event.is_empty() => return Err(FrameError::EmptyEvent),
            _ => {}
        }
        Ok(())
    }

    /// Serialises to compact JSON text for sending.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: all map keys are strings.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&RequestFrame> {
        match self {
            Frame::Req(r) => Some(r),
            _ => None,
        }
    }
}

impl From<RequestFrame> for Frame {
    fn from(r: RequestFrame) -> Self {
        Frame::Req(r)
    }
}

impl From<ResponseFrame> for Frame {
    fn from(r: ResponseFrame) -> Self {
        Frame::Res(r)
    }
}

impl From<EventFrame> for Frame {
    fn from(e: EventFrame) -> Self {
        Frame::Event(e)
    }
}

/// Best-effort id of an invalid frame, for the `invalid request frame: …` response (which
/// uses the frame's `id`, or `"invalid"` when there is none). Respects the size limit.
pub fn salvage_id(text: &str, limit: usize) -> String {
    if text.len() <= limit
        && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text)
        && let Some(Value::String(id)) = map.get("id")
        && !id.is_empty()
    {
        return id.clone();
    }
    "invalid".to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_raw_value_key_is_refused_anywhere() {
        // Found by the `frame` fuzz target: accepted with the key second, it serialised with
        // the key first (sorted) and that did not parse back.
        for text in [
            r#"{"type":"res","id":"a","ok":true,"payload":{"x":189,"$serde_json::private::RawValue":2}}"#,
            r#"{"type":"req","id":"a","method":"m","params":[{"x":{"a":1,"\u0024serde_json::private::RawValue":"1"}}]}"#,
            r#"{"type":"event","event":"e","payload":{"a":[1,{"b":1,"$serde_json::private::RawValue":null}]}}"#,
        ] {
            assert_eq!(
                Frame::parse(text).unwrap_err(),
                FrameError::ReservedKey,
                "{text}"
            );
        }
        // First in its object, the key is serde_json's own when its `raw_value` feature is on
        // (axum turns it on in the workspace): a value that is no JSON text is refused either
        // way (ReservedKey without the feature, Invalid with it).
        let first =
            r#"{"type":"event","event":"e","payload":{"$serde_json::private::RawValue":null}}"#;
        assert!(Frame::parse(first).is_err());
        let fine = r#"{"type":"res","id":"a","ok":true,"payload":{"x":1,"$other":2}}"#;
        let back = Frame::parse(fine).unwrap().to_json();
        assert!(Frame::parse(&back).is_ok());
    }

    #[test]
    fn parses_the_three_kinds() {
        let f = Frame::parse(r#"{"type":"req","id":"1","method":"health"}"#).unwrap();
        assert_eq!(f, Frame::Req(RequestFrame::new("1", "health", None)));
        let f = Frame::parse(r#"{"type":"res","id":"1","ok":true,"payload":{}}"#).unwrap();
        assert_eq!(f, Frame::Res(ResponseFrame::ok("1", json!({}))));
        let f =
            Frame::parse(r#"{"type":"event","event":"tick","payload":{"ts":1},"seq":3}"#).unwrap();
        assert_eq!(
            f,
            Frame::Event(EventFrame::new("tick", Some(json!({"ts":1}))).with_seq(3))
        );
    }

    #[test]
    fn null_params_round_trip() {
        let text = r#"{"type":"req","id":"1","method":"m","params":null}"#;
        let f = Frame::parse(text).unwrap();
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn rejects_bad_frames_with_typed_errors() {
        assert!(matches!(Frame::parse("{"), Err(FrameError::Malformed(_))));
        assert!(matches!(Frame::parse(""), Err(FrameError::Malformed(_))));
        assert!(matches!(Frame::parse("[]"), Err(FrameError::Invalid(_))));
        assert!(matches!(
            Frame::parse(r#"{"type":"nope"}"#),
            Err(FrameError::Invalid(_))
        ));
        assert!(matches!(
            Frame::parse(r#"{"type":"req","id":"1","method":"m","extra":1}"#),
            Err(FrameError::Invalid(_))
        ));
        assert_eq!(
            Frame::parse(r#"{"type":"req","id":"","method":"m"}"#),
            Err(FrameError::EmptyId)
        );
        assert_eq!(
            Frame::parse(r#"{"type":"req","id":"1","method":""}"#),
            Err(FrameError::EmptyMethod)
        );
        assert_eq!(
            Frame::parse(r#"{"type":"event","event":""}"#),
            Err(FrameError::EmptyEvent)
        );
        let tp = "0".repeat(129);
        let text = format!(r#"{{"type":"req","id":"1","method":"m","traceparent":"{tp}"}}"#);
        assert_eq!(Frame::parse(&text), Err(FrameError::TraceparentTooLong));
        assert!(matches!(
            Frame::parse(
                r#"{"type":"event","event":"e","stateVersion":{"presence":1,"health":1.5}}"#
            ),
            Err(FrameError::Invalid(_))
        ));
        assert!(matches!(
            Frame::parse(r#"{"type":"event","event":"e","seq":-1}"#),
            Err(FrameError::Invalid(_))
        ));
        assert!(matches!(
            Frame::parse(
                r#"{"type":"res","id":"1","ok":false,"error":{"code":"X","message":"m","x":1}}"#
            ),
            Err(FrameError::Invalid(_))
        ));
    }

    #[test]
    fn size_limits_apply_before_parsing() {
        let big = format!(
            r#"{{"type":"req","id":"1","method":"m","params":"{}"}}"#,
            "x".repeat(70_000)
        );
        assert!(matches!(
            Frame::parse_preauth(&big),
            Err(FrameError::TooLarge { limit: 65_536, .. })
        ));
        assert!(Frame::parse(&big).is_ok());
        assert!(matches!(
            Frame::parse_with_limit("{}", 1),
            Err(FrameError::TooLarge { len: 2, limit: 1 })
        ));
    }

    #[test]
    fn salvages_ids() {
        assert_eq!(salvage_id(r#"{"id":"abc","type":"x"}"#, 100), "abc");
        assert_eq!(salvage_id("nope", 100), "invalid");
        assert_eq!(salvage_id(r#"{"id":""}"#, 100), "invalid");
    }
}

//! Anthropic Messages wire types (private): the request, the buffered answer and the
//! stream events. Stream events borrow their strings from the read buffer when unescaped.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/messages` body.
#[derive(Debug, Serialize)]
pub(super) struct Request<'a> {
    pub model: &'a str,
    pub messages: Vec<Turn<'a>>,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
}

/// One conversation turn.
#[derive(Debug, Serialize)]
pub(super) struct Turn<'a> {
    pub role: &'static str,
    pub content: Vec<Block<'a>>,
}

/// A content block of a request turn.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block<'a> {
    Text {
        text: String,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: String,
    },
}

/// A tool offered to the model.
#[derive(Debug, Serialize)]
pub(super) struct ToolDef<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: Value,
}

/// `tool_choice`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ToolChoice<'a> {
    Auto,
    None,
    Any,
    Tool { name: &'a str },
}

/// Token counts (request-side cache reads and writes count as input).
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Input tokens including cache reads and writes.
    pub fn input(&self) -> Option<u64> {
        Some(
            self.input_tokens?
                + self.cache_creation_input_tokens.unwrap_or(0)
                + self.cache_read_input_tokens.unwrap_or(0),
        )
    }
}

/// The buffered answer.
#[derive(Debug, Deserialize)]
pub(super) struct Message {
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<String>,
    pub usage: Option<WireUsage>,
}

/// A content block of the buffered answer.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    #[serde(other)]
    Other,
}

/// One stream event; which fields are set depends on `type`.
#[derive(Debug, Deserialize)]
pub(super) struct Event<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub index: u64,
    #[serde(default, borrow)]
    pub delta: Option<EventDelta<'a>>,
    #[serde(default, borrow)]
    pub content_block: Option<StartBlock<'a>>,
    #[serde(default)]
    pub message: Option<StartMessage>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// `delta` of `content_block_delta` (text or tool JSON) and of `message_delta`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub stop_reason: Option<Cow<'a, str>>,
}

/// `content_block` of `content_block_start`.
#[derive(Debug, Deserialize)]
pub(super) struct StartBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
}

/// `message` of `message_start`.
#[derive(Debug, Deserialize)]
pub(super) struct StartMessage {
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// `GET /v1/models`.
#[derive(Debug, Deserialize)]
pub(super) struct Models {
    pub data: Vec<ModelEntry>,
}

/// One model of the list.
#[derive(Debug, Deserialize)]
pub(super) struct ModelEntry {
    pub id: String,
}

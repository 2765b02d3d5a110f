//! OpenAI Responses API wire types: the `POST /v1/responses` body, the `response` object and
//! the stream events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::NamedEvent;
use crate::types::Extra;

/// `POST /v1/responses` body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CreateResponse {
    #[serde(default)]
    pub model: Option<String>,
    pub input: Input,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<ToolDef>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    /// Everything else; refused unless ignorable (see `responses::IGNORABLE`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input`: a string or a list of items.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Input {
    Text(String),
    Items(Vec<InputItem>),
}

/// One input item. Messages may omit `type` (the "easy" input message), so the item is one
/// struct whose `type` picks which fields count.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InputItem {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<ItemContent>,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
    #[serde(default)]
    pub output: Option<ItemContent>,
}

/// A message's content (or a tool output): a string or typed parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum ItemContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One content part of an input message.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// A tool offered to the model (only `function` tools translate).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToolDef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode or `{"type":"function","name":…}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum ToolChoice {
    Mode(String),
    Function {
        #[serde(rename = "type")]
        kind: String,
        name: String,
    },
}

/// `text`: only plain text output translates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TextConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
}

/// `text.format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TextFormat {
    #[serde(rename = "type")]
    pub kind: String,
}

/// The `response` object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResponseObject {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub status: &'static str,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub usage: Option<ResponseUsage>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub parallel_tool_calls: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub tool_choice: Value,
    pub tools: Vec<ToolDef>,
    pub text: TextConfig,
    pub truncation: &'static str,
    pub metadata: Value,
}

/// Why a response failed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResponseError {
    pub code: String,
    pub message: String,
}

/// Why a response is incomplete.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IncompleteDetails {
    pub reason: &'static str,
}

/// One output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
}

/// An `output_text` content part.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: Vec::new(),
        }
    }
}

/// Token usage in the Responses shape.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResponseUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub input_tokens_details: CachedTokens,
    pub output_tokens_details: ReasoningTokens,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CachedTokens {
    pub cached_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReasoningTokens {
    pub reasoning_tokens: u64,
}

/// One stream event (`sequence_number` numbers them from 0).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StreamEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sequence_number: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The fields of a stream event besides `type` and `sequence_number`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum EventBody {
    Response {
        response: Box<ResponseObject>,
    },
    Item {
        output_index: usize,
        item: OutputItem,
    },
    Part {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: OutputText,
    },
    TextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: Vec<Value>,
    },
    TextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: Vec<Value>,
    },
    ArgsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    ArgsDone {
        item_id: String,
        output_index: usize,
        name: String,
        arguments: String,
    },
    Error {
        code: String,
        message: String,
        param: Option<String>,
    },
}

impl NamedEvent for StreamEvent {
    fn name(&self) -> &'static str {
        self.kind
    }
}

//! Anthropic native: `POST /v1/messages` (SSE events when streaming), `GET /v1/models`;
//! key in `x-api-key`, `anthropic-version` from the profile. No embeddings.
//!
//! Mapping: system/developer messages → top-level `system`; user and assistant text →
//! `text` blocks; assistant tool calls → `tool_use` blocks (object `input`); tool results →
//! `tool_result` blocks in a user turn; consecutive same-role turns are merged;
//! `max_tokens` defaults to [`DEFAULT_MAX_TOKENS`] (Anthropic requires it); `stop` →
//! `stop_sequences`; tools → `input_schema`; `tool_choice` → `auto`/`none`/`any`/`tool`.
//! `stop_reason` `end_turn`/`stop_sequence` → `stop`, `max_tokens` → `length`, `tool_use` →
//! `tool_calls`, `refusal` → `content_filter`. Stream events `message_start`,
//! `content_block_start/delta`, `message_delta`, `message_stop`, `error` → OpenAI chunks.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::json;

use super::anthropic_wire::{
    Block, ContentBlock, Event, Message, Models, Request, ToolChoice as WireChoice, ToolDef, Turn,
    WireUsage,
};
use super::mapping::{check_request, content_text, function_tools, parse_arguments};
use super::{Adapter, ChunkHead, model_of, one_choice};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{ByteStream, FrameStream, SseEvent, Translate, lines, sse_events, translate};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Delta, FinishReason, FunctionCall, FunctionCallDelta,
    ModelList, ModelObject, Role, ToolCall, ToolCallDelta, ToolChoice, ToolChoiceMode, Usage,
};
use crate::upstream::{Upstream, extract_message};

/// `max_tokens` sent when the caller set none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

fn push_blocks<'a>(turns: &mut Vec<Turn<'a>>, role: &'static str, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn {
            role,
            content: blocks,
        }),
    }
}

fn build<'a>(
    route: &Route,
    req: &'a ChatRequest,
    stream: bool,
) -> Result<Request<'a>, ProviderError> {
    let kind = route.kind;
    check_request(kind, req, &[])?;
    let mut system = Vec::new();
    let mut turns: Vec<Turn<'a>> = Vec::new();
    for m in &req.messages {
        let text = content_text(kind, m.content.as_ref())?;
        match m.role {
            Role::System | Role::Developer => system.push(text),
            Role::User => {
                let blocks = (!text.is_empty()).then_some(Block::Text { text });
                push_blocks(&mut turns, "user", blocks.into_iter().collect());
            }
            Role::Assistant => {
                let mut blocks: Vec<Block<'a>> = (!text.is_empty())
                    .then_some(Block::Text { text })
                    .into_iter()
                    .collect();
                for c in m.tool_calls.iter().flatten() {
                    blocks.push(Block::ToolUse {
                        id: &c.id,
                        name: &c.function.name,
                        input: parse_arguments(&c.function.arguments)?,
                    });
                }
                push_blocks(&mut turns, "assistant", blocks);
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    ProviderError::InvalidRequest("a tool message needs `tool_call_id`".into())
                })?;
                let block = Block::ToolResult {
                    tool_use_id: id,
                    content: text,
                };
                push_blocks(&mut turns, "user", vec![block]);
            }
        }
    }
    if turns.is_empty() {
        return Err(ProviderError::InvalidRequest(
            "Anthropic needs at least one non-empty user or assistant message".into(),
        ));
    }
    let tools = function_tools(kind, req)?
        .iter()
        .map(|t| ToolDef {
            name: &t.function.name,
            description: t.function.description.as_deref(),
            input_schema: t
                .function
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        })
        .collect();
    let tool_choice = req.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::Mode(ToolChoiceMode::Auto) => WireChoice::Auto,
        ToolChoice::Mode(ToolChoiceMode::None) => WireChoice::None,
        ToolChoice::Mode(ToolChoiceMode::Required) => WireChoice::Any,
        ToolChoice::Named(n) => WireChoice::Tool {
            name: &n.function.name,
        },
    });
    Ok(Request {
        model: model_of(&req.model),
        messages: turns,
        max_tokens: req.max_output_tokens().unwrap_or(DEFAULT_MAX_TOKENS),
        stream,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        tools,
        tool_choice,
    })
}

fn map_stop(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// The Anthropic Messages adapter.
#[derive(Debug)]
pub(crate) struct Anthropic;

#[async_trait]
impl Adapter for Anthropic {
    async fn chat(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = build(route, &req, false)?;
        let url = Upstream::url(route, "/v1/messages")?;
        let msg: Message = up.post_json(route, &url, &body).await?;
        let mut text = String::new();
        let mut calls = Vec::new();
        for block in msg.content {
            match block {
                ContentBlock::Text { text: t } => text.push_str(&t),
                ContentBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                    id,
                    kind: "function".to_string(),
                    function: FunctionCall {
                        name,
                        arguments: input.unwrap_or_else(|| json!({})).to_string(),
                    },
                }),
                ContentBlock::Other => {}
            }
        }
        let usage = msg
            .usage
            .map(|u| Usage::new(u.input().unwrap_or(0), u.output_tokens.unwrap_or(0)));
        let finish = map_stop(msg.stop_reason.as_deref());
        Ok(one_choice(&req, text, calls, finish, usage))
    }

    async fn chat_stream(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let body = build(route, &req, true)?;
        let url = Upstream::url(route, "/v1/messages")?;
        let bytes = up.post_stream(route, &url, &body).await?;
        Ok(stream_frames(
            bytes,
            &req,
            route.kind,
            up.limits().max_response_body,
        ))
    }

    async fn models(&self, up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
        let url = Upstream::url(route, "/v1/models?limit=1000")?;
        let list: Models = up.get_json(route, &url).await?;
        let models = list
            .data
            .into_iter()
            .map(|m| ModelObject::new(m.id, "anthropic"))
            .collect();
        Ok(ModelList::new(models))
    }
}

/// Anthropic's SSE stream → frames; a line longer than `max_line` ends it with an error.
pub(crate) fn stream_frames(
    bytes: ByteStream,
    req: &ChatRequest,
    provider: ProviderKind,
    max_line: usize,
) -> FrameStream {
    let tr = AnthropicSse {
        provider,
        head: ChunkHead::new(req),
        tools: HashMap::new(),
        input_tokens: 0,
        output_tokens: 0,
        stop_reason: None,
    };
    translate(sse_events(lines(bytes, max_line)), tr)
}

struct AnthropicSse {
    provider: ProviderKind,
    head: ChunkHead,
    /// Content block index → tool call index.
    tools: HashMap<u64, u32>,
    input_tokens: u64,
    output_tokens: u64,
    stop_reason: Option<FinishReason>,
}

impl AnthropicSse {
    fn text(&mut self, text: &str) -> Option<ChatChunk> {
        (!text.is_empty()).then(|| {
            self.head.chunk(Delta {
                content: Some(text.to_string()),
                ..Delta::default()
            })
        })
    }

    fn tool(&mut self, call: ToolCallDelta) -> ChatChunk {
        self.head.chunk(Delta {
            tool_calls: Some(vec![call]),
            ..Delta::default()
        })
    }

    fn usage(&mut self, u: &WireUsage) {
        if let Some(o) = u.output_tokens {
            self.output_tokens = o;
        }
        if let Some(i) = u.input().filter(|i| *i > 0) {
            self.input_tokens = i;
        }
    }
}

impl Translate for AnthropicSse {
    type Event = SseEvent;

    fn event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<bool, ProviderError> {
        if ev.data.trim_ascii().is_empty() {
            return Ok(false);
        }
        let v: Event<'_> = serde_json::from_slice(&ev.data)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad event: {e}")))?;
        match &*v.kind {
            "message_start" => {
                if let Some(u) = v.message.and_then(|m| m.usage) {
                    self.input_tokens = u.input().unwrap_or(0);
                    self.output_tokens = u.output_tokens.unwrap_or(0);
                }
            }
            "content_block_start" => match v.content_block {
                Some(b) if b.kind == "text" => {
                    out.extend(self.text(b.text.as_deref().unwrap_or("")));
                }
                Some(b) if b.kind == "tool_use" => {
                    let tool_index = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                    self.tools.insert(v.index, tool_index);
                    let call = ToolCallDelta {
                        index: tool_index,
                        id: b.id.map(Into::into),
                        kind: Some("function".to_string()),
                        function: Some(FunctionCallDelta {
                            name: b.name.map(Into::into),
                            arguments: Some(String::new()),
                        }),
                    };
                    out.push(self.tool(call));
                }
                _ => {}
            },
            "content_block_delta" => {
                let delta = v.delta.unwrap_or_default();
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        out.extend(self.text(delta.text.as_deref().unwrap_or("")))
                    }
                    Some("input_json_delta") => {
                        let tool_index = self.tools.get(&v.index).copied().ok_or_else(|| {
                            ProviderError::protocol(
                                self.provider,
                                "input_json_delta for a non-tool block",
                            )
                        })?;
                        let call = ToolCallDelta {
                            index: tool_index,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(delta.partial_json.unwrap_or_default().into()),
                            }),
                            ..ToolCallDelta::default()
                        };
                        out.push(self.tool(call));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v.delta.and_then(|d| d.stop_reason) {
                    self.stop_reason = Some(map_stop(Some(&r)));
                }
                if let Some(u) = &v.usage {
                    self.usage(u);
                }
            }
            "message_stop" => {
                let mut last = self.head.chunk(Delta::default());
                if let Some(choice) = last.choices.first_mut() {
                    choice.finish_reason = Some(self.stop_reason.unwrap_or(FinishReason::Stop));
                }
                last.usage = Some(Usage::new(self.input_tokens, self.output_tokens));
                out.push(last);
                return Ok(true);
            }
            "error" => {
                return Err(ProviderError::protocol(
                    self.provider,
                    format!("upstream stream error: {}", extract_message(&ev.data)),
                ));
            }
            _ => {}
        }
        Ok(false)
    }

    fn end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        Err(ProviderError::protocol(
            self.provider,
            "stream ended before message_stop",
        ))
    }
}

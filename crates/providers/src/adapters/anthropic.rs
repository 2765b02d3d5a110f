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

use serde_json::{Value, json};

use super::{ChunkHead, check_request, content_text, function_tools, parse_arguments};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{
    ChatStream, SseEvent, Translate, completion_id, lines, now_secs, sse_events, translate,
};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, Delta, Extra, FinishReason, FunctionCall,
    FunctionCallDelta, ModelList, ModelObject, ResponseMessage, Role, ToolCall, ToolCallDelta,
    ToolChoice, ToolChoiceMode, Usage,
};
use crate::upstream::{Upstream, extract_message};

/// `max_tokens` sent when the caller set none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

fn push_blocks(
    turns: &mut Vec<(&'static str, Vec<Value>)>,
    role: &'static str,
    blocks: Vec<Value>,
) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

fn build(route: &Route, req: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    let kind = route.kind;
    check_request(kind, req, &[])?;
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let text = content_text(kind, m.content.as_ref())?;
        let text_block = (!text.is_empty()).then(|| json!({"type": "text", "text": text}));
        match m.role {
            Role::System | Role::Developer => system.push(text),
            Role::User => push_blocks(&mut turns, "user", text_block.into_iter().collect()),
            Role::Assistant => {
                let mut blocks: Vec<Value> = text_block.into_iter().collect();
                for c in m.tool_calls.iter().flatten() {
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.function.name,
                        "input": parse_arguments(&c.function.arguments)?}),
                    );
                }
                push_blocks(&mut turns, "assistant", blocks);
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().ok_or_else(|| {
                    ProviderError::InvalidRequest("a tool message needs `tool_call_id`".into())
                })?;
                let block = json!({"type": "tool_result", "tool_use_id": id, "content": text});
                push_blocks(&mut turns, "user", vec![block]);
            }
        }
    }
    if turns.is_empty() {
        return Err(ProviderError::InvalidRequest(
            "Anthropic needs at least one non-empty user or assistant message".into(),
        ));
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": route.model,
        "messages": messages,
        "max_tokens": req.max_output_tokens().unwrap_or(DEFAULT_MAX_TOKENS),
    });
    if stream {
        body["stream"] = json!(true);
    }
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = req.top_p {
        body["top_p"] = json!(p);
    }
    if let Some(stop) = &req.stop {
        body["stop_sequences"] = json!(stop.to_vec());
    }
    let tools = function_tools(kind, req)?;
    if !tools.is_empty() {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut out = json!({"name": t.function.name,
                    "input_schema": t.function.parameters.clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}}))});
                if let Some(d) = &t.function.description {
                    out["description"] = json!(d);
                }
                out
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    if let Some(choice) = &req.tool_choice {
        body["tool_choice"] = match choice {
            ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"type": "auto"}),
            ToolChoice::Mode(ToolChoiceMode::None) => json!({"type": "none"}),
            ToolChoice::Mode(ToolChoiceMode::Required) => json!({"type": "any"}),
            ToolChoice::Named(n) => json!({"type": "tool", "name": n.function.name}),
        };
    }
    Ok(body)
}

fn map_stop(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Input tokens including cache reads and writes.
fn input_tokens(usage: &Value) -> Option<u64> {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64);
    let base = n("input_tokens")?;
    Some(
        base + n("cache_creation_input_tokens").unwrap_or(0)
            + n("cache_read_input_tokens").unwrap_or(0),
    )
}

pub(crate) async fn chat(
    up: &Upstream,
    route: &Route,
    req: ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    let body = build(route, &req, false)?;
    let url = Upstream::url(route, "/v1/messages")?;
    let v: Value = up.post_json(route, &url, &body).await?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => calls.push(ToolCall {
                id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                kind: "function".to_string(),
                function: FunctionCall {
                    name: block
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    arguments: block
                        .get("input")
                        .cloned()
                        .unwrap_or_else(|| json!({}))
                        .to_string(),
                },
            }),
            _ => {}
        }
    }
    let had_tools = !calls.is_empty();
    let usage = v.get("usage").map(|u| {
        Usage::new(
            input_tokens(u).unwrap_or(0),
            u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
        )
    });
    Ok(ChatResponse {
        id: completion_id(),
        object: "chat.completion".to_string(),
        created: now_secs(),
        model: route.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".to_string(),
                content: (!text.is_empty() || !had_tools).then_some(text),
                tool_calls: had_tools.then_some(calls),
                extra: Extra::new(),
            },
            finish_reason: Some(map_stop(v.get("stop_reason").and_then(Value::as_str))),
            extra: Extra::new(),
        }],
        usage,
        extra: Extra::new(),
    })
}

pub(crate) async fn chat_stream(
    up: &Upstream,
    route: &Route,
    req: ChatRequest,
) -> Result<ChatStream, ProviderError> {
    let body = build(route, &req, true)?;
    let url = Upstream::url(route, "/v1/messages")?;
    let bytes = up.post_stream(route, &url, &body).await?;
    let tr = AnthropicSse {
        provider: route.kind,
        head: ChunkHead::new(route),
        tools: HashMap::new(),
        input_tokens: 0,
        output_tokens: 0,
        stop_reason: None,
    };
    Ok(translate(
        sse_events(lines(bytes, up.limits().max_response_body)),
        tr,
    ))
}

struct AnthropicSse {
    provider: ProviderKind,
    head: ChunkHead,
    /// Content block index → tool call index.
    tools: HashMap<u64, u32>,
    input_tokens: u64,
    output_tokens: u64,
    stop_reason: Option<String>,
}

impl AnthropicSse {
    fn chunk(&mut self, delta: Delta) -> ChatChunk {
        self.head.chunk(delta)
    }

    fn text(&mut self, text: &str) -> ChatChunk {
        self.chunk(Delta {
            content: Some(text.to_string()),
            ..Delta::default()
        })
    }

    fn tool(&mut self, call: ToolCallDelta) -> ChatChunk {
        self.chunk(Delta {
            tool_calls: Some(vec![call]),
            ..Delta::default()
        })
    }
}

impl Translate for AnthropicSse {
    type Event = SseEvent;

    fn event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<bool, ProviderError> {
        if ev.data.trim().is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad event: {e}")))?;
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.input_tokens = input_tokens(u).unwrap_or(0);
                    self.output_tokens =
                        u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
                }
            }
            "content_block_start" => {
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            let chunk = self.text(text);
                            out.push(chunk);
                        }
                    }
                    Some("tool_use") => {
                        let tool_index = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                        self.tools.insert(index, tool_index);
                        let call = ToolCallDelta {
                            index: tool_index,
                            id: block.get("id").and_then(Value::as_str).map(str::to_string),
                            kind: Some("function".to_string()),
                            function: Some(FunctionCallDelta {
                                name: block
                                    .get("name")
                                    .and_then(Value::as_str)
                                    .map(str::to_string),
                                arguments: Some(String::new()),
                            }),
                        };
                        let chunk = self.tool(call);
                        out.push(chunk);
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            let chunk = self.text(text);
                            out.push(chunk);
                        }
                    }
                    Some("input_json_delta") => {
                        let tool_index = self.tools.get(&index).copied().ok_or_else(|| {
                            ProviderError::protocol(
                                self.provider,
                                "input_json_delta for a non-tool block",
                            )
                        })?;
                        let partial = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let call = ToolCallDelta {
                            index: tool_index,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(partial.to_string()),
                            }),
                            ..ToolCallDelta::default()
                        };
                        let chunk = self.tool(call);
                        out.push(chunk);
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(r.to_string());
                }
                if let Some(u) = v.get("usage") {
                    if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
                        self.output_tokens = o;
                    }
                    if let Some(i) = input_tokens(u).filter(|i| *i > 0) {
                        self.input_tokens = i;
                    }
                }
            }
            "message_stop" => {
                let mut last = self.chunk(Delta::default());
                if let Some(choice) = last.choices.first_mut() {
                    choice.finish_reason = Some(map_stop(self.stop_reason.as_deref()));
                }
                last.usage = Some(Usage::new(self.input_tokens, self.output_tokens));
                out.push(last);
                return Ok(true);
            }
            "error" => {
                return Err(ProviderError::protocol(
                    self.provider,
                    format!(
                        "upstream stream error: {}",
                        extract_message(ev.data.as_bytes())
                    ),
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

pub(crate) async fn models(up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
    let url = Upstream::url(route, "/v1/models?limit=1000")?;
    let v: Value = up.get_json(route, &url).await?;
    let models = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::protocol(route.kind, "model list without `data`"))?
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str))
        .map(|id| ModelObject::new(id, "anthropic"))
        .collect();
    Ok(ModelList::new(models))
}

//! Ollama native: `/api/chat` (NDJSON streaming), `/api/tags`, `/api/embed`.
//!
//! Mapping: roles map one to one (`developer` → `system`); `temperature`, `top_p`,
//! `max_tokens` (→ `num_predict`), `stop`, `seed`, penalties go into `options`;
//! `response_format` json → `format`; tools are OpenAI-shaped already, tool call arguments
//! are objects (not strings) and tool results carry `tool_name`. `done_reason` `length` →
//! `length`, a reply with tool calls → `tool_calls`, anything else → `stop`;
//! `prompt_eval_count`/`eval_count` → usage. Ollama has no `tool_choice`: `required` or a
//! named function is refused; `none` drops the tools.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use async_trait::async_trait;

use super::mapping::{
    check_request, content_text, function_tools, new_call_id, parse_arguments, tool_names_by_id,
};
use super::{Adapter, ChunkHead, model_of, one_choice};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{ByteStream, FrameStream, Translate, lines, translate};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Delta, EmbeddingsRequest, EmbeddingsResponse,
    FinishReason, FunctionCall, FunctionCallDelta, ModelList, ModelObject, Role, ToolCall,
    ToolCallDelta, ToolChoice, ToolChoiceMode, Usage,
};
use crate::upstream::{Upstream, extract_message};

const UNDERSTOOD: &[&str] = &[
    "seed",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
];

fn build(route: &Route, req: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    let kind = route.kind;
    check_request(kind, req, UNDERSTOOD)?;
    let names = tool_names_by_id(&req.messages);
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let role = match m.role {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let mut msg = json!({"role": role, "content": content_text(kind, m.content.as_ref())?});
        if let Some(calls) = &m.tool_calls {
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                out.push(json!({"function": {
                    "name": c.function.name,
                    "arguments": parse_arguments(&c.function.arguments)?,
                }}));
            }
            msg["tool_calls"] = Value::Array(out);
        }
        let tool_name = m.tool_call_id.as_deref().and_then(|id| names.get(id));
        if let (Role::Tool, Some(name)) = (m.role, tool_name) {
            msg["tool_name"] = json!(name);
        }
        messages.push(msg);
    }
    let mut body = json!({"model": model_of(&req.model), "messages": messages, "stream": stream});
    let tools = function_tools(kind, req)?;
    let send_tools = match &req.tool_choice {
        None | Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => true,
        Some(ToolChoice::Mode(ToolChoiceMode::None)) => false,
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => {
            return Err(ProviderError::unsupported(kind, "tool_choice `required`"));
        }
        Some(ToolChoice::Named(_)) => {
            return Err(ProviderError::unsupported(
                kind,
                "tool_choice naming a function",
            ));
        }
    };
    if send_tools && !tools.is_empty() {
        body["tools"] = serde_json::to_value(tools)
            .map_err(|e| ProviderError::Internal(format!("tools: {e}")))?;
    }
    let mut options = Map::new();
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        options.insert("top_p".into(), json!(p));
    }
    if let Some(max) = req.max_output_tokens() {
        options.insert("num_predict".into(), json!(max));
    }
    if let Some(stop) = &req.stop {
        options.insert("stop".into(), json!(stop.to_vec()));
    }
    for key in ["seed", "frequency_penalty", "presence_penalty"] {
        if let Some(v) = req.extra.get(key).filter(|v| !v.is_null()) {
            options.insert(key.into(), v.clone());
        }
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    if let Some(format) = req.extra.get("response_format").filter(|v| !v.is_null()) {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => body["format"] = json!("json"),
            Some("json_schema") => match format.pointer("/json_schema/schema") {
                Some(schema) => body["format"] = schema.clone(),
                None => {
                    return Err(ProviderError::InvalidRequest(
                        "response_format json_schema needs `json_schema.schema`".into(),
                    ));
                }
            },
            _ => return Err(ProviderError::unsupported(kind, "this response_format")),
        }
    }
    Ok(body)
}

#[derive(Debug, Default, Deserialize)]
struct OllamaToolFn {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Debug, Default, Deserialize)]
struct OllamaToolCall {
    function: OllamaToolFn,
}

#[derive(Debug, Default, Deserialize)]
struct OllamaMessage {
    #[serde(default)]
    content: String,
    #[serde(default)]
    tool_calls: Vec<OllamaToolCall>,
}

#[derive(Debug, Default, Deserialize)]
struct OllamaChat {
    #[serde(default)]
    message: Option<OllamaMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    error: Option<Value>,
}

fn arguments_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

fn finish(done_reason: Option<&str>, had_tools: bool) -> FinishReason {
    if had_tools {
        FinishReason::ToolCalls
    } else if done_reason == Some("length") {
        FinishReason::Length
    } else {
        FinishReason::Stop
    }
}

/// The Ollama native adapter.
#[derive(Debug)]
pub(crate) struct Ollama;

#[async_trait]
impl Adapter for Ollama {
    async fn chat(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = build(route, &req, false)?;
        let url = Upstream::url(route, "/api/chat")?;
        let resp: OllamaChat = up.post_json(route, &url, &body).await?;
        if let Some(err) = resp.error {
            return Err(upstream_stream_error(route.kind, &err));
        }
        let msg = resp.message.unwrap_or_default();
        let calls: Vec<ToolCall> = msg
            .tool_calls
            .iter()
            .map(|c| ToolCall {
                id: new_call_id(),
                kind: "function".to_string(),
                function: FunctionCall {
                    name: c.function.name.clone(),
                    arguments: arguments_string(&c.function.arguments),
                },
            })
            .collect();
        let finish = finish(resp.done_reason.as_deref(), !calls.is_empty());
        let usage = Usage::new(
            resp.prompt_eval_count.unwrap_or(0),
            resp.eval_count.unwrap_or(0),
        );
        Ok(one_choice(&req, msg.content, calls, finish, Some(usage)))
    }

    async fn chat_stream(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let body = build(route, &req, true)?;
        let url = Upstream::url(route, "/api/chat")?;
        let bytes = up.post_stream(route, &url, &body).await?;
        Ok(stream_frames(
            bytes,
            &req,
            route.kind,
            up.limits().max_response_body,
        ))
    }

    async fn models(&self, up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
        let url = Upstream::url(route, "/api/tags")?;
        let tags: OllamaTags = up.get_json(route, &url).await?;
        let models = tags
            .models
            .into_iter()
            .filter_map(|m| m.name.or(m.model))
            .map(|name| ModelObject::new(name, "ollama"))
            .collect();
        Ok(ModelList::new(models))
    }

    async fn embeddings(
        &self,
        up: &Upstream,
        route: &Route,
        req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        req.check_native(route.kind)?;
        let texts = req.texts(route.kind)?;
        let model = model_of(&req.model);
        let mut body = json!({"model": model, "input": texts});
        if let Some(d) = req.dimensions {
            body["dimensions"] = json!(d);
        }
        let url = Upstream::url(route, "/api/embed")?;
        let resp: OllamaEmbed = up.post_json(route, &url, &body).await?;
        Ok(EmbeddingsResponse::from_vectors(
            model,
            resp.embeddings,
            req.wants_base64(),
            Some(Usage::new(resp.prompt_eval_count.unwrap_or(0), 0)),
        ))
    }
}

#[derive(Debug, Deserialize)]
struct OllamaTags {
    models: Vec<OllamaTag>,
}

#[derive(Debug, Deserialize)]
struct OllamaTag {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OllamaEmbed {
    embeddings: Vec<Vec<f32>>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
}

fn upstream_stream_error(provider: ProviderKind, err: &Value) -> ProviderError {
    let body = json!({ "error": err }).to_string();
    ProviderError::protocol(
        provider,
        format!(
            "upstream stream error: {}",
            extract_message(body.as_bytes())
        ),
    )
}

/// Ollama's NDJSON stream → frames; a line longer than `max_line` ends it with an error.
pub(crate) fn stream_frames(
    bytes: ByteStream,
    req: &ChatRequest,
    provider: ProviderKind,
    max_line: usize,
) -> FrameStream {
    let tr = OllamaNdjson {
        provider,
        head: ChunkHead::new(req),
        tool_calls: 0,
    };
    translate(lines(bytes, max_line), tr)
}

struct OllamaNdjson {
    provider: ProviderKind,
    head: ChunkHead,
    tool_calls: u32,
}

impl OllamaNdjson {
    fn chunk(&mut self, delta: Delta) -> ChatChunk {
        self.head.chunk(delta)
    }
}

impl Translate for OllamaNdjson {
    type Event = bytes::Bytes;

    fn event(
        &mut self,
        line: bytes::Bytes,
        out: &mut Vec<ChatChunk>,
    ) -> Result<bool, ProviderError> {
        if line.trim_ascii().is_empty() {
            return Ok(false);
        }
        let ev: OllamaChat = serde_json::from_slice(&line)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad NDJSON line: {e}")))?;
        if let Some(err) = &ev.error {
            return Err(upstream_stream_error(self.provider, err));
        }
        let msg = ev.message.unwrap_or_default();
        if !msg.content.is_empty() {
            let delta = Delta {
                content: Some(msg.content),
                ..Delta::default()
            };
            out.push(self.chunk(delta));
        }
        for call in msg.tool_calls {
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: self.tool_calls,
                    id: Some(new_call_id()),
                    kind: Some("function".to_string()),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name),
                        arguments: Some(arguments_string(&call.function.arguments)),
                    }),
                }]),
                ..Delta::default()
            };
            self.tool_calls += 1;
            out.push(self.chunk(delta));
        }
        if ev.done {
            let mut last = self.chunk(Delta::default());
            if let Some(choice) = last.choices.first_mut() {
                choice.finish_reason = Some(finish(ev.done_reason.as_deref(), self.tool_calls > 0));
            }
            last.usage = Some(Usage::new(
                ev.prompt_eval_count.unwrap_or(0),
                ev.eval_count.unwrap_or(0),
            ));
            out.push(last);
            return Ok(true);
        }
        Ok(false)
    }

    fn end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        Err(ProviderError::protocol(
            self.provider,
            "stream ended before `done`",
        ))
    }
}

//! Gemini native: `models/{m}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `GET models`, `:batchEmbedContents`; key in `x-goog-api-key`.
//!
//! Mapping: system/developer messages → `systemInstruction`; user → `user` text parts;
//! assistant → `model` parts (text and `functionCall` with object `args`); tool results →
//! `functionResponse` parts (named via the earlier call's id) in a `user` turn; tools →
//! `functionDeclarations`; `tool_choice` → `toolConfig.functionCallingConfig`; sampling →
//! `generationConfig`. `finishReason` `STOP` → `stop` (`tool_calls` when the reply calls
//! functions), `MAX_TOKENS` → `length`, safety/recitation/blocklist reasons →
//! `content_filter`; `usageMetadata` → usage. Thought parts are not returned.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::gemini_wire::{
    Answer, CallingConfig, Content, EmbedBatch, EmbedRequest, Embeddings, FunctionDecl,
    GenerationConfig, Models, Part, Request, ToolConfig, ToolSet,
};
use super::mapping::{
    check_request, content_text, function_tools, new_call_id, parse_arguments, path_safe_model,
    tool_names_by_id,
};
use super::{Adapter, ChunkHead, model_of, one_choice};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{ByteStream, FrameStream, SseEvent, Translate, lines, sse_events, translate};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Delta, EmbeddingsRequest, EmbeddingsResponse,
    FinishReason, FunctionCall, FunctionCallDelta, ModelList, ModelObject, Role, ToolCall,
    ToolCallDelta, ToolChoice, ToolChoiceMode, Usage,
};
use crate::upstream::{Upstream, Url, decode, extract_message};

const UNDERSTOOD: &[&str] = &[
    "seed",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
];

fn text_part<'a>(text: String) -> Part<'a> {
    Part::Text { text }
}

fn build<'a>(route: &Route, req: &'a ChatRequest) -> Result<Request<'a>, ProviderError> {
    let kind = route.kind;
    check_request(kind, req, UNDERSTOOD)?;
    let names = tool_names_by_id(&req.messages);
    let mut system = Vec::new();
    let mut contents: Vec<Content<'a>> = Vec::new();
    for m in &req.messages {
        let text = content_text(kind, m.content.as_ref())?;
        match m.role {
            Role::System | Role::Developer => system.push(text),
            Role::User => contents.push(Content {
                role: Some("user"),
                parts: vec![text_part(text)],
            }),
            Role::Assistant => {
                let mut parts = Vec::new();
                if !text.is_empty() {
                    parts.push(text_part(text));
                }
                for c in m.tool_calls.iter().flatten() {
                    parts.push(Part::FunctionCall {
                        name: &c.function.name,
                        args: parse_arguments(&c.function.arguments)?,
                    });
                }
                if !parts.is_empty() {
                    contents.push(Content {
                        role: Some("model"),
                        parts,
                    });
                }
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or("");
                let name = names.get(id).ok_or_else(|| {
                    ProviderError::InvalidRequest(format!(
                        "tool message answers unknown tool_call_id `{id}`"
                    ))
                })?;
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(obj)) => Value::Object(obj),
                    _ => json!({ "result": text }),
                };
                let part = Part::FunctionResponse { name, response };
                match contents.last_mut() {
                    Some(last) if is_tool_results(last) => last.parts.push(part),
                    _ => contents.push(Content {
                        role: Some("user"),
                        parts: vec![part],
                    }),
                }
            }
        }
    }
    if contents.is_empty() {
        return Err(ProviderError::InvalidRequest(
            "Gemini needs at least one user or assistant message".into(),
        ));
    }
    let decls: Vec<FunctionDecl<'a>> = function_tools(kind, req)?
        .iter()
        .map(|t| FunctionDecl {
            name: &t.function.name,
            description: t.function.description.as_deref(),
            parameters: t.function.parameters.as_ref(),
        })
        .collect();
    let tool_config = req.tool_choice.as_ref().map(|choice| {
        let (mode, named) = match choice {
            ToolChoice::Mode(ToolChoiceMode::Auto) => ("AUTO", None),
            ToolChoice::Mode(ToolChoiceMode::None) => ("NONE", None),
            ToolChoice::Mode(ToolChoiceMode::Required) => ("ANY", None),
            ToolChoice::Named(n) => ("ANY", Some([n.function.name.as_str()])),
        };
        ToolConfig {
            function_calling_config: CallingConfig {
                mode,
                allowed_function_names: named,
            },
        }
    });
    Ok(Request {
        contents,
        system_instruction: (!system.is_empty()).then(|| Content {
            role: None,
            parts: vec![text_part(system.join("\n\n"))],
        }),
        tools: if decls.is_empty() {
            Vec::new()
        } else {
            vec![ToolSet {
                function_declarations: decls,
            }]
        },
        tool_config,
        generation_config: generation_config(kind, req)?,
    })
}

/// A user turn holding only function responses (the next one joins it).
fn is_tool_results(c: &Content<'_>) -> bool {
    c.role == Some("user")
        && c.parts
            .iter()
            .all(|p| matches!(p, Part::FunctionResponse { .. }))
}

fn generation_config(
    kind: ProviderKind,
    req: &ChatRequest,
) -> Result<GenerationConfig<'_>, ProviderError> {
    let extra = |key: &str| req.extra.get(key).filter(|v| !v.is_null());
    let mut c = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: req.max_output_tokens(),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        seed: extra("seed"),
        frequency_penalty: extra("frequency_penalty"),
        presence_penalty: extra("presence_penalty"),
        ..GenerationConfig::default()
    };
    if let Some(format) = extra("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => c.response_mime_type = Some("application/json"),
            Some("json_schema") => {
                c.response_mime_type = Some("application/json");
                c.response_json_schema = format.pointer("/json_schema/schema");
            }
            _ => return Err(ProviderError::unsupported(kind, "this response_format")),
        }
    }
    Ok(c)
}

fn map_finish(reason: &str, had_tools: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" => FinishReason::ContentFilter,
        _ if had_tools => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

impl Answer<'_> {
    fn usage(&self) -> Option<Usage> {
        self.usage_metadata.as_ref().map(|u| {
            Usage::new(
                u.prompt_token_count,
                u.candidates_token_count + u.thoughts_token_count,
            )
        })
    }

    /// Text and function calls (name, JSON arguments) of the first candidate, thoughts
    /// skipped.
    fn parts(&self) -> (String, Vec<(String, String)>) {
        let mut text = String::new();
        let mut calls = Vec::new();
        let parts = self
            .candidates
            .first()
            .and_then(|c| c.content.as_ref())
            .map(|c| c.parts.as_slice())
            .unwrap_or_default();
        for p in parts.iter().filter(|p| p.thought != Some(true)) {
            if let Some(t) = &p.text {
                text.push_str(t);
            }
            if let Some(fc) = &p.function_call {
                let args = fc
                    .args
                    .as_ref()
                    .map_or_else(|| "{}".to_string(), Value::to_string);
                calls.push((fc.name.clone(), args));
            }
        }
        (text, calls)
    }

    /// The finish reason of the first candidate, or of a blocked prompt.
    fn finish(&self) -> Option<String> {
        self.candidates
            .first()
            .and_then(|c| c.finish_reason.as_deref())
            .map(str::to_string)
            .or_else(|| {
                self.prompt_feedback
                    .as_ref()
                    .and_then(|f| f.block_reason.as_ref())
                    .map(|_| "SAFETY".to_string())
            })
    }
}

fn model_path(route: &Route, model: &str, method: &str) -> Result<Url, ProviderError> {
    let model = path_safe_model(route.kind, model)?;
    Upstream::url(route, format!("/models/{model}:{method}"))
}

/// The Gemini native adapter.
#[derive(Debug)]
pub(crate) struct Gemini;

#[async_trait]
impl Adapter for Gemini {
    async fn chat(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = build(route, &req)?;
        let url = model_path(route, model_of(&req.model), "generateContent")?;
        let raw = up.post_raw(route, &url, &body).await?;
        let answer: Answer<'_> = decode(route, &raw)?;
        let (text, calls) = answer.parts();
        let had_tools = !calls.is_empty();
        let finish = answer.finish().unwrap_or_else(|| "STOP".to_string());
        let tool_calls: Vec<ToolCall> = calls
            .into_iter()
            .map(|(name, arguments)| ToolCall {
                id: new_call_id(),
                kind: "function".to_string(),
                function: FunctionCall { name, arguments },
            })
            .collect();
        let finish = map_finish(&finish, had_tools);
        Ok(one_choice(&req, text, tool_calls, finish, answer.usage()))
    }

    async fn chat_stream(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let body = build(route, &req)?;
        let url = model_path(route, model_of(&req.model), "streamGenerateContent?alt=sse")?;
        let bytes = up.post_stream(route, &url, &body).await?;
        Ok(stream_frames(
            bytes,
            &req,
            route.kind,
            up.limits().max_response_body,
        ))
    }

    async fn models(&self, up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
        let url = Upstream::url(route, "/models?pageSize=1000")?;
        let list: Models = up.get_json(route, &url).await?;
        let models = list
            .models
            .into_iter()
            .map(|m| {
                let id = m
                    .name
                    .strip_prefix("models/")
                    .unwrap_or(&m.name)
                    .to_string();
                ModelObject::new(id, "google")
            })
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
        let name = format!("models/{}", path_safe_model(route.kind, model)?);
        let requests = texts
            .into_iter()
            .map(|t| EmbedRequest {
                model: &name,
                content: Content {
                    role: None,
                    parts: vec![text_part(t)],
                },
                output_dimensionality: req.dimensions,
            })
            .collect();
        let url = model_path(route, model, "batchEmbedContents")?;
        let resp: Embeddings = up.post_json(route, &url, &EmbedBatch { requests }).await?;
        let vectors = resp.embeddings.into_iter().map(|e| e.values).collect();
        Ok(EmbeddingsResponse::from_vectors(
            model,
            vectors,
            req.wants_base64(),
            None,
        ))
    }
}

/// Gemini's SSE stream → frames; a line longer than `max_line` ends it with an error.
pub(crate) fn stream_frames(
    bytes: ByteStream,
    req: &ChatRequest,
    provider: ProviderKind,
    max_line: usize,
) -> FrameStream {
    let tr = GeminiSse {
        provider,
        head: ChunkHead::new(req),
        tool_calls: 0,
        finish: None,
        usage: None,
    };
    translate(sse_events(lines(bytes, max_line)), tr)
}

struct GeminiSse {
    provider: ProviderKind,
    head: ChunkHead,
    tool_calls: u32,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl Translate for GeminiSse {
    type Event = SseEvent;

    fn event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<bool, ProviderError> {
        if ev.data.trim_ascii().is_empty() {
            return Ok(false);
        }
        let answer: Answer<'_> = serde_json::from_slice(&ev.data)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad event: {e}")))?;
        if answer.error.is_some() {
            return Err(ProviderError::protocol(
                self.provider,
                format!("upstream stream error: {}", extract_message(&ev.data)),
            ));
        }
        let (text, calls) = answer.parts();
        if !text.is_empty() {
            let delta = Delta {
                content: Some(text),
                ..Delta::default()
            };
            out.push(self.head.chunk(delta));
        }
        for (name, arguments) in calls {
            let index = self.tool_calls;
            self.tool_calls += 1;
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id: Some(new_call_id()),
                    kind: Some("function".to_string()),
                    function: Some(FunctionCallDelta {
                        name: Some(name),
                        arguments: Some(arguments),
                    }),
                }]),
                ..Delta::default()
            };
            out.push(self.head.chunk(delta));
        }
        if let Some(u) = answer.usage() {
            self.usage = Some(u);
        }
        if let Some(f) = answer.finish() {
            self.finish = Some(f);
        }
        Ok(false)
    }

    fn end(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        let Some(reason) = self.finish.take() else {
            return Err(ProviderError::protocol(
                self.provider,
                "stream ended before a finishReason",
            ));
        };
        let mut last = self.head.chunk(Delta::default());
        if let Some(choice) = last.choices.first_mut() {
            choice.finish_reason = Some(map_finish(&reason, self.tool_calls > 0));
        }
        last.usage = self.usage.take();
        out.push(last);
        Ok(())
    }
}

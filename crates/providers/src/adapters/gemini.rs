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

use serde_json::{Map, Value, json};

use super::{
    ChunkHead, check_request, content_text, function_tools, new_call_id, parse_arguments,
    path_safe_model, tool_names_by_id,
};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{
    ChatStream, SseEvent, Translate, completion_id, lines, now_secs, sse_events, translate,
};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, Delta, EmbeddingsRequest, EmbeddingsResponse,
    Extra, FinishReason, FunctionCall, FunctionCallDelta, ModelList, ModelObject, ResponseMessage,
    Role, ToolCall, ToolCallDelta, ToolChoice, ToolChoiceMode, Usage,
};
use crate::upstream::{Upstream, extract_message};

const UNDERSTOOD: &[&str] = &[
    "seed",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
];

fn build(route: &Route, req: &ChatRequest) -> Result<Value, ProviderError> {
    let kind = route.kind;
    check_request(kind, req, UNDERSTOOD)?;
    let names = tool_names_by_id(&req.messages);
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    for m in &req.messages {
        let text = content_text(kind, m.content.as_ref())?;
        match m.role {
            Role::System | Role::Developer => system.push(text),
            Role::User => contents.push(json!({"role": "user", "parts": [{"text": text}]})),
            Role::Assistant => {
                let mut parts = Vec::new();
                if !text.is_empty() {
                    parts.push(json!({"text": text}));
                }
                for c in m.tool_calls.iter().flatten() {
                    parts.push(json!({"functionCall": {
                        "name": c.function.name,
                        "args": parse_arguments(&c.function.arguments)?,
                    }}));
                }
                if !parts.is_empty() {
                    contents.push(json!({"role": "model", "parts": parts}));
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
                let part = json!({"functionResponse": {"name": name, "response": response}});
                let merge = contents.last().is_some_and(|c| {
                    c["role"] == "user"
                        && c["parts"]
                            .as_array()
                            .is_some_and(|p| p.iter().all(|p| p.get("functionResponse").is_some()))
                });
                match contents.last_mut().and_then(|c| c["parts"].as_array_mut()) {
                    Some(parts) if merge => parts.push(part),
                    _ => contents.push(json!({"role": "user", "parts": [part]})),
                }
            }
        }
    }
    if contents.is_empty() {
        return Err(ProviderError::InvalidRequest(
            "Gemini needs at least one user or assistant message".into(),
        ));
    }
    let mut body = json!({ "contents": contents });
    if !system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": system.join("\n\n")}]});
    }
    let tools = function_tools(kind, req)?;
    if !tools.is_empty() {
        let decls: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.function.name});
                if let Some(desc) = &t.function.description {
                    d["description"] = json!(desc);
                }
                if let Some(params) = &t.function.parameters {
                    d["parameters"] = params.clone();
                }
                d
            })
            .collect();
        body["tools"] = json!([{ "functionDeclarations": decls }]);
    }
    if let Some(choice) = &req.tool_choice {
        body["toolConfig"] = json!({"functionCallingConfig": match choice {
            ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"mode": "AUTO"}),
            ToolChoice::Mode(ToolChoiceMode::None) => json!({"mode": "NONE"}),
            ToolChoice::Mode(ToolChoiceMode::Required) => json!({"mode": "ANY"}),
            ToolChoice::Named(n) => json!({"mode": "ANY", "allowedFunctionNames": [n.function.name]}),
        }});
    }
    let config = generation_config(kind, req)?;
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    Ok(body)
}

fn generation_config(
    kind: ProviderKind,
    req: &ChatRequest,
) -> Result<Map<String, Value>, ProviderError> {
    let mut c = Map::new();
    if let Some(t) = req.temperature {
        c.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        c.insert("topP".into(), json!(p));
    }
    if let Some(max) = req.max_output_tokens() {
        c.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(stop) = &req.stop {
        c.insert("stopSequences".into(), json!(stop.to_vec()));
    }
    for (from, to) in [
        ("seed", "seed"),
        ("frequency_penalty", "frequencyPenalty"),
        ("presence_penalty", "presencePenalty"),
    ] {
        if let Some(v) = req.extra.get(from).filter(|v| !v.is_null()) {
            c.insert(to.into(), v.clone());
        }
    }
    if let Some(format) = req.extra.get("response_format").filter(|v| !v.is_null()) {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                c.insert("responseMimeType".into(), json!("application/json"));
            }
            Some("json_schema") => {
                c.insert("responseMimeType".into(), json!("application/json"));
                if let Some(schema) = format.pointer("/json_schema/schema") {
                    c.insert("responseJsonSchema".into(), schema.clone());
                }
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

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usageMetadata")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage::new(
        n("promptTokenCount"),
        n("candidatesTokenCount") + n("thoughtsTokenCount"),
    ))
}

/// Text and function calls of the first candidate (thought parts skipped).
fn parts_of(v: &Value) -> (String, Vec<(String, String)>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = v
        .pointer("/candidates/0/content/parts")
        .and_then(Value::as_array);
    for p in parts.into_iter().flatten() {
        if p.get("thought").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(fc) = p.get("functionCall") {
            let name = fc
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let args = fc.get("args").cloned().unwrap_or_else(|| json!({}));
            calls.push((name, args.to_string()));
        }
    }
    (text, calls)
}

/// The finish reason of the first candidate, or of a blocked prompt.
fn finish_of(v: &Value) -> Option<String> {
    v.pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            v.pointer("/promptFeedback/blockReason")
                .map(|_| "SAFETY".to_string())
        })
}

fn model_path(route: &Route, method: &str) -> Result<String, ProviderError> {
    let model = path_safe_model(route.kind, &route.model)?;
    Upstream::url(route, &format!("/models/{model}:{method}"))
}

pub(crate) async fn chat(
    up: &Upstream,
    route: &Route,
    req: ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    let body = build(route, &req)?;
    let url = model_path(route, "generateContent")?;
    let v: Value = up.post_json(route, &url, &body).await?;
    let (text, calls) = parts_of(&v);
    let had_tools = !calls.is_empty();
    let finish = finish_of(&v).unwrap_or_else(|| "STOP".to_string());
    let tool_calls: Vec<ToolCall> = calls
        .into_iter()
        .map(|(name, arguments)| ToolCall {
            id: new_call_id(),
            kind: "function".to_string(),
            function: FunctionCall { name, arguments },
        })
        .collect();
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
                tool_calls: had_tools.then_some(tool_calls),
                extra: Extra::new(),
            },
            finish_reason: Some(map_finish(&finish, had_tools)),
            extra: Extra::new(),
        }],
        usage: usage_of(&v),
        extra: Extra::new(),
    })
}

pub(crate) async fn chat_stream(
    up: &Upstream,
    route: &Route,
    req: ChatRequest,
) -> Result<ChatStream, ProviderError> {
    let body = build(route, &req)?;
    let url = format!("{}?alt=sse", model_path(route, "streamGenerateContent")?);
    let bytes = up.post_stream(route, &url, &body).await?;
    let tr = GeminiSse {
        provider: route.kind,
        head: ChunkHead::new(route),
        tool_calls: 0,
        finish: None,
        usage: None,
    };
    Ok(translate(
        sse_events(lines(bytes, up.limits().max_response_body)),
        tr,
    ))
}

struct GeminiSse {
    provider: ProviderKind,
    head: ChunkHead,
    tool_calls: u32,
    finish: Option<String>,
    usage: Option<Usage>,
}

impl GeminiSse {
    fn chunk(&mut self, delta: Delta) -> ChatChunk {
        self.head.chunk(delta)
    }
}

impl Translate for GeminiSse {
    type Event = SseEvent;

    fn event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<bool, ProviderError> {
        if ev.data.trim().is_empty() {
            return Ok(false);
        }
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad event: {e}")))?;
        if v.get("error").is_some() {
            return Err(ProviderError::protocol(
                self.provider,
                format!(
                    "upstream stream error: {}",
                    extract_message(ev.data.as_bytes())
                ),
            ));
        }
        let (text, calls) = parts_of(&v);
        if !text.is_empty() {
            let delta = Delta {
                content: Some(text),
                ..Delta::default()
            };
            out.push(self.chunk(delta));
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
            out.push(self.chunk(delta));
        }
        if let Some(u) = usage_of(&v) {
            self.usage = Some(u);
        }
        if let Some(f) = finish_of(&v) {
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
        let mut last = self.chunk(Delta::default());
        if let Some(choice) = last.choices.first_mut() {
            choice.finish_reason = Some(map_finish(&reason, self.tool_calls > 0));
        }
        last.usage = self.usage.take();
        out.push(last);
        Ok(())
    }
}

pub(crate) async fn models(up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
    let url = Upstream::url(route, "/models?pageSize=1000")?;
    let v: Value = up.get_json(route, &url).await?;
    let models = v
        .get("models")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::protocol(route.kind, "model list without `models`"))?
        .iter()
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .map(|name| ModelObject::new(name.strip_prefix("models/").unwrap_or(name), "google"))
        .collect();
    Ok(ModelList::new(models))
}

pub(crate) async fn embeddings(
    up: &Upstream,
    route: &Route,
    req: EmbeddingsRequest,
) -> Result<EmbeddingsResponse, ProviderError> {
    req.check_native(route.kind)?;
    let texts = req.texts(route.kind)?;
    let model = path_safe_model(route.kind, &route.model)?;
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| {
            let mut r =
                json!({"model": format!("models/{model}"), "content": {"parts": [{"text": t}]}});
            if let Some(d) = req.dimensions {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    let url = model_path(route, "batchEmbedContents")?;
    let v: Value = up
        .post_json(route, &url, &json!({ "requests": requests }))
        .await?;
    let vectors = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::protocol(route.kind, "response without `embeddings`"))?
        .iter()
        .map(|e| {
            e.get("values")
                .cloned()
                .and_then(|vals| serde_json::from_value::<Vec<f32>>(vals).ok())
                .ok_or_else(|| ProviderError::protocol(route.kind, "embedding without `values`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EmbeddingsResponse::from_vectors(
        &route.model,
        vectors,
        req.wants_base64(),
        None,
    ))
}

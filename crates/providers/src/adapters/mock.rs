//! The built-in `mock` provider: in-process, no network, deterministic.
//!
//! The reply is `mock reply to "<last user message>" from <model>`, followed by
//! ` token1 … tokenN` when the endpoint asks for `tokens=N`. It streams one word per chunk,
//! waiting `latency_ms` before each (simulated generation time), and reports usage
//! (prompt tokens = words in the conversation, completion tokens = words in the reply).
//! When `tool_choice` is `required` or names a function, it answers with one tool call
//! whose arguments are `{"input": "<last user message>"}`.
//!
//! Endpoint syntax: `mock://`, `mock://?latency_ms=5&tokens=8`.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use super::mapping::{check_request, content_text, function_tools, word_count};
use super::{Adapter, model_of, one_choice};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{Frame, FrameStream, completion_id, now_secs};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Delta, EmbeddingsRequest, EmbeddingsResponse,
    FinishReason, FunctionCall, FunctionCallDelta, ModelList, ModelObject, Role, ToolCall,
    ToolCallDelta, ToolChoice, ToolChoiceMode, Usage,
};
use crate::upstream::Upstream;

const KIND: ProviderKind = ProviderKind::Mock;

/// Settings of the mock provider, parsed from a `mock://` endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MockConfig {
    /// Simulated time per generated word.
    pub latency: Duration,
    /// Extra filler words appended to the reply.
    pub tokens: usize,
}

impl MockConfig {
    /// Parses `mock://?latency_ms=N&tokens=N`; unknown keys or bad numbers are an error.
    pub fn from_endpoint(endpoint: &str) -> Result<Self, ProviderError> {
        let rest = endpoint.strip_prefix("mock://").ok_or_else(|| {
            ProviderError::InvalidRoute("a mock endpoint starts with `mock://`".into())
        })?;
        let query = rest.split_once('?').map(|(_, q)| q).unwrap_or("");
        let mut cfg = MockConfig::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let num: u64 = value.parse().map_err(|_| {
                ProviderError::InvalidRoute(format!("mock endpoint: `{key}` needs a number"))
            })?;
            match key {
                "latency_ms" => cfg.latency = Duration::from_millis(num),
                "tokens" => cfg.tokens = usize::try_from(num).unwrap_or(usize::MAX).min(100_000),
                other => {
                    return Err(ProviderError::InvalidRoute(format!(
                        "mock endpoint: unknown setting `{other}` (use latency_ms, tokens)"
                    )));
                }
            }
        }
        Ok(cfg)
    }
}

/// What the mock answers to one request.
struct Plan {
    pieces: Vec<String>,
    tool_call: Option<ToolCall>,
    finish: FinishReason,
    usage: Usage,
    latency: Duration,
}

fn plan(route: &Route, req: &ChatRequest) -> Result<Plan, ProviderError> {
    check_request(KIND, req, &["seed", "response_format"])?;
    let cfg = MockConfig::from_endpoint(&route.endpoint)?;
    let mut prompt_words = 0;
    let mut last_user = String::new();
    for msg in &req.messages {
        let text = content_text(KIND, msg.content.as_ref())?;
        prompt_words += word_count(&text);
        if msg.role == Role::User {
            last_user = text;
        }
    }
    let tools = function_tools(KIND, req)?;
    let forced = match &req.tool_choice {
        Some(ToolChoice::Named(named)) => Some(named.function.name.clone()),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => {
            tools.first().map(|t| t.function.name.clone())
        }
        _ => None,
    };
    if let Some(name) = forced {
        let arguments = serde_json::json!({ "input": last_user }).to_string();
        return Ok(Plan {
            pieces: Vec::new(),
            tool_call: Some(ToolCall {
                id: "call_mock_0".to_string(),
                kind: "function".to_string(),
                function: FunctionCall { name, arguments },
            }),
            finish: FinishReason::ToolCalls,
            usage: Usage::new(prompt_words, 1),
            latency: cfg.latency,
        });
    }
    let mut text = format!(
        "mock reply to \"{last_user}\" from {}",
        model_of(&req.model)
    );
    for i in 1..=cfg.tokens {
        text.push_str(&format!(" token{i}"));
    }
    let mut pieces: Vec<String> = text
        .split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect();
    let mut finish = FinishReason::Stop;
    if let Some(max) = req.max_output_tokens() {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if pieces.len() > max {
            pieces.truncate(max);
            finish = FinishReason::Length;
        }
    }
    let completion = u64::try_from(pieces.len()).unwrap_or(u64::MAX);
    Ok(Plan {
        pieces,
        tool_call: None,
        finish,
        usage: Usage::new(prompt_words, completion),
        latency: cfg.latency,
    })
}

/// The in-process mock.
#[derive(Debug)]
pub(crate) struct Mock;

#[async_trait]
impl Adapter for Mock {
    async fn chat(
        &self,
        _up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        chat(route, req).await
    }

    async fn chat_stream(
        &self,
        _up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        chat_stream(route, req)
    }

    async fn models(&self, _up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
        Ok(ModelList::new(vec![ModelObject::new(
            route.model.clone(),
            "sandgate-mock",
        )]))
    }

    async fn embeddings(
        &self,
        _up: &Upstream,
        _route: &Route,
        req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        embeddings(&req)
    }
}

async fn chat(route: &Route, req: ChatRequest) -> Result<ChatResponse, ProviderError> {
    let plan = plan(route, &req)?;
    let steps = plan.pieces.len().max(1);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency * u32::try_from(steps).unwrap_or(u32::MAX)).await;
    }
    let calls = plan.tool_call.into_iter().collect();
    Ok(one_choice(
        &req,
        plan.pieces.concat(),
        calls,
        plan.finish,
        Some(plan.usage),
    ))
}

fn chat_stream(route: &Route, req: ChatRequest) -> Result<FrameStream, ProviderError> {
    let plan = plan(route, &req)?;
    let id = completion_id();
    let created = now_secs();
    let model = model_of(&req.model).to_string();
    let mut chunks = Vec::new();
    if let Some(call) = &plan.tool_call {
        let delta = Delta {
            role: Some("assistant".into()),
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: Some(call.id.clone()),
                kind: Some("function".into()),
                function: Some(FunctionCallDelta {
                    name: Some(call.function.name.clone()),
                    arguments: Some(call.function.arguments.clone()),
                }),
            }]),
            ..Delta::default()
        };
        chunks.push(ChatChunk::new(&id, created, &model, delta));
    }
    for (i, piece) in plan.pieces.iter().enumerate() {
        let delta = Delta {
            role: (i == 0).then(|| "assistant".to_string()),
            content: Some(piece.clone()),
            ..Delta::default()
        };
        chunks.push(ChatChunk::new(&id, created, &model, delta));
    }
    let mut last = ChatChunk::new(&id, created, &model, Delta::default());
    if let Some(choice) = last.choices.first_mut() {
        choice.finish_reason = Some(plan.finish);
    }
    last.usage = Some(plan.usage);
    chunks.push(last);
    let latency = plan.latency;
    let stream = futures::stream::iter(chunks).then(move |chunk| async move {
        let is_content = chunk
            .choices
            .first()
            .is_some_and(|c| c.finish_reason.is_none());
        if is_content && !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Ok(Frame::Chunk(chunk))
    });
    Ok(Box::pin(stream))
}

fn embeddings(req: &EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
    let model = model_of(&req.model);
    req.check_native(KIND)?;
    let texts = req.texts(KIND)?;
    let prompt: u64 = texts.iter().map(|t| word_count(t)).sum();
    let vectors = texts
        .iter()
        .map(|t| deterministic_vector(model, t))
        .collect();
    Ok(EmbeddingsResponse::from_vectors(
        model,
        vectors,
        req.wants_base64(),
        Some(Usage::new(prompt, 0)),
    ))
}

/// An 8-dimensional vector derived from FNV-1a hashes of `model` and `text`.
pub(crate) fn deterministic_vector(model: &str, text: &str) -> Vec<f32> {
    (0u64..8)
        .map(|dim| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ dim;
            for b in model.bytes().chain([0]).chain(text.bytes()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            // Map to [-1, 1) with 1/1000 resolution.
            let milli = i32::try_from(h % 2000).unwrap_or(0) - 1000;
            f32::from(i16::try_from(milli).unwrap_or(0)) / 1000.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_settings_parse() {
        let cfg = MockConfig::from_endpoint("mock://?latency_ms=5&tokens=8");
        assert_eq!(
            cfg,
            Ok(MockConfig {
                latency: Duration::from_millis(5),
                tokens: 8
            })
        );
        assert_eq!(
            MockConfig::from_endpoint("mock://"),
            Ok(MockConfig::default())
        );
        assert!(MockConfig::from_endpoint("mock://?speed=1").is_err());
        assert!(MockConfig::from_endpoint("http://x").is_err());
    }

    #[test]
    fn vectors_are_deterministic_and_bounded() {
        let a = deterministic_vector("m", "hello");
        assert_eq!(a, deterministic_vector("m", "hello"));
        assert_ne!(a, deterministic_vector("m", "hullo"));
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
    }
}

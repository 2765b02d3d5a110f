//! OpenAI-compatible upstreams (OpenAI, NVIDIA, vLLM, any compatible endpoint).
//!
//! The request is passed through, unknown fields included, with the model forced to the
//! route's; streamed chunks are parsed, checked and re-emitted.

use serde_json::Value;

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::Route;
use crate::stream::{ChatStream, SseEvent, Translate, lines, sse_events, translate};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, ModelList,
    ModelObject,
};
use crate::upstream::{Upstream, extract_message};

pub(crate) async fn chat(
    up: &Upstream,
    route: &Route,
    mut req: ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    req.model = Some(route.model.clone());
    req.stream = None;
    req.stream_options = None;
    let url = Upstream::url(route, "/chat/completions")?;
    up.post_json(route, &url, &req).await
}

pub(crate) async fn chat_stream(
    up: &Upstream,
    route: &Route,
    mut req: ChatRequest,
) -> Result<ChatStream, ProviderError> {
    req.model = Some(route.model.clone());
    req.stream = Some(true);
    let url = Upstream::url(route, "/chat/completions")?;
    let bytes = up.post_stream(route, &url, &req).await?;
    let events = sse_events(lines(bytes, up.limits().max_response_body));
    Ok(translate(
        events,
        OpenAiSse {
            provider: route.kind,
            finished: false,
        },
    ))
}

pub(crate) async fn models(up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
    let url = Upstream::url(route, "/models")?;
    let v: Value = up.get_json(route, &url).await?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::protocol(route.kind, "model list without `data`"))?;
    let models = data
        .iter()
        .filter_map(|m| {
            let id = m.get("id")?.as_str()?;
            let mut obj = ModelObject::new(
                id,
                m.get("owned_by")
                    .and_then(Value::as_str)
                    .unwrap_or(route.kind.as_str()),
            );
            obj.created = m.get("created").and_then(Value::as_u64).unwrap_or(0);
            Some(obj)
        })
        .collect();
    Ok(ModelList::new(models))
}

pub(crate) async fn embeddings(
    up: &Upstream,
    route: &Route,
    mut req: EmbeddingsRequest,
) -> Result<EmbeddingsResponse, ProviderError> {
    req.model = Some(route.model.clone());
    let url = Upstream::url(route, "/embeddings")?;
    up.post_json(route, &url, &req).await
}

/// Validates OpenAI SSE chunks and watches for completion.
struct OpenAiSse {
    provider: ProviderKind,
    finished: bool,
}

impl Translate for OpenAiSse {
    type Event = SseEvent;

    fn event(&mut self, ev: SseEvent, out: &mut Vec<ChatChunk>) -> Result<bool, ProviderError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad chunk: {e}")))?;
        if value.get("error").is_some() {
            return Err(ProviderError::protocol(
                self.provider,
                format!(
                    "upstream stream error: {}",
                    extract_message(data.as_bytes())
                ),
            ));
        }
        let chunk: ChatChunk = serde_json::from_value(value)
            .map_err(|e| ProviderError::protocol(self.provider, format!("bad chunk: {e}")))?;
        if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
            self.finished = true;
        }
        out.push(chunk);
        Ok(false)
    }

    fn end(&mut self, _out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        if self.finished {
            Ok(())
        } else {
            Err(ProviderError::protocol(
                self.provider,
                "stream ended before the completion finished",
            ))
        }
    }
}

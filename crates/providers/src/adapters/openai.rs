//! OpenAI-compatible upstreams (OpenAI, NVIDIA, vLLM, any compatible endpoint).
//!
//! The request is passed through, unknown fields included (its model already forced).
//! Answers are passed through byte for byte: a buffered one after a check of its shape (the
//! typed [`Adapter::chat`] decodes it for typed callers), streams by [`crate::passthrough`].

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Adapter, ChatBody};
use crate::error::ProviderError;
use crate::passthrough::passthrough;
use crate::route::Route;
use crate::stream::FrameStream;
use crate::types::{
    ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, ModelList, ModelObject,
    Usage, UsageCounts,
};
use crate::upstream::{Upstream, decode};

/// The OpenAI chat-completions adapter.
#[derive(Debug)]
pub(crate) struct OpenAi;

/// `GET /models` as OpenAI-compatible servers answer it (fields beyond these vary).
#[derive(Deserialize)]
struct WireModels {
    data: Vec<WireModel>,
}

#[derive(Deserialize)]
struct WireModel {
    id: String,
    #[serde(default)]
    owned_by: Option<String>,
    #[serde(default)]
    created: Option<u64>,
}

/// The fields a [`ChatResponse`] requires, checked without decoding them, and the usage.
#[derive(Deserialize)]
struct Completion {
    #[serde(rename = "id")]
    _id: IgnoredAny,
    #[serde(rename = "object")]
    _object: IgnoredAny,
    #[serde(rename = "created")]
    _created: IgnoredAny,
    #[serde(rename = "model")]
    _model: IgnoredAny,
    #[serde(rename = "choices")]
    _choices: IgnoredAny,
    #[serde(default)]
    usage: Option<UsageCounts>,
}

/// `POST /chat/completions`, buffered: the upstream's body as it came.
async fn complete(
    up: &Upstream,
    route: &Route,
    mut req: ChatRequest,
) -> Result<bytes::Bytes, ProviderError> {
    req.stream = None;
    req.stream_options = None;
    let url = Upstream::url(route, "/chat/completions")?;
    up.post_raw(route, &url, &req).await
}

#[async_trait]
impl Adapter for OpenAi {
    async fn chat(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let body = complete(up, route, req).await?;
        decode(route, &body)
    }

    async fn chat_body(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatBody, ProviderError> {
        let json = complete(up, route, req).await?;
        let shape: Completion = decode(route, &json)?;
        Ok(ChatBody {
            json,
            usage: shape.usage.map(Usage::from),
        })
    }

    async fn chat_stream(
        &self,
        up: &Upstream,
        route: &Route,
        mut req: ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        req.stream = Some(true);
        let url = Upstream::url(route, "/chat/completions")?;
        let bytes = up.post_stream(route, &url, &req).await?;
        Ok(passthrough(
            bytes,
            route.kind,
            up.limits().max_response_body,
        ))
    }

    async fn models(&self, up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
        let url = Upstream::url(route, "/models")?;
        let list: WireModels = up.get_json(route, &url).await?;
        let models = list
            .data
            .into_iter()
            .map(|m| {
                let owner = m
                    .owned_by
                    .unwrap_or_else(|| route.kind.as_str().to_string());
                let mut obj = ModelObject::new(m.id, owner);
                obj.created = m.created.unwrap_or(0);
                obj
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
        let url = Upstream::url(route, "/embeddings")?;
        up.post_json(route, &url, &req).await
    }
}

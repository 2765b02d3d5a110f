//! OpenAI-compatible upstreams (OpenAI, NVIDIA, vLLM, any compatible endpoint).
//!
//! The request is passed through, unknown fields included (its model already forced);
//! buffered answers are decoded into the OpenAI types, streams are passed through byte for
//! byte ([`crate::passthrough`]).

use async_trait::async_trait;
use serde::Deserialize;

use super::Adapter;
use crate::error::ProviderError;
use crate::passthrough::passthrough;
use crate::route::Route;
use crate::stream::FrameStream;
use crate::types::{
    ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, ModelList, ModelObject,
};
use crate::upstream::Upstream;

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

#[async_trait]
impl Adapter for OpenAi {
    async fn chat(
        &self,
        up: &Upstream,
        route: &Route,
        mut req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        req.stream = None;
        req.stream_options = None;
        let url = Upstream::url(route, "/chat/completions")?;
        up.post_json(route, &url, &req).await
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

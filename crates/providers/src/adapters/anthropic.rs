//! Stub, replaced below.

use crate::error::ProviderError;
use crate::route::Route;
use crate::stream::ChatStream;
use crate::types::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, ModelList};
use crate::upstream::Upstream;

pub(crate) async fn chat(
    _up: &Upstream,
    route: &Route,
    _req: ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    Err(ProviderError::unsupported(route.kind, "chat"))
}
pub(crate) async fn chat_stream(
    _up: &Upstream,
    route: &Route,
    _req: ChatRequest,
) -> Result<ChatStream, ProviderError> {
    Err(ProviderError::unsupported(route.kind, "chat"))
}
pub(crate) async fn models(_up: &Upstream, route: &Route) -> Result<ModelList, ProviderError> {
    Err(ProviderError::unsupported(route.kind, "models"))
}
pub(crate) async fn embeddings(
    _up: &Upstream,
    route: &Route,
    _req: EmbeddingsRequest,
) -> Result<EmbeddingsResponse, ProviderError> {
    Err(ProviderError::unsupported(route.kind, "embeddings"))
}

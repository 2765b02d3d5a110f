//! One adapter per native API behind one trait, [`Adapter`]; [`of`] picks it by the
//! profile's [`NativeApi`] (the only match on it), so the client dispatches once.
//!
//! Every adapter receives requests whose model the client has already forced. What an
//! adapter cannot express is refused with [`ProviderError::Unsupported`] before anything is
//! sent. Native wire types are private, typed serde structs in each adapter.

pub(crate) mod anthropic;
mod anthropic_wire;
pub(crate) mod gemini;
mod gemini_wire;
pub(crate) mod mapping;
pub mod mock;
pub(crate) mod ollama;
pub(crate) mod openai;

use async_trait::async_trait;

use crate::error::ProviderError;
use crate::kind::NativeApi;
use crate::route::Route;
use crate::stream::{FrameStream, completion_id, now_secs};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, Delta, EmbeddingsRequest, EmbeddingsResponse,
    Extra, FinishReason, ModelList, ResponseMessage, ToolCall, Usage,
};
use crate::upstream::Upstream;

/// One provider's native API, as the client sees it.
#[async_trait]
pub(crate) trait Adapter: Sync {
    /// A buffered chat completion.
    async fn chat(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError>;

    /// A buffered chat completion as the caller's JSON body; by default the typed answer of
    /// [`Adapter::chat`], encoded.
    async fn chat_body(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatBody, ProviderError> {
        let resp = self.chat(up, route, req).await?;
        let body = serde_json::to_vec(&resp)
            .map_err(|e| ProviderError::Internal(format!("encoding the answer: {e}")))?;
        Ok(ChatBody {
            json: body.into(),
            usage: resp.usage,
        })
    }

    /// A streamed chat completion, once the upstream accepted it.
    async fn chat_stream(
        &self,
        up: &Upstream,
        route: &Route,
        req: ChatRequest,
    ) -> Result<FrameStream, ProviderError>;

    /// The upstream's models.
    async fn models(&self, up: &Upstream, route: &Route) -> Result<ModelList, ProviderError>;

    /// Embeddings; only called when the profile has them.
    async fn embeddings(
        &self,
        _up: &Upstream,
        route: &Route,
        _req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        Err(ProviderError::NoEmbeddings(route.kind))
    }
}

/// A buffered chat completion ready to send: the OpenAI JSON body and the usage it reports.
#[derive(Debug)]
pub(crate) struct ChatBody {
    pub json: bytes::Bytes,
    pub usage: Option<Usage>,
}

/// The adapter serving `route`.
pub(crate) fn of(route: &Route) -> &'static dyn Adapter {
    match route.profile().native_api {
        NativeApi::OpenAiChat => &openai::OpenAi,
        NativeApi::OllamaChat => &ollama::Ollama,
        NativeApi::GeminiGenerate => &gemini::Gemini,
        NativeApi::AnthropicMessages => &anthropic::Anthropic,
        NativeApi::Mock => &mock::Mock,
    }
}

/// A buffered completion with one choice, as the native adapters translate it: `content` is
/// omitted only when the reply is tool calls alone.
pub(crate) fn one_choice(
    req: &ChatRequest,
    text: String,
    calls: Vec<ToolCall>,
    finish: FinishReason,
    usage: Option<Usage>,
) -> ChatResponse {
    let had_tools = !calls.is_empty();
    ChatResponse {
        id: completion_id(),
        object: "chat.completion".to_string(),
        created: now_secs(),
        model: model_of(&req.model).to_string(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".to_string(),
                content: (!text.is_empty() || !had_tools).then_some(text),
                tool_calls: had_tools.then_some(calls),
                extra: Extra::new(),
            },
            finish_reason: Some(finish),
            extra: Extra::new(),
        }],
        usage,
        extra: Extra::new(),
    }
}

/// The model of a request the client prepared (forced to the route's).
pub(crate) fn model_of(model: &Option<String>) -> &str {
    model.as_deref().unwrap_or_default()
}

/// The fields every translated stream chunk repeats (OpenAI `id`, `created`, `model`), and the
/// rule that the first chunk carries `role: "assistant"`. Shared by the native stream adapters.
#[derive(Debug)]
pub(crate) struct ChunkHead {
    id: String,
    created: u64,
    model: String,
    started: bool,
}

impl ChunkHead {
    /// A head for a new completion of `req` (its forced model is reported).
    pub(crate) fn new(req: &ChatRequest) -> Self {
        Self {
            id: completion_id(),
            created: now_secs(),
            model: model_of(&req.model).to_string(),
            started: false,
        }
    }

    /// Wraps `delta` in a chunk, marking the first one as the assistant's.
    pub(crate) fn chunk(&mut self, mut delta: Delta) -> ChatChunk {
        if !self.started {
            self.started = true;
            delta.role = Some("assistant".to_string());
        }
        ChatChunk::new(&self.id, self.created, &self.model, delta)
    }
}

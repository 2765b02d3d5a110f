//! The provider-agnostic inference client: resolved route + OpenAI-shaped request in,
//! OpenAI-shaped response or chunk stream out.

use futures::StreamExt;

use crate::adapters::{anthropic, gemini, mock, ollama, openai};
use crate::error::ProviderError;
use crate::kind::NativeApi;
use crate::route::{Limits, Route};
use crate::stream::{ChatStream, completion_id, now_secs};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, Extra, ModelList,
    Usage,
};
use crate::upstream::Upstream;

/// Sends OpenAI-shaped requests along resolved routes.
///
/// Guarantees, whatever the provider:
/// - the route's model is forced: the caller's `model` is replaced before anything is sent,
///   and every response and chunk reports the route's model;
/// - only the route's credential is sent, in the provider's auth style; nothing of the
///   caller's request headers is forwarded (the client never sees them);
/// - buffered upstream bodies are capped ([`Limits::max_response_body`]) and bounded by the
///   route's `timeout`; streams are bounded by the route's `idle_timeout` between pieces,
///   never by a total timeout;
/// - streams carry usage only in a final chunk with no choices, and only when the caller
///   set `stream_options.include_usage`.
///
/// Cheap to clone; one instance serves every sandbox.
#[derive(Debug, Clone)]
pub struct InferenceClient {
    up: Upstream,
}

impl InferenceClient {
    /// A client with [`Limits::default`].
    pub fn new() -> Result<Self, ProviderError> {
        Self::with_limits(Limits::default())
    }

    /// A client with explicit limits.
    pub fn with_limits(limits: Limits) -> Result<Self, ProviderError> {
        Ok(Self {
            up: Upstream::new(limits)?,
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        self.up.limits()
    }

    /// A non-streamed chat completion.
    pub async fn chat(
        &self,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        validate(&req)?;
        let up = &self.up;
        let mut resp = match route.profile().native_api {
            NativeApi::OpenAiChat => openai::chat(up, route, req).await?,
            NativeApi::OllamaChat => ollama::chat(up, route, req).await?,
            NativeApi::GeminiGenerate => gemini::chat(up, route, req).await?,
            NativeApi::AnthropicMessages => anthropic::chat(up, route, req).await?,
            NativeApi::Mock => mock::chat(route, req).await?,
        };
        resp.model = route.model.clone();
        Ok(resp)
    }

    /// A streamed chat completion. Errors before the upstream accepted the request are
    /// returned here (with their HTTP mapping); later failures arrive as the stream's last
    /// item.
    pub async fn chat_stream(
        &self,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatStream, ProviderError> {
        validate(&req)?;
        let include_usage = req.include_usage();
        let up = &self.up;
        let inner = match route.profile().native_api {
            NativeApi::OpenAiChat => openai::chat_stream(up, route, req).await?,
            NativeApi::OllamaChat => ollama::chat_stream(up, route, req).await?,
            NativeApi::GeminiGenerate => gemini::chat_stream(up, route, req).await?,
            NativeApi::AnthropicMessages => anthropic::chat_stream(up, route, req).await?,
            NativeApi::Mock => mock::chat_stream(route, req).await?,
        };
        Ok(finalize(inner, route.model.clone(), include_usage))
    }

    /// The upstream's model list, in OpenAI shape.
    pub async fn models(&self, route: &Route) -> Result<ModelList, ProviderError> {
        let up = &self.up;
        match route.profile().native_api {
            NativeApi::OpenAiChat => openai::models(up, route).await,
            NativeApi::OllamaChat => ollama::models(up, route).await,
            NativeApi::GeminiGenerate => gemini::models(up, route).await,
            NativeApi::AnthropicMessages => anthropic::models(up, route).await,
            NativeApi::Mock => Ok(mock::models(route)),
        }
    }

    /// Embeddings with the route's model; [`ProviderError::NoEmbeddings`] when the provider
    /// has none (nothing is sent).
    pub async fn embeddings(
        &self,
        route: &Route,
        req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        if !route.profile().has_embeddings {
            return Err(ProviderError::NoEmbeddings(route.kind));
        }
        let up = &self.up;
        let mut resp = match route.profile().native_api {
            NativeApi::OpenAiChat => openai::embeddings(up, route, req).await?,
            NativeApi::OllamaChat => ollama::embeddings(up, route, req).await?,
            NativeApi::GeminiGenerate => gemini::embeddings(up, route, req).await?,
            NativeApi::AnthropicMessages => return Err(ProviderError::NoEmbeddings(route.kind)),
            NativeApi::Mock => mock::embeddings(route, &req)?,
        };
        resp.model = route.model.clone();
        Ok(resp)
    }
}

fn validate(req: &ChatRequest) -> Result<(), ProviderError> {
    if req.messages.is_empty() {
        return Err(ProviderError::InvalidRequest(
            "`messages` must contain at least one message".into(),
        ));
    }
    if req.n == Some(0) {
        return Err(ProviderError::InvalidRequest(
            "`n` must be at least 1".into(),
        ));
    }
    Ok(())
}

struct Finalize {
    inner: ChatStream,
    model: String,
    include_usage: bool,
    usage: Option<Usage>,
    id: Option<String>,
    created: u64,
    done: bool,
}

/// Forces the model on every chunk and moves usage into one final, choice-less chunk
/// (only when the caller asked for it).
fn finalize(inner: ChatStream, model: String, include_usage: bool) -> ChatStream {
    let state = Finalize {
        inner,
        model,
        include_usage,
        usage: None,
        id: None,
        created: 0,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(mut chunk)) => {
                    chunk.model.clone_from(&st.model);
                    if st.id.is_none() {
                        st.id = Some(chunk.id.clone());
                        st.created = chunk.created;
                    }
                    if let Some(u) = chunk.usage.take() {
                        st.usage = Some(u);
                    }
                    if chunk.choices.is_empty() {
                        continue;
                    }
                    return Some((Ok(chunk), st));
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    let usage = st.usage.take().filter(|_| st.include_usage)?;
                    let chunk = ChatChunk {
                        id: st.id.clone().unwrap_or_else(completion_id),
                        object: "chat.completion.chunk".to_string(),
                        created: if st.created == 0 {
                            now_secs()
                        } else {
                            st.created
                        },
                        model: st.model.clone(),
                        choices: Vec::new(),
                        usage: Some(usage),
                        extra: Extra::new(),
                    };
                    return Some((Ok(chunk), st));
                }
            }
        }
    }))
}

//! The provider-agnostic inference client: resolved route + OpenAI-shaped request in,
//! OpenAI-shaped response or chunk stream out.

use futures::StreamExt;

use crate::adapters::{self, ChatBody};
use crate::error::ProviderError;
use crate::route::{Limits, Route};
use crate::stream::{ChatStream, Frame, FrameStream, completion_id, now_secs, sse_chunks};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, Extra, ModelList,
    Usage,
};
use crate::upstream::Upstream;

/// Sends OpenAI-shaped requests along resolved routes.
///
/// Guarantees, whatever the provider:
/// - the route's model is forced ([`force_model`], the one place): the caller's `model` is
///   replaced before an adapter sees the request;
/// - only the route's credential is sent, in the provider's auth style; nothing of the
///   caller's request headers is forwarded (the client never sees them);
/// - what the profile's [`crate::Capabilities`] lack is refused before anything is sent;
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

    /// The upstream HTTP client (for the Anthropic pass-through).
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.up
    }

    /// A non-streamed chat completion.
    pub async fn chat(
        &self,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let req = prepare_chat(route, req)?;
        adapters::of(route).chat(&self.up, route, req).await
    }

    /// A non-streamed chat completion as the caller's JSON body (passed through unchanged
    /// from OpenAI-compatible upstreams) and its usage.
    pub(crate) async fn chat_body(
        &self,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatBody, ProviderError> {
        let req = prepare_chat(route, req)?;
        adapters::of(route).chat_body(&self.up, route, req).await
    }

    /// A streamed chat completion as typed chunks. Errors before the upstream accepted the
    /// request are returned here (with their HTTP mapping); later failures arrive as the
    /// stream's last item.
    pub async fn chat_stream(
        &self,
        route: &Route,
        req: ChatRequest,
    ) -> Result<ChatStream, ProviderError> {
        let kind = route.kind;
        let frames = self.frames(route, req).await?;
        Ok(Box::pin(
            frames
                .flat_map(move |frame| {
                    let items = match frame {
                        Ok(Frame::Chunk(c)) => vec![Ok(c)],
                        Ok(Frame::Sse(bytes)) => sse_chunks(kind, &bytes),
                        Err(e) => vec![Err(e)],
                    };
                    futures::stream::iter(items)
                })
                .scan(false, |failed, item| {
                    // Nothing after the first error.
                    let out = (!*failed).then_some(item);
                    *failed = *failed || out.as_ref().is_some_and(Result::is_err);
                    futures::future::ready(out)
                }),
        ))
    }

    /// A streamed chat completion as the adapter produces it (pass-through SSE for
    /// OpenAI-compatible upstreams, typed chunks otherwise), usage rule applied.
    pub(crate) async fn frames(
        &self,
        route: &Route,
        req: ChatRequest,
    ) -> Result<FrameStream, ProviderError> {
        let include_usage = req.include_usage();
        let req = prepare_chat(route, req)?;
        let frames = adapters::of(route)
            .chat_stream(&self.up, route, req)
            .await?;
        Ok(usage_last(frames, include_usage))
    }

    /// The upstream's model list, in OpenAI shape.
    pub async fn models(&self, route: &Route) -> Result<ModelList, ProviderError> {
        adapters::of(route).models(&self.up, route).await
    }

    /// Embeddings with the route's model; [`ProviderError::NoEmbeddings`] when the provider
    /// has none (nothing is sent).
    pub async fn embeddings(
        &self,
        route: &Route,
        mut req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        if !route.profile().caps.embeddings {
            return Err(ProviderError::NoEmbeddings(route.kind));
        }
        force_model(route, &mut req.model);
        adapters::of(route).embeddings(&self.up, route, req).await
    }
}

/// The one place the route's model is forced: whatever the caller named is replaced, and
/// adapters build their upstream requests and report their answers from this value.
pub(crate) fn force_model(route: &Route, model: &mut Option<String>) {
    *model = Some(route.model.clone());
}

fn prepare_chat(route: &Route, mut req: ChatRequest) -> Result<ChatRequest, ProviderError> {
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
    let wants_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    if wants_tools && !route.profile().caps.tools {
        return Err(ProviderError::unsupported(route.kind, "tools"));
    }
    force_model(route, &mut req.model);
    Ok(req)
}

struct UsageLast {
    inner: FrameStream,
    include_usage: bool,
    usage: Option<Usage>,
    id: Option<String>,
    created: u64,
    model: String,
    done: bool,
}

/// Moves the usage of translated chunks into one final, choice-less chunk (only when the
/// caller asked for it). Pass-through SSE is left alone: its upstream follows the same rule.
fn usage_last(inner: FrameStream, include_usage: bool) -> FrameStream {
    let state = UsageLast {
        inner,
        include_usage,
        usage: None,
        id: None,
        created: 0,
        model: String::new(),
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(Frame::Chunk(mut chunk))) => {
                    if st.id.is_none() {
                        st.id = Some(chunk.id.clone());
                        st.created = chunk.created;
                        st.model.clone_from(&chunk.model);
                    }
                    if let Some(u) = chunk.usage.take() {
                        st.usage = Some(u);
                    }
                    if chunk.choices.is_empty() {
                        continue;
                    }
                    return Some((Ok(Frame::Chunk(chunk)), st));
                }
                Some(other) => {
                    st.done = other.is_err();
                    return Some((other, st));
                }
                None => {
                    st.done = true;
                    let usage = st.usage.take().filter(|_| st.include_usage)?;
                    let chunk = ChatChunk {
                        id: st.id.take().unwrap_or_else(completion_id),
                        object: "chat.completion.chunk".to_string(),
                        created: if st.created == 0 {
                            now_secs()
                        } else {
                            st.created
                        },
                        model: std::mem::take(&mut st.model),
                        choices: Vec::new(),
                        usage: Some(usage),
                        extra: Extra::new(),
                    };
                    return Some((Ok(Frame::Chunk(chunk)), st));
                }
            }
        }
    }))
}

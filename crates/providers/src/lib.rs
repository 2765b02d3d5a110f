//! `sandgate-providers`: inference routing for sandgate.
//!
//! A sandbox calls `https://inference.local/v1/...` in OpenAI's shape; the gateway looks up
//! that sandbox's [`Route`] and hands the request to [`InferenceService::handle`] (HTTP level)
//! or [`InferenceClient`] (typed level). The request is translated to the provider's native
//! API by one adapter per [`NativeApi`], sent with the route's [`Credential`] and forced
//! model, and the answer is translated back, streaming included; OpenAI-compatible streams
//! pass through byte for byte.
//!
//! Inside (crate-private; their API is re-exported here): provider ids and static profiles
//! (`kind`), resolved routes, credentials and limits (`route`), [`ProviderError`] and its
//! OpenAI error JSON (`error`), the typed [`InferenceClient`] (`client`, one dispatch to one
//! adapter per native API), a per-request hook for first-token time and usage (`observe`),
//! the HTTP-level [`InferenceService`] (`service`, one axum router), and the OpenAI Responses
//! and Anthropic Messages surfaces (`responses`, `messages`). Public modules:
//! - [`types`]: the OpenAI-shaped request/response types;
//! - `fake` (feature `fake`): fake upstream servers for tests, examples and benchmarks.
//!
//! Not here: authenticating sandboxes, TLS for `inference.local`, storing routes.

mod adapters;
mod chunk;
mod client;
mod embeddings;
mod error;
mod events;
#[cfg(feature = "fake")]
pub mod fake;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod kind;
mod messages;
mod observe;
mod passthrough;
mod responses;
mod route;
mod service;
mod sse;
mod stream;
pub mod types;
mod upstream;

pub use adapters::mock::MockConfig;
pub use client::InferenceClient;
pub use error::{
    AnthropicErrorBody, AnthropicErrorDetail, ErrorBody, ErrorDetail, ErrorShape, ProviderError,
};
pub use kind::{
    AuthStyle, Capabilities, NativeApi, ProviderKind, ProviderProfile, UnknownProvider,
};
pub use observe::{InferenceObserver, Observer};
pub use route::{
    Credential, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_REQUEST_BODY,
    DEFAULT_MAX_RESPONSE_BODY, DEFAULT_TIMEOUT, Limits, Route,
};
pub use service::InferenceService;
pub use stream::ChatStream;
pub use types::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse,
    FinishReason, ModelList, Role, Usage,
};

//! `sandgate-providers`: inference routing for sandgate.
//!
//! A sandbox calls `https://inference.local/v1/...` in OpenAI's shape; the gateway looks up
//! that sandbox's [`Route`] and hands the request to [`InferenceService::handle`] (HTTP level)
//! or [`InferenceClient`] (typed level). The request is translated to the provider's native
//! API by one adapter per [`NativeApi`], sent with the route's [`Credential`] and forced
//! model, and the answer is translated back, streaming included; OpenAI-compatible streams
//! pass through byte for byte.
//!
//! Modules:
//! - [`kind`]: provider ids and their static profiles;
//! - [`route`]: resolved routes, credentials, limits;
//! - [`types`]: the OpenAI-shaped request/response types;
//! - [`error`]: [`ProviderError`] and its OpenAI error JSON;
//! - [`client`]: the typed [`InferenceClient`] (one dispatch to one adapter per native API);
//! - [`observe`]: a per-request hook for first-token time and usage (metrics);
//! - [`service`]: the HTTP-level [`InferenceService`] (one axum router, the one path match);
//! - `responses`, `messages`: the OpenAI Responses and Anthropic Messages surfaces, translated
//!   to and from the chat request and stream (Anthropic routes pass Messages through);
//! - `fake` (feature `fake`): fake upstream servers for tests, examples and benchmarks.
//!
//! Not here: authenticating sandboxes, TLS for `inference.local`, storing routes.

mod adapters;
pub mod chunk;
pub mod client;
pub mod embeddings;
pub mod error;
mod events;
#[cfg(feature = "fake")]
pub mod fake;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod kind;
mod messages;
pub mod observe;
mod passthrough;
mod responses;
pub mod route;
pub mod service;
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
pub use route::{Credential, Limits, Route};
pub use service::InferenceService;
pub use stream::ChatStream;
pub use types::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse,
    FinishReason, ModelList, Role, Usage,
};

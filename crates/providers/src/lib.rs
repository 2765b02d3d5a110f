//! `sandgate-providers`: inference routing for sandgate.
//!
//! A sandbox calls `https://inference.local/v1/...` in OpenAI's shape; the gateway looks up
//! that sandbox's [`Route`] and hands the request to [`InferenceService::handle`] (HTTP level)
//! or [`InferenceClient`] (typed level). The request is translated to the provider's native
//! API by one adapter per [`NativeApi`], sent with the route's [`Credential`] and forced
//! model, and the answer is translated back, streaming included.
//!
//! Modules:
//! - [`kind`]: provider ids and their static profiles;
//! - [`route`]: resolved routes, credentials, limits;
//! - [`types`]: the OpenAI-shaped request/response types;
//! - [`error`]: [`ProviderError`] and its OpenAI error JSON;
//! - [`router`]: the typed [`InferenceClient`];
//! - [`service`]: the HTTP-level [`InferenceService`];
//! - [`fake`]: fake upstream servers for tests, demos and benchmarks (test equipment).
//!
//! Not here: authenticating sandboxes, TLS for `inference.local`, storing routes.

mod adapters;
pub mod chunk;
pub mod embeddings;
pub mod error;
pub mod fake;
pub mod kind;
pub mod route;
pub mod router;
pub mod service;
mod stream;
pub mod types;
mod upstream;

pub use adapters::mock::MockConfig;
pub use error::{ErrorBody, ErrorDetail, ProviderError};
pub use kind::{AuthStyle, NativeApi, ProviderKind, ProviderProfile, UnknownProvider};
pub use route::{Credential, Limits, Route};
pub use router::InferenceClient;
pub use service::{InferenceService, error_response};
pub use stream::ChatStream;
pub use types::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse,
    FinishReason, ModelList, Role, Usage,
};

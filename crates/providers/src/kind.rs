//! Provider kinds and their static profiles.
//!
//! Everything the client needs to know about a provider is data in a [`ProviderProfile`]:
//! which native API it speaks, how its credential is presented, where it lives by default.
//! The forwarding code branches on [`NativeApi`] and [`AuthStyle`], never on provider names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A provider id, parsed once at the edge (`ollama-local`, `gemini-api`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    /// A local Ollama server, native `/api/chat`.
    #[serde(rename = "ollama-local")]
    OllamaLocal,
    /// Google AI Studio (Gemini API), native `generateContent`.
    #[serde(rename = "gemini-api")]
    GeminiApi,
    /// OpenAI's hosted API.
    #[serde(rename = "openai-api")]
    OpenAiApi,
    /// Anthropic's hosted API, native `/v1/messages`.
    #[serde(rename = "anthropic-prod")]
    AnthropicProd,
    /// NVIDIA's hosted, OpenAI-compatible API.
    #[serde(rename = "nvidia-prod")]
    NvidiaProd,
    /// A local vLLM server (OpenAI-compatible).
    #[serde(rename = "vllm-local")]
    VllmLocal,
    /// Any other OpenAI-compatible endpoint (llama.cpp, OpenRouter, Ollama's `/v1`, …).
    #[serde(rename = "compatible-endpoint")]
    CompatibleEndpoint,
    /// The built-in, in-process, deterministic mock provider.
    #[serde(rename = "mock")]
    Mock,
}

/// The native wire format an adapter speaks to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NativeApi {
    /// OpenAI chat completions (`/chat/completions`, `/models`, `/embeddings`).
    OpenAiChat,
    /// Ollama native (`/api/chat`, `/api/tags`, `/api/embed`).
    OllamaChat,
    /// Gemini native (`models/{m}:generateContent`, `:streamGenerateContent`, `models`).
    GeminiGenerate,
    /// Anthropic messages (`/v1/messages`, `/v1/models`).
    AnthropicMessages,
    /// In-process mock, no network.
    Mock,
}

/// How the route's credential is presented to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-goog-api-key: <key>` (Gemini).
    XGoogApiKey,
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// No credential is sent.
    None,
}

impl AuthStyle {
    /// The header name used for this style, if any.
    pub fn header_name(self) -> Option<&'static str> {
        match self {
            AuthStyle::Bearer => Some("authorization"),
            AuthStyle::XGoogApiKey => Some("x-goog-api-key"),
            AuthStyle::XApiKey => Some("x-api-key"),
            AuthStyle::None => None,
        }
    }
}

/// What a provider can serve. The client and the service consult only this: a request for
/// something a provider lacks is refused before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `/v1/embeddings` can be served.
    pub embeddings: bool,
    /// Function tools (and `tool_choice`) can be mapped.
    pub tools: bool,
    /// The upstream itself speaks OpenAI SSE and honours `stream_options.include_usage`, so
    /// its stream is passed through byte for byte; otherwise the adapter translates and the
    /// usage chunk is built here.
    pub stream_passthrough: bool,
}

const OPENAI_COMPATIBLE: Capabilities = Capabilities {
    embeddings: true,
    tools: true,
    stream_passthrough: true,
};

const NATIVE: Capabilities = Capabilities {
    embeddings: true,
    tools: true,
    stream_passthrough: false,
};

/// Static knowledge about one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderProfile {
    /// The provider this profile describes.
    pub kind: ProviderKind,
    /// Base URL used when a route does not name an endpoint.
    pub default_endpoint: &'static str,
    /// The wire format the adapter speaks.
    pub native_api: NativeApi,
    /// How the credential is presented.
    pub auth: AuthStyle,
    /// Conventional environment variable holding the credential, if the provider takes one.
    pub credential_env: Option<&'static str>,
    /// Whether a request without a credential is refused before anything is sent.
    pub credential_required: bool,
    /// Model used when onboarding names none.
    pub default_model: Option<&'static str>,
    /// What the provider can do; nothing else decides it.
    pub caps: Capabilities,
    /// Headers every upstream request carries (e.g. `anthropic-version`).
    pub default_headers: &'static [(&'static str, &'static str)],
}

static PROFILES: [ProviderProfile; 8] = [
    ProviderProfile {
        kind: ProviderKind::OllamaLocal,
        default_endpoint: "http://127.0.0.1:11434",
        native_api: NativeApi::OllamaChat,
        // Local Ollama needs no key; a route may still carry one for an Ollama behind an
        // authenticating proxy, and it is then sent as a Bearer token.
        auth: AuthStyle::Bearer,
        credential_env: None,
        credential_required: false,
        default_model: Some("llama3.2"),
        caps: NATIVE,
        default_headers: &[],
    },
    ProviderProfile {
        kind: ProviderKind::GeminiApi,
        default_endpoint: "https://generativelanguage.googleapis.com/v1beta",
        native_api: NativeApi::GeminiGenerate,
        auth: AuthStyle::XGoogApiKey,
        credential_env: Some("GEMINI_API_KEY"),
        credential_required: true,
        default_model: Some("gemini-2.5-flash"),
        caps: NATIVE,
        default_headers: &[],
    },
    ProviderProfile {
        kind: ProviderKind::OpenAiApi,
        default_endpoint: "https://api.openai.com/v1",
        native_api: NativeApi::OpenAiChat,
        auth: AuthStyle::Bearer,
        credential_env: Some("OPENAI_API_KEY"),
        credential_required: true,
        default_model: Some("gpt-4o-mini"),
        caps: OPENAI_COMPATIBLE,
        default_headers: &[],
    },
    ProviderProfile {
        kind: ProviderKind::AnthropicProd,
        default_endpoint: "https://api.anthropic.com",
        native_api: NativeApi::AnthropicMessages,
        auth: AuthStyle::XApiKey,
        credential_env: Some("ANTHROPIC_API_KEY"),
        credential_required: true,
        default_model: Some("claude-sonnet-4-5"),
        caps: Capabilities {
            embeddings: false,
            ..NATIVE
        },
        default_headers: &[("anthropic-version", "2023-06-01")],
    },
    ProviderProfile {
        kind: ProviderKind::NvidiaProd,
        default_endpoint: "https://integrate.api.nvidia.com/v1",
        native_api: NativeApi::OpenAiChat,
        auth: AuthStyle::Bearer,
        credential_env: Some("NVIDIA_API_KEY"),
        credential_required: true,
        default_model: Some("nvidia/llama-3.3-nemotron-super-49b-v1"),
        caps: OPENAI_COMPATIBLE,
        default_headers: &[],
    },
    ProviderProfile {
        kind: ProviderKind::VllmLocal,
        default_endpoint: "http://127.0.0.1:8000/v1",
        native_api: NativeApi::OpenAiChat,
        auth: AuthStyle::Bearer,
        credential_env: None,
        credential_required: false,
        default_model: None,
        caps: OPENAI_COMPATIBLE,
        default_headers: &[],
    },
    ProviderProfile {
        kind: ProviderKind::CompatibleEndpoint,
        default_endpoint: "http://127.0.0.1:8080/v1",
        native_api: NativeApi::OpenAiChat,
        auth: AuthStyle::Bearer,
        credential_env: Some("COMPATIBLE_API_KEY"),
        credential_required: false,
        default_model: None,
        caps: OPENAI_COMPATIBLE,
        default_headers: &[],
    },
    ProviderProfile {
        kind: ProviderKind::Mock,
        default_endpoint: "mock://",
        native_api: NativeApi::Mock,
        auth: AuthStyle::None,
        credential_env: None,
        credential_required: false,
        default_model: Some("mock-model"),
        caps: NATIVE,
        default_headers: &[],
    },
];

impl ProviderKind {
    /// Every provider kind, in a stable order.
    pub const ALL: [ProviderKind; 8] = [
        ProviderKind::OllamaLocal,
        ProviderKind::GeminiApi,
        ProviderKind::OpenAiApi,
        ProviderKind::AnthropicProd,
        ProviderKind::NvidiaProd,
        ProviderKind::VllmLocal,
        ProviderKind::CompatibleEndpoint,
        ProviderKind::Mock,
    ];

    /// The stable id (`ollama-local`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OllamaLocal => "ollama-local",
            ProviderKind::GeminiApi => "gemini-api",
            ProviderKind::OpenAiApi => "openai-api",
            ProviderKind::AnthropicProd => "anthropic-prod",
            ProviderKind::NvidiaProd => "nvidia-prod",
            ProviderKind::VllmLocal => "vllm-local",
            ProviderKind::CompatibleEndpoint => "compatible-endpoint",
            ProviderKind::Mock => "mock",
        }
    }

    /// The static profile for this provider.
    pub fn profile(self) -> &'static ProviderProfile {
        // PROFILES is ordered like ALL; the position is found, not assumed.
        let idx = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        &PROFILES[idx]
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown provider id; lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider `{given}`; valid providers: {}", valid_ids())]
pub struct UnknownProvider {
    /// The id that was given.
    pub given: String,
}

fn valid_ids() -> String {
    ProviderKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for ProviderKind {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        ProviderKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownProvider {
                given: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_fromstr_display_and_serde() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.profile().kind, kind);
        }
    }

    #[test]
    fn unknown_id_lists_valid_ones() {
        let err = "bedrock".parse::<ProviderKind>().err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("bedrock"));
        assert!(msg.contains("ollama-local") && msg.contains("mock"));
    }
}

//! OpenAI-shaped embeddings types.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::types::{Extra, Usage};

/// `input` of an embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
    /// One pre-tokenized input.
    Tokens(Vec<u32>),
    /// Several pre-tokenized inputs.
    TokenBatches(Vec<Vec<u32>>),
}

/// `POST /v1/embeddings` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    /// The caller's model; always replaced by the route's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What to embed.
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Requested dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Unmodelled fields, forwarded to OpenAI-compatible upstreams.
    #[serde(flatten)]
    pub extra: Extra,
}

impl EmbeddingsRequest {
    /// The inputs as texts; token inputs cannot be mapped to native text APIs.
    pub fn texts(&self, provider: ProviderKind) -> Result<Vec<String>, ProviderError> {
        match &self.input {
            EmbeddingInput::One(s) => Ok(vec![s.clone()]),
            EmbeddingInput::Many(v) if v.is_empty() => Err(ProviderError::InvalidRequest(
                "input must not be empty".into(),
            )),
            EmbeddingInput::Many(v) => Ok(v.clone()),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => Err(
                ProviderError::unsupported(provider, "token-array embedding input"),
            ),
        }
    }

    /// Whether the caller wants base64-encoded vectors (the OpenAI SDKs' default).
    pub fn wants_base64(&self) -> bool {
        self.encoding_format.as_deref() == Some("base64")
    }

    /// Refuses fields a native adapter cannot map.
    pub(crate) fn check_native(&self, provider: ProviderKind) -> Result<(), ProviderError> {
        match self.encoding_format.as_deref() {
            None | Some("float") | Some("base64") => {}
            Some(other) => {
                return Err(ProviderError::unsupported(
                    provider,
                    format!("encoding_format `{other}`"),
                ));
            }
        }
        if let Some(key) = self.extra.keys().find(|k| k.as_str() != "user") {
            return Err(ProviderError::unsupported(
                provider,
                format!("embeddings parameter `{key}`"),
            ));
        }
        Ok(())
    }
}

/// One embedding vector: floats, or base64 of little-endian `f32`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// `encoding_format: float`.
    Float(Vec<f32>),
    /// `encoding_format: base64`.
    Base64(String),
}

/// One entry of an embeddings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Always `embedding`.
    pub object: String,
    /// Input index.
    pub index: u32,
    /// The vector.
    pub embedding: EmbeddingVector,
}

/// `POST /v1/embeddings` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    /// Always `list`.
    pub object: String,
    /// One entry per input.
    pub data: Vec<Embedding>,
    /// The route's model.
    pub model: String,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl EmbeddingsResponse {
    /// Builds a response from float vectors, encoding them as the request asked.
    pub fn from_vectors(
        model: &str,
        vectors: Vec<Vec<f32>>,
        base64: bool,
        usage: Option<Usage>,
    ) -> Self {
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| Embedding {
                object: "embedding".to_string(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                embedding: if base64 {
                    EmbeddingVector::Base64(encode_f32(&v))
                } else {
                    EmbeddingVector::Float(v)
                },
            })
            .collect();
        Self {
            object: "list".to_string(),
            data,
            model: model.to_string(),
            usage,
            extra: Extra::new(),
        }
    }
}

fn encode_f32(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|f| f.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let resp = EmbeddingsResponse::from_vectors("m", vec![vec![1.0, -2.5]], true, None);
        let EmbeddingVector::Base64(b) = &resp.data[0].embedding else {
            panic!("expected base64");
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_default();
        assert_eq!(raw.len(), 8);
        assert_eq!(f32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]), -2.5);
    }
}

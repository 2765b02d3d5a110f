//! Entry points for the coverage-guided fuzz targets in `fuzz/` (feature `fuzzing`; not an
//! API): the Responses and Messages request parsers, and the four stream translators fed
//! arbitrary bytes in arbitrary splits. Each returns normally on any input; a panic, hang or
//! unbounded allocation is the bug the fuzzer looks for.

use bytes::Bytes;
use futures::StreamExt;

use crate::adapters::{anthropic, gemini, ollama};
use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::passthrough::passthrough;
use crate::service::parse_json;
use crate::stream::{ByteStream, Frame, FrameStream};
use crate::types::ChatRequest;

/// Longest line a translator accepts here (small, so over-long lines are reachable).
const MAX_LINE: usize = 4096;

/// Which upstream wire format the bytes are read as.
#[derive(Debug, Clone, Copy)]
pub enum Wire {
    /// OpenAI-compatible SSE (byte pass-through with event scanning).
    OpenAiSse,
    /// Ollama NDJSON.
    OllamaNdjson,
    /// Gemini SSE.
    GeminiSse,
    /// Anthropic SSE.
    AnthropicSse,
}

impl Wire {
    /// The wire a selector byte picks.
    pub fn from_byte(b: u8) -> Wire {
        match b % 4 {
            0 => Wire::OpenAiSse,
            1 => Wire::OllamaNdjson,
            2 => Wire::GeminiSse,
            _ => Wire::AnthropicSse,
        }
    }
}

/// Parses `body` as a `POST /v1/responses` request and translates it to a chat request.
pub fn responses_request(body: &[u8]) -> bool {
    parse_json(body).and_then(crate::responses::to_chat).is_ok()
}

/// Parses `body` as a `POST /v1/messages` request and translates it to a chat request.
pub fn messages_request(body: &[u8]) -> bool {
    parse_json(body).and_then(crate::messages::to_chat).is_ok()
}

/// Feeds `pieces` (one upstream body, split as the network might) through the translator of
/// `wire`; returns how many frames came out before the end or the first error.
pub fn translate(wire: Wire, pieces: Vec<Vec<u8>>) -> usize {
    let bytes: ByteStream = Box::pin(futures::stream::iter(
        pieces
            .into_iter()
            .map(|p| Ok::<_, ProviderError>(Bytes::from(p))),
    ));
    #[allow(clippy::expect_used)]
    let req: ChatRequest = serde_json::from_str(r#"{"model":"fuzz","messages":[]}"#)
        .expect("a minimal chat request parses");
    let frames: FrameStream = match wire {
        Wire::OpenAiSse => passthrough(bytes, ProviderKind::OpenAiApi, MAX_LINE),
        Wire::OllamaNdjson => {
            ollama::stream_frames(bytes, &req, ProviderKind::OllamaLocal, MAX_LINE)
        }
        Wire::GeminiSse => gemini::stream_frames(bytes, &req, ProviderKind::GeminiApi, MAX_LINE),
        Wire::AnthropicSse => {
            anthropic::stream_frames(bytes, &req, ProviderKind::AnthropicProd, MAX_LINE)
        }
    };
    futures::executor::block_on(async move {
        let mut frames = frames;
        let mut n = 0;
        while let Some(item) = frames.next().await {
            match item {
                Ok(Frame::Chunk(_) | Frame::Sse(_)) => n += 1,
                Err(_) => break,
            }
        }
        n
    })
}

/// Splits `data` into pieces the way `fuzz/` does: the first byte picks the piece length
/// (1..=64), the rest is cut into pieces of that length.
pub fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let Some((&k, rest)) = data.split_first() else {
        return Vec::new();
    };
    let len = usize::from(k % 64) + 1;
    rest.chunks(len).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wire_translates_a_valid_stream() {
        let cases: [(Wire, &str); 4] = [
            (
                Wire::OpenAiSse,
                "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"index\":0}]}\n\ndata: [DONE]\n\n",
            ),
            (
                Wire::OllamaNdjson,
                "{\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"done\":false}\n{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n",
            ),
            (
                Wire::GeminiSse,
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}\n\n",
            ),
            (
                Wire::AnthropicSse,
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ),
        ];
        for (wire, body) in cases {
            let mut data = vec![2u8];
            data.extend_from_slice(body.as_bytes());
            assert!(translate(wire, split(&data)) > 0, "{wire:?}");
        }
    }

    #[test]
    fn request_parsers_accept_valid_and_refuse_garbage() {
        assert!(responses_request(br#"{"model":"m","input":"hi"}"#));
        assert!(messages_request(
            br#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#
        ));
        assert!(!responses_request(b"{"));
        assert!(!messages_request(b"[]"));
    }
}

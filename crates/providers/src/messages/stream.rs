//! Chat chunks → Anthropic stream events: `message_start`, `ping`, per block
//! `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
//! `content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`. A
//! failure mid-stream is one `error` event.

use std::collections::HashMap;

use serde_json::json;

use super::stop_reason;
use super::wire::{BlockDelta, Event, MessageDeltaBody, MessageResponse, MessageUsage, OutBlock};
use crate::error::{AnthropicErrorBody, ProviderError};
use crate::events::{Encoder, Piece, new_id, pieces};
use crate::types::{ChatChunk, FinishReason, ToolCallDelta, Usage};

/// The stream encoder.
pub(super) struct Events {
    id: String,
    model: String,
    /// Blocks started so far; the last one is open while `open` is set.
    blocks: usize,
    open: Option<Open>,
    /// Chat tool call index → block index.
    calls: HashMap<u32, usize>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(usize),
    Tool(usize),
}

impl Events {
    pub(super) fn new(model: &str) -> Self {
        Self {
            id: new_id("msg_"),
            model: model.to_string(),
            blocks: 0,
            open: None,
            calls: HashMap::new(),
            finish: None,
            usage: None,
        }
    }

    fn start_block(&mut self, block: OutBlock, out: &mut Vec<Event>) -> usize {
        self.close(out);
        let index = self.blocks;
        self.blocks += 1;
        out.push(Event::ContentBlockStart {
            index,
            content_block: block,
        });
        index
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if let Some(Open::Text(index) | Open::Tool(index)) = self.open.take() {
            out.push(Event::ContentBlockStop { index });
        }
    }

    fn text(&mut self, text: String, out: &mut Vec<Event>) {
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => {
                let i = self.start_block(
                    OutBlock::Text {
                        text: String::new(),
                    },
                    out,
                );
                self.open = Some(Open::Text(i));
                i
            }
        };
        out.push(Event::ContentBlockDelta {
            index,
            delta: BlockDelta::TextDelta { text },
        });
    }

    fn call(&mut self, delta: ToolCallDelta, out: &mut Vec<Event>) {
        let function = delta.function.unwrap_or_default();
        let index = match self.calls.get(&delta.index) {
            Some(i) => *i,
            None => {
                let block = OutBlock::ToolUse {
                    id: delta.id.unwrap_or_else(|| new_id("toolu_")),
                    name: function.name.clone().unwrap_or_default(),
                    input: json!({}),
                };
                let i = self.start_block(block, out);
                self.open = Some(Open::Tool(i));
                self.calls.insert(delta.index, i);
                i
            }
        };
        if let Some(partial_json) = function.arguments.filter(|a| !a.is_empty()) {
            out.push(Event::ContentBlockDelta {
                index,
                delta: BlockDelta::InputJsonDelta { partial_json },
            });
        }
    }

    fn usage(&self) -> MessageUsage {
        self.usage
            .as_ref()
            .map_or(MessageUsage::default(), |u| MessageUsage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
            })
    }
}

impl Encoder for Events {
    type Event = Event;

    fn start(&mut self, out: &mut Vec<Event>) {
        out.push(Event::MessageStart {
            message: MessageResponse {
                id: self.id.clone(),
                kind: "message",
                role: "assistant",
                model: self.model.clone(),
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: MessageUsage::default(),
            },
        });
        out.push(Event::Ping);
    }

    fn chunk(&mut self, chunk: ChatChunk, out: &mut Vec<Event>) {
        for piece in pieces(chunk, &mut self.usage, &mut self.finish) {
            match piece {
                Piece::Text(text) => self.text(text, out),
                Piece::Call(call) => self.call(call, out),
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        self.close(out);
        out.push(Event::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: stop_reason(self.finish),
                stop_sequence: None,
            },
            usage: self.usage(),
        });
        out.push(Event::MessageStop);
    }

    fn fail(&mut self, err: &ProviderError, out: &mut Vec<Event>) {
        out.push(Event::Error {
            error: AnthropicErrorBody::new(err.status(), err.client_message()).error,
        });
    }
}

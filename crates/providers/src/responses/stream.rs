//! Chat answers → Responses answers: the buffered `response` object ([`Shell::complete`]) and
//! the typed event stream ([`Events`]): `response.created`, `response.in_progress`, then per
//! output item `response.output_item.added`, (`response.content_part.added`,
//! `response.output_text.delta`…, `response.output_text.done`, `response.content_part.done`)
//! or (`response.function_call_arguments.delta`…, `response.function_call_arguments.done`),
//! `response.output_item.done`, and last `response.completed` (or `response.incomplete`
//! after a length cut) with usage. A failure mid-stream is an `error` event followed by
//! `response.failed`.

use std::collections::HashMap;

use serde_json::json;

use super::wire::{
    CachedTokens, CreateResponse, EventBody, IncompleteDetails, OutputItem, OutputText,
    ReasoningTokens, ResponseError, ResponseObject, ResponseUsage, StreamEvent, TextConfig,
    TextFormat,
};
use crate::error::ProviderError;
use crate::events::{Encoder, Piece, new_id, pieces};
use crate::stream::now_secs;
use crate::types::{ChatChunk, ChatResponse, FinishReason, Usage};

/// The response object without output: what the request echoes back.
#[derive(Debug, Clone)]
pub(super) struct Shell(ResponseObject);

impl Shell {
    pub(super) fn new(req: &CreateResponse, model: &str) -> Self {
        let tool_choice = req
            .tool_choice
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok())
            .unwrap_or_else(|| json!("auto"));
        Self(ResponseObject {
            id: new_id("resp_"),
            object: "response",
            created_at: now_secs(),
            status: "in_progress",
            model: model.to_string(),
            output: Vec::new(),
            usage: None,
            error: None,
            incomplete_details: None,
            instructions: req.instructions.clone(),
            max_output_tokens: req.max_output_tokens,
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            temperature: req.temperature,
            top_p: req.top_p,
            tool_choice,
            tools: req.tools.clone().unwrap_or_default(),
            text: TextConfig {
                format: Some(TextFormat {
                    kind: "text".into(),
                }),
            },
            truncation: "disabled",
            metadata: req.metadata.clone().unwrap_or_else(|| json!({})),
        })
    }

    /// The finished response object.
    fn finished(
        &self,
        output: Vec<OutputItem>,
        finish: Option<FinishReason>,
        usage: Option<&Usage>,
    ) -> ResponseObject {
        let mut r = self.0.clone();
        r.output = output;
        r.usage = usage.map(usage_of);
        if finish == Some(FinishReason::Length) {
            r.status = "incomplete";
            r.incomplete_details = Some(IncompleteDetails {
                reason: "max_output_tokens",
            });
        } else {
            r.status = "completed";
        }
        r
    }

    /// The buffered answer.
    pub(super) fn complete(&self, resp: ChatResponse) -> ResponseObject {
        let mut output = Vec::new();
        let mut finish = None;
        if let Some(choice) = resp.choices.into_iter().next() {
            finish = choice.finish_reason;
            let text = choice.message.content.unwrap_or_default();
            let calls = choice.message.tool_calls.unwrap_or_default();
            if !text.is_empty() || calls.is_empty() {
                output.push(message(new_id("msg_"), "completed", text));
            }
            output.extend(calls.into_iter().map(|c| OutputItem::FunctionCall {
                id: new_id("fc_"),
                call_id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
                status: "completed",
            }));
        }
        self.finished(output, finish, resp.usage.as_ref())
    }
}

fn message(id: String, status: &'static str, text: String) -> OutputItem {
    OutputItem::Message {
        id,
        status,
        role: "assistant",
        content: vec![OutputText::new(text)],
    }
}

fn usage_of(u: &Usage) -> ResponseUsage {
    ResponseUsage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        input_tokens_details: CachedTokens { cached_tokens: 0 },
        output_tokens_details: ReasoningTokens {
            reasoning_tokens: 0,
        },
    }
}

/// One output item being streamed.
#[derive(Debug)]
enum Item {
    Text {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        args: String,
    },
}

impl Item {
    fn id(&self) -> &str {
        match self {
            Item::Text { id, .. } | Item::Call { id, .. } => id,
        }
    }

    fn output(&self, status: &'static str) -> OutputItem {
        match self {
            Item::Text { id, text } => message(id.clone(), status, text.clone()),
            Item::Call {
                id,
                call_id,
                name,
                args,
            } => OutputItem::FunctionCall {
                id: id.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: args.clone(),
                status,
            },
        }
    }
}

/// The stream encoder.
pub(super) struct Events {
    shell: Shell,
    seq: u64,
    items: Vec<Item>,
    /// The item still open (receiving deltas), by output index.
    open: Option<usize>,
    /// Chat tool call index → output index.
    calls: HashMap<u32, usize>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl Events {
    pub(super) fn new(shell: Shell) -> Self {
        Self {
            shell,
            seq: 0,
            items: Vec::new(),
            open: None,
            calls: HashMap::new(),
            finish: None,
            usage: None,
        }
    }

    fn ev(&mut self, kind: &'static str, body: EventBody) -> StreamEvent {
        let ev = StreamEvent {
            kind,
            sequence_number: self.seq,
            body,
        };
        self.seq += 1;
        ev
    }

    fn snapshot(&mut self, kind: &'static str, response: ResponseObject) -> StreamEvent {
        self.ev(
            kind,
            EventBody::Response {
                response: Box::new(response),
            },
        )
    }

    /// Opens a new output item (closing the open one).
    fn open(&mut self, item: Item, out: &mut Vec<StreamEvent>) -> usize {
        self.close(out);
        let index = self.items.len();
        let added = item.output("in_progress");
        let is_text = matches!(item, Item::Text { .. });
        let item_id = item.id().to_string();
        self.items.push(item);
        self.open = Some(index);
        let ev = self.ev(
            "response.output_item.added",
            EventBody::Item {
                output_index: index,
                item: match added {
                    OutputItem::Message {
                        id, status, role, ..
                    } => OutputItem::Message {
                        id,
                        status,
                        role,
                        content: Vec::new(),
                    },
                    call => call,
                },
            },
        );
        out.push(ev);
        if is_text {
            let ev = self.ev(
                "response.content_part.added",
                EventBody::Part {
                    item_id,
                    output_index: index,
                    content_index: 0,
                    part: OutputText::new(String::new()),
                },
            );
            out.push(ev);
        }
        index
    }

    /// Closes the open item with its done events.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        let Some(index) = self.open.take() else {
            return;
        };
        let Some(item) = self.items.get(index) else {
            return;
        };
        let item_id = item.id().to_string();
        let done = item.output("completed");
        let mut evs = Vec::new();
        match item {
            Item::Text { text, .. } => {
                let text = text.clone();
                evs.push((
                    "response.output_text.done",
                    EventBody::TextDone {
                        item_id: item_id.clone(),
                        output_index: index,
                        content_index: 0,
                        text: text.clone(),
                        logprobs: Vec::new(),
                    },
                ));
                evs.push((
                    "response.content_part.done",
                    EventBody::Part {
                        item_id,
                        output_index: index,
                        content_index: 0,
                        part: OutputText::new(text),
                    },
                ));
            }
            Item::Call { name, args, .. } => evs.push((
                "response.function_call_arguments.done",
                EventBody::ArgsDone {
                    item_id,
                    output_index: index,
                    name: name.clone(),
                    arguments: args.clone(),
                },
            )),
        }
        evs.push((
            "response.output_item.done",
            EventBody::Item {
                output_index: index,
                item: done,
            },
        ));
        for (kind, body) in evs {
            let ev = self.ev(kind, body);
            out.push(ev);
        }
    }

    fn text(&mut self, delta: String, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some(i) if matches!(self.items.get(i), Some(Item::Text { .. })) => i,
            _ => self.open(
                Item::Text {
                    id: new_id("msg_"),
                    text: String::new(),
                },
                out,
            ),
        };
        let Some(Item::Text { id, text }) = self.items.get_mut(index) else {
            return;
        };
        text.push_str(&delta);
        let item_id = id.clone();
        let ev = self.ev(
            "response.output_text.delta",
            EventBody::TextDelta {
                item_id,
                output_index: index,
                content_index: 0,
                delta,
                logprobs: Vec::new(),
            },
        );
        out.push(ev);
    }

    fn call(&mut self, delta: crate::types::ToolCallDelta, out: &mut Vec<StreamEvent>) {
        let function = delta.function.unwrap_or_default();
        let index = match self.calls.get(&delta.index) {
            Some(i) => *i,
            None => {
                let item = Item::Call {
                    id: new_id("fc_"),
                    call_id: delta.id.unwrap_or_else(|| new_id("call_")),
                    name: function.name.clone().unwrap_or_default(),
                    args: String::new(),
                };
                let i = self.open(item, out);
                self.calls.insert(delta.index, i);
                i
            }
        };
        let Some(Item::Call { id, name, args, .. }) = self.items.get_mut(index) else {
            return;
        };
        if name.is_empty()
            && let Some(n) = function.name
        {
            *name = n;
        }
        let Some(piece) = function.arguments.filter(|a| !a.is_empty()) else {
            return;
        };
        args.push_str(&piece);
        let item_id = id.clone();
        let ev = self.ev(
            "response.function_call_arguments.delta",
            EventBody::ArgsDelta {
                item_id,
                output_index: index,
                delta: piece,
            },
        );
        out.push(ev);
    }
}

impl Encoder for Events {
    type Event = StreamEvent;

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        let r = self.shell.0.clone();
        let created = self.snapshot("response.created", r.clone());
        out.push(created);
        let progress = self.snapshot("response.in_progress", r);
        out.push(progress);
    }

    fn chunk(&mut self, chunk: ChatChunk, out: &mut Vec<StreamEvent>) {
        for piece in pieces(chunk, &mut self.usage, &mut self.finish) {
            match piece {
                Piece::Text(text) => self.text(text, out),
                Piece::Call(call) => self.call(call, out),
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.close(out);
        let output = self.items.iter().map(|i| i.output("completed")).collect();
        let r = self
            .shell
            .finished(output, self.finish, self.usage.as_ref());
        let kind = if r.status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let ev = self.snapshot(kind, r);
        out.push(ev);
    }

    fn fail(&mut self, err: &ProviderError, out: &mut Vec<StreamEvent>) {
        let ev = self.ev(
            "error",
            EventBody::Error {
                code: err.code().to_string(),
                message: err.client_message(),
                param: None,
            },
        );
        out.push(ev);
        let mut r = self.shell.0.clone();
        r.status = "failed";
        r.output = self.items.iter().map(|i| i.output("incomplete")).collect();
        r.error = Some(ResponseError {
            code: err.code().to_string(),
            message: err.client_message(),
        });
        let ev = self.snapshot("response.failed", r);
        out.push(ev);
    }
}

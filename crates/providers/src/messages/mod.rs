//! `POST /v1/messages`: the Anthropic Messages API, for every provider.
//!
//! On an Anthropic route the request passes through (see [`passthrough`]): parsed (so bad
//! input is refused here), the model forced, sent with the route's credential, and the
//! upstream's answer relayed byte for byte. On every other route it is translated to the
//! internal chat request: `system` → a system message; `text` blocks → text; assistant
//! `tool_use` → tool calls; user `tool_result` → tool messages; client `tools` and
//! `tool_choice` (`auto`/`any`/`tool`/`none`); `max_tokens`; `stop_sequences` → `stop`. The
//! answer comes back as a `message` (`end_turn` / `max_tokens` / `tool_use`), streams as
//! `message_start`, `ping`, `content_block_*`, `message_delta`, `message_stop` (see
//! [`stream`]). Blocks other than text and tools (images, documents, thinking), server
//! tools and unknown parameters are refused with an Anthropic-shaped 400, nothing sent.

mod passthrough;
mod stream;
mod wire;

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use crate::adapters::mapping::{is_empty_value, parse_arguments};
use crate::client::InferenceClient;
use crate::error::ProviderError;
use crate::events::new_id;
use crate::kind::NativeApi;
use crate::route::Route;
use crate::types::{
    ChatMessage, ChatRequest, ChatResponse, Extra, FinishReason, FunctionCall, FunctionDef,
    ModelList, NamedFunction, NamedToolChoice, Role, Stop, Tool, ToolCall, ToolChoice,
    ToolChoiceMode,
};
use wire::{
    Block, MessageResponse, MessageUsage, MessagesRequest, ModelInfo, ModelPage, OutBlock, StrOr,
    TurnRole,
};

/// Top-level fields that do not change the answer.
const IGNORABLE: &[&str] = &["service_tier", "container"];

/// Serves one `POST /v1/messages`.
pub(crate) async fn handle(
    client: &InferenceClient,
    route: &Route,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ProviderError> {
    let req: MessagesRequest = crate::service::read_json(client, headers, body).await?;
    if route.profile().native_api == NativeApi::AnthropicMessages {
        return passthrough::send(client, route, req).await;
    }
    let chat = to_chat(req)?;
    let enc = stream::Events::new(&route.model);
    crate::events::answer(client, route, chat, enc, |r| from_chat(r, &route.model)).await
}

fn unsupported(what: impl Into<String>) -> ProviderError {
    ProviderError::InvalidRequest(format!(
        "{} cannot be translated for this route (only Anthropic routes take them)",
        what.into()
    ))
}

/// The text of text-only content (`system`, tool results).
fn text_of(content: Option<StrOr<Block>>, what: &str) -> Result<String, ProviderError> {
    match content {
        None => Ok(String::new()),
        Some(StrOr::Str(s)) => Ok(s),
        Some(StrOr::List(blocks)) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    Block::Text { text, .. } => out.push(text),
                    other => {
                        return Err(unsupported(format!("`{}` blocks in {what}", other.kind())));
                    }
                }
            }
            Ok(out.join("\n"))
        }
    }
}

/// The chat request an Anthropic Messages request means.
pub(crate) fn to_chat(req: MessagesRequest) -> Result<ChatRequest, ProviderError> {
    for (key, value) in &req.extra {
        if !IGNORABLE.contains(&key.as_str()) && !is_empty_value(value) {
            return Err(unsupported(format!("parameter `{key}`")));
        }
    }
    if req.max_tokens == 0 {
        return Err(ProviderError::InvalidRequest(
            "`max_tokens` must be at least 1".into(),
        ));
    }
    let mut messages = Vec::new();
    let system = text_of(req.system, "`system`")?;
    if !system.is_empty() {
        messages.push(ChatMessage::text(Role::System, system));
    }
    for turn in req.messages {
        if let Some((key, _)) = turn.extra.iter().find(|(_, v)| !is_empty_value(v)) {
            return Err(unsupported(format!("message field `{key}`")));
        }
        let blocks = match turn.content {
            StrOr::Str(s) => vec![Block::Text {
                text: s,
                extra: Extra::new(),
            }],
            StrOr::List(blocks) => blocks,
        };
        match turn.role {
            TurnRole::User => push_user(&mut messages, blocks)?,
            TurnRole::Assistant => push_assistant(&mut messages, blocks)?,
        }
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(ProviderError::InvalidRequest(
            "`messages` must contain at least one message".into(),
        ));
    }
    let mut chat = ChatRequest::new(messages);
    chat.model = req.model;
    chat.max_tokens = Some(req.max_tokens);
    chat.temperature = req.temperature;
    chat.top_p = req.top_p;
    chat.stop = req.stop_sequences.filter(|s| !s.is_empty()).map(Stop::Many);
    if req.stream.unwrap_or(false) {
        chat.stream_with_usage();
    }
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| match t.kind.as_deref() {
            None | Some("custom") => Ok(Tool {
                kind: "function".into(),
                function: FunctionDef {
                    name: t.name,
                    description: t.description,
                    parameters: t.input_schema,
                    extra: Extra::new(),
                },
            }),
            Some(other) => Err(unsupported(format!("server tool `{other}`"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    chat.tools = (!tools.is_empty()).then_some(tools);
    chat.tool_choice = req
        .tool_choice
        .map(|c| match (c.kind.as_str(), c.name) {
            ("auto", _) => Ok(ToolChoice::Mode(ToolChoiceMode::Auto)),
            ("any", _) => Ok(ToolChoice::Mode(ToolChoiceMode::Required)),
            ("none", _) => Ok(ToolChoice::Mode(ToolChoiceMode::None)),
            ("tool", Some(name)) => Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction { name },
            })),
            ("tool", None) => Err(ProviderError::InvalidRequest(
                "`tool_choice` of type `tool` needs a `name`".into(),
            )),
            (other, _) => Err(ProviderError::InvalidRequest(format!(
                "unknown `tool_choice` type `{other}` (use auto, any, tool, none)"
            ))),
        })
        .transpose()?;
    Ok(chat)
}

/// A user turn: tool results first (they answer the previous assistant turn), then text.
fn push_user(messages: &mut Vec<ChatMessage>, blocks: Vec<Block>) -> Result<(), ProviderError> {
    let mut text = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text: t, .. } => text.push(t),
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
                ..
            } => {
                let mut out = text_of(content, "`tool_result` content")?;
                if is_error == Some(true) {
                    out = format!("error: {out}");
                }
                let mut msg = ChatMessage::text(Role::Tool, out);
                msg.tool_call_id = Some(tool_use_id);
                messages.push(msg);
            }
            other => return Err(unsupported(format!("`{}` blocks", other.kind()))),
        }
    }
    if !text.is_empty() {
        messages.push(ChatMessage::text(Role::User, text.join("\n")));
    }
    Ok(())
}

fn push_assistant(
    messages: &mut Vec<ChatMessage>,
    blocks: Vec<Block>,
) -> Result<(), ProviderError> {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text: t, .. } => text.push(t),
            Block::ToolUse {
                id, name, input, ..
            } => calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: if input.is_null() {
                        "{}".into()
                    } else {
                        input.to_string()
                    },
                },
            }),
            other => return Err(unsupported(format!("`{}` blocks", other.kind()))),
        }
    }
    let mut msg = ChatMessage::text(Role::Assistant, text.join("\n"));
    if !calls.is_empty() {
        if text.is_empty() {
            msg.content = None;
        }
        msg.tool_calls = Some(calls);
    }
    messages.push(msg);
    Ok(())
}

/// `stop_reason` for a chat finish.
fn stop_reason(finish: Option<FinishReason>) -> &'static str {
    match finish {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Stop) | None => "end_turn",
    }
}

/// A tool call's arguments as Anthropic's `input` object.
fn input_of(arguments: &str) -> serde_json::Value {
    parse_arguments(arguments).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

/// The translated buffered answer.
fn from_chat(resp: ChatResponse, model: &str) -> MessageResponse {
    let mut content = Vec::new();
    let mut finish = None;
    if let Some(choice) = resp.choices.into_iter().next() {
        finish = choice.finish_reason;
        if let Some(text) = choice.message.content.filter(|t| !t.is_empty()) {
            content.push(OutBlock::Text { text });
        }
        for call in choice.message.tool_calls.unwrap_or_default() {
            content.push(OutBlock::ToolUse {
                input: input_of(&call.function.arguments),
                id: call.id,
                name: call.function.name,
            });
        }
    }
    let usage = resp
        .usage
        .map_or(MessageUsage::default(), |u| MessageUsage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        });
    MessageResponse {
        id: new_id("msg_"),
        kind: "message",
        role: "assistant",
        model: model.to_string(),
        content,
        stop_reason: Some(stop_reason(finish)),
        stop_sequence: None,
        usage,
    }
}

/// `GET /v1/models` for callers that sent `anthropic-version`.
pub(crate) fn model_page(list: ModelList) -> Response {
    let data: Vec<ModelInfo> = list
        .data
        .into_iter()
        .map(|m| ModelInfo {
            kind: "model",
            display_name: m.id.clone(),
            created_at: rfc3339(m.created),
            id: m.id,
        })
        .collect();
    Json(ModelPage {
        has_more: false,
        first_id: data.first().map(|m| m.id.clone()),
        last_id: data.last().map(|m| m.id.clone()),
        data,
    })
    .into_response()
}

/// Unix seconds as an RFC 3339 UTC timestamp.
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
    }

    #[test]
    fn unknown_block_types_name_themselves() {
        let err = serde_json::from_str::<MessagesRequest>(
            r#"{"max_tokens":5,"messages":[{"role":"user","content":[{"type":"bogus"}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}

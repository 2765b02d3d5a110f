//! `POST /v1/responses`: the OpenAI Responses API, for every provider, by translation to and
//! from the internal chat request and stream.
//!
//! Request: `instructions` → a leading system message; `input` (a string → one user
//! message; items → messages, `function_call` → assistant tool calls, `function_call_output`
//! → tool messages); function `tools` and `tool_choice`; `max_output_tokens` → `max_tokens`;
//! `temperature`, `top_p`. Answer: one `message` item (`output_text`) and one `function_call`
//! item per tool call; a length cut is `status: "incomplete"`. Streams are the typed event
//! sequence (see [`stream`]). What cannot be expressed in a chat request — hosted tools,
//! `previous_response_id`, reasoning items, non-text parts, structured output formats — is
//! refused with 400 before anything is sent.

mod stream;
mod wire;

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;

use crate::client::InferenceClient;
use crate::error::ProviderError;
use crate::route::Route;
use crate::types::{
    ChatMessage, ChatRequest, Extra, FunctionCall, FunctionDef, NamedFunction, NamedToolChoice,
    Role, Tool, ToolCall, ToolChoice, ToolChoiceMode,
};
use wire::{CreateResponse, Input, InputItem, ItemContent};

/// Top-level fields that do not change the answer.
const IGNORABLE: &[&str] = &[
    "store",
    "user",
    "service_tier",
    "truncation",
    "include",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
];

/// Serves one `POST /v1/responses`.
pub(crate) async fn handle(
    client: &InferenceClient,
    route: &Route,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ProviderError> {
    let req: CreateResponse = crate::service::read_json(client, headers, body).await?;
    let shell = stream::Shell::new(&req, &route.model);
    let chat = to_chat(req)?;
    let enc = stream::Events::new(shell.clone());
    crate::events::answer(client, route, chat, enc, |r| shell.complete(r)).await
}

fn unsupported(what: impl Into<String>) -> ProviderError {
    ProviderError::InvalidRequest(format!(
        "{} cannot be translated for this route",
        what.into()
    ))
}

/// The chat request a Responses request means.
pub(crate) fn to_chat(req: CreateResponse) -> Result<ChatRequest, ProviderError> {
    for (key, value) in &req.extra {
        if !IGNORABLE.contains(&key.as_str()) && !crate::adapters::mapping::is_empty_value(value) {
            return Err(unsupported(format!("parameter `{key}`")));
        }
    }
    if let Some(format) = req.text.as_ref().and_then(|t| t.format.as_ref())
        && format.kind != "text"
    {
        return Err(unsupported(format!("`text.format` `{}`", format.kind)));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = req.instructions.filter(|i| !i.is_empty()) {
        messages.push(ChatMessage::text(Role::System, instructions));
    }
    match req.input {
        Input::Text(text) => messages.push(ChatMessage::text(Role::User, text)),
        Input::Items(items) => {
            for item in items {
                push_item(&mut messages, item)?;
            }
        }
    }
    if messages.iter().all(|m| m.role == Role::System) {
        return Err(ProviderError::InvalidRequest(
            "`input` must contain at least one item".into(),
        ));
    }
    let mut chat = ChatRequest::new(messages);
    chat.model = req.model;
    chat.max_tokens = req.max_output_tokens;
    chat.temperature = req.temperature;
    chat.top_p = req.top_p;
    if req.stream.unwrap_or(false) {
        chat.stream_with_usage();
    }
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| match (t.kind.as_str(), t.name) {
            ("function", Some(name)) => {
                let mut extra = Extra::new();
                if let Some(strict) = t.strict {
                    extra.insert("strict".into(), strict.into());
                }
                Ok(Tool {
                    kind: "function".into(),
                    function: FunctionDef {
                        name,
                        description: t.description,
                        parameters: t.parameters,
                        extra,
                    },
                })
            }
            ("function", None) => Err(ProviderError::InvalidRequest(
                "a function tool needs a `name`".into(),
            )),
            (other, _) => Err(unsupported(format!("`{other}` tools"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    chat.tools = (!tools.is_empty()).then_some(tools);
    chat.tool_choice = req.tool_choice.map(tool_choice).transpose()?;
    Ok(chat)
}

fn tool_choice(choice: wire::ToolChoice) -> Result<ToolChoice, ProviderError> {
    match choice {
        wire::ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Mode(ToolChoiceMode::Auto)),
            "none" => Ok(ToolChoice::Mode(ToolChoiceMode::None)),
            "required" => Ok(ToolChoice::Mode(ToolChoiceMode::Required)),
            other => Err(ProviderError::InvalidRequest(format!(
                "unknown `tool_choice` `{other}` (use auto, none, required)"
            ))),
        },
        wire::ToolChoice::Function { kind, name } if kind == "function" => {
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction { name },
            }))
        }
        wire::ToolChoice::Function { kind, .. } => {
            Err(unsupported(format!("`tool_choice` of type `{kind}`")))
        }
    }
}

/// The text of a message's content or a tool's output; only text parts translate.
fn content_text(content: Option<ItemContent>) -> Result<String, ProviderError> {
    match content {
        None => Ok(String::new()),
        Some(ItemContent::Text(text)) => Ok(text),
        Some(ItemContent::Parts(parts)) => {
            let mut out = String::new();
            for part in parts {
                match (part.kind.as_str(), part.text) {
                    ("input_text" | "output_text" | "text", Some(t)) => out.push_str(&t),
                    ("input_text" | "output_text" | "text", None) => {
                        return Err(ProviderError::InvalidRequest(
                            "a text content part has no `text`".into(),
                        ));
                    }
                    ("refusal", _) => {}
                    (other, _) => return Err(unsupported(format!("`{other}` content parts"))),
                }
            }
            Ok(out)
        }
    }
}

fn push_item(messages: &mut Vec<ChatMessage>, item: InputItem) -> Result<(), ProviderError> {
    match item.kind.as_deref().unwrap_or("message") {
        "message" => {
            let role = match item.role.as_deref() {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system") => Role::System,
                Some("developer") => Role::Developer,
                Some(other) => {
                    return Err(ProviderError::InvalidRequest(format!(
                        "unknown message role `{other}`"
                    )));
                }
                None => {
                    return Err(ProviderError::InvalidRequest(
                        "an input message needs a `role`".into(),
                    ));
                }
            };
            let text = content_text(item.content)?;
            messages.push(ChatMessage::text(role, text));
        }
        "function_call" => {
            let (Some(call_id), Some(name)) = (item.call_id, item.name) else {
                return Err(ProviderError::InvalidRequest(
                    "a `function_call` item needs `call_id` and `name`".into(),
                ));
            };
            let call = ToolCall {
                id: call_id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: item.arguments.unwrap_or_else(|| "{}".into()),
                },
            };
            // Consecutive calls belong to one assistant turn.
            match messages.last_mut() {
                Some(last) if last.role == Role::Assistant && last.tool_call_id.is_none() => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => {
                    let mut msg = ChatMessage::text(Role::Assistant, "");
                    msg.content = None;
                    msg.tool_calls = Some(vec![call]);
                    messages.push(msg);
                }
            }
        }
        "function_call_output" => {
            let Some(call_id) = item.call_id else {
                return Err(ProviderError::InvalidRequest(
                    "a `function_call_output` item needs `call_id`".into(),
                ));
            };
            let mut msg = ChatMessage::text(Role::Tool, content_text(item.output)?);
            msg.tool_call_id = Some(call_id);
            messages.push(msg);
        }
        "item_reference"
        | "reasoning"
        | "file_search_call"
        | "web_search_call"
        | "computer_call"
        | "computer_call_output"
        | "image_generation_call"
        | "code_interpreter_call"
        | "local_shell_call"
        | "local_shell_call_output"
        | "mcp_call"
        | "mcp_list_tools"
        | "mcp_approval_request"
        | "mcp_approval_response"
        | "custom_tool_call"
        | "custom_tool_call_output" => {
            return Err(unsupported(format!(
                "`{}` input items",
                item.kind.unwrap_or_default()
            )));
        }
        other => {
            return Err(ProviderError::InvalidRequest(format!(
                "unknown input item type `{other}`"
            )));
        }
    }
    Ok(())
}

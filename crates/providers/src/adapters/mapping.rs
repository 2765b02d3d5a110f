//! Helpers the native adapters share for mapping OpenAI-shaped requests.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::types::{ChatMessage, ChatRequest, MessageContent, Tool};

/// Request fields every native adapter may ignore: they do not change the answer.
const IGNORABLE: &[&str] = &[
    "user",
    "store",
    "metadata",
    "parallel_tool_calls",
    "service_tier",
];

/// Refuses `n > 1` and any top-level field neither ignorable nor in `understood`.
pub(crate) fn check_request(
    provider: ProviderKind,
    req: &ChatRequest,
    understood: &[&str],
) -> Result<(), ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::unsupported(provider, "n > 1"));
    }
    for (key, value) in &req.extra {
        let known = IGNORABLE.contains(&key.as_str()) || understood.contains(&key.as_str());
        if !known && !is_empty_value(value) {
            return Err(ProviderError::unsupported(
                provider,
                format!("parameter `{key}`"),
            ));
        }
    }
    for msg in &req.messages {
        if let Some((key, _)) = msg.extra.iter().find(|(_, v)| !is_empty_value(v)) {
            return Err(ProviderError::unsupported(
                provider,
                format!("message field `{key}`"),
            ));
        }
    }
    Ok(())
}

/// Values that ask for nothing: `null`, `false`, `0`, `[]`, `{}` (SDKs often send
/// `logprobs: false` or `frequency_penalty: 0` explicitly).
pub(crate) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(_) => false,
    }
}

/// The text of a message content; non-text parts cannot be mapped.
pub(crate) fn content_text(
    provider: ProviderKind,
    content: Option<&MessageContent>,
) -> Result<String, ProviderError> {
    match content {
        None => Ok(String::new()),
        Some(MessageContent::Text(s)) => Ok(s.clone()),
        Some(MessageContent::Parts(parts)) => {
            let mut out = String::new();
            for part in parts {
                match (part.kind.as_str(), &part.text) {
                    ("text", Some(t)) => out.push_str(t),
                    ("text", None) => {
                        return Err(ProviderError::InvalidRequest(
                            "a text content part has no `text`".into(),
                        ));
                    }
                    (other, _) => {
                        return Err(ProviderError::unsupported(
                            provider,
                            format!("`{other}` content parts"),
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

/// The function tools of a request; other tool types cannot be mapped.
pub(crate) fn function_tools(
    provider: ProviderKind,
    req: &ChatRequest,
) -> Result<&[Tool], ProviderError> {
    let tools = req.tools.as_deref().unwrap_or_default();
    if let Some(t) = tools.iter().find(|t| t.kind != "function") {
        return Err(ProviderError::unsupported(
            provider,
            format!("`{}` tools", t.kind),
        ));
    }
    Ok(tools)
}

/// Maps tool call ids to function names, for providers whose tool results name the function.
pub(crate) fn tool_names_by_id(messages: &[ChatMessage]) -> HashMap<&str, &str> {
    messages
        .iter()
        .filter_map(|m| m.tool_calls.as_ref())
        .flatten()
        .map(|c| (c.id.as_str(), c.function.name.as_str()))
        .collect()
}

/// Parses OpenAI's JSON-string tool arguments into an object.
pub(crate) fn parse_arguments(args: &str) -> Result<Value, ProviderError> {
    if args.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(args).map_err(|e| {
        ProviderError::InvalidRequest(format!("tool call arguments are not valid JSON: {e}"))
    })
}

/// Counts whitespace-separated words, the mock's and the fakes' notion of a token.
pub(crate) fn word_count(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count()).unwrap_or(u64::MAX)
}

/// A model name that is safe to put into a URL path segment.
pub(crate) fn path_safe_model(
    provider: ProviderKind,
    model: &str,
) -> Result<String, ProviderError> {
    let name = model.strip_prefix("models/").unwrap_or(model);
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(ProviderError::InvalidRoute(format!(
            "model `{model}` of the {provider} route is not a valid model name"
        )))
    }
}

/// A fresh tool call id for providers that do not assign one.
pub(crate) fn new_call_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", hex.get(..24).unwrap_or(&hex))
}

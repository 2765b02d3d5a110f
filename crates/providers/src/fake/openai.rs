//! Fake OpenAI chat-completions upstream (`/v1/chat/completions`, `/v1/models`,
//! `/v1/embeddings`), Bearer auth, OpenAI error shapes.

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Response};
use serde_json::{Value, json};

use super::Call;
use super::wire::{
    Script, buffered_chat, input_texts, json_response, pre_chat, sse_data, stream_response, vector,
};
use crate::embeddings::EmbeddingsResponse;
use crate::types::Usage;

fn error(status: u16, message: &str, kind: &str, code: Value) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
    )
}

fn server_error(status: u16) -> Response<Body> {
    error(
        status,
        "The server had an error while processing your request.",
        "server_error",
        Value::Null,
    )
}

pub(crate) async fn handle(call: Call) -> Response<Body> {
    if let Some(expected) = &call.cfg.credential
        && call.bearer() != Some(expected.as_str())
    {
        return error(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            json!("invalid_api_key"),
        );
    }
    match (&call.method, call.path.as_str()) {
        (&Method::POST, "/v1/chat/completions") => chat(&call).await,
        (&Method::GET, "/v1/models") => {
            let data: Vec<Value> = call
                .cfg
                .models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": format!("fake-{}", call.cfg.label)}))
                .collect();
            json_response(200, &json!({"object": "list", "data": data}))
        }
        (&Method::POST, "/v1/embeddings") => embeddings(&call),
        _ => error(
            404,
            &format!("Unknown request URL: {} {}", call.method, call.path),
            "invalid_request_error",
            json!("unknown_url"),
        ),
    }
}

fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

async fn chat(call: &Call) -> Response<Body> {
    let body = &call.body;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return error(
            400,
            "'messages' is a required property",
            "invalid_request_error",
            Value::Null,
        );
    };
    if model.is_empty() || messages.is_empty() {
        return error(
            400,
            "'model' and 'messages' are required",
            "invalid_request_error",
            Value::Null,
        );
    }
    if let Some(resp) = pre_chat(call, server_error).await {
        return resp;
    }
    let answered = messages.iter().any(|m| m["role"] == "tool");
    let tool = body
        .pointer("/tools/0/function/name")
        .and_then(Value::as_str)
        .filter(|_| !answered)
        .map(str::to_string);
    let script = Script::new(&call.cfg, &last_user_text(messages), tool, body);
    let usage = json!({
        "prompt_tokens": script.prompt_tokens,
        "completion_tokens": script.completion_tokens,
        "total_tokens": script.total_tokens(),
    });
    let finish = if script.tool().is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut message = json!({"role": "assistant", "content": null, "refusal": null});
        if let Some((id, name, args)) = script.tool() {
            message["tool_calls"] = json!([{"id": id, "type": "function",
                "function": {"name": name, "arguments": args.to_string()}}]);
        } else {
            message["content"] = json!(script.text());
        }
        let value = json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
        });
        return buffered_chat(call, &script, &value).await;
    }
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse_data(&c, false)
    };
    let mut frames: Vec<Bytes> = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in &script.pieces {
        match piece {
            super::wire::Piece::Text(t) => frames.push(chunk(json!({"content": t}), Value::Null)),
            super::wire::Piece::Tool { id, name, args } => {
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": args.to_string()}}]}),
                    Value::Null,
                ));
            }
        }
    }
    frames.push(chunk(json!({}), json!(finish)));
    if include_usage {
        frames.push(sse_data(
            &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [], "usage": usage}),
            false,
        ));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    stream_response(call, "text/event-stream", frames)
}

fn embeddings(call: &Call) -> Response<Body> {
    let texts = input_texts(call.body.get("input").unwrap_or(&Value::Null));
    let model = call.body.get("model").and_then(Value::as_str).unwrap_or("");
    if texts.is_empty() || model.is_empty() {
        return error(
            400,
            "'input' and 'model' are required",
            "invalid_request_error",
            Value::Null,
        );
    }
    let base64 = call.body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let words: u64 = texts
        .iter()
        .map(|t| crate::adapters::mapping::word_count(t))
        .sum();
    let vectors = texts.iter().map(|t| vector(&call.cfg, t)).collect();
    let resp = EmbeddingsResponse::from_vectors(model, vectors, base64, Some(Usage::new(words, 0)));
    json_response(200, &serde_json::to_value(resp).unwrap_or(Value::Null))
}

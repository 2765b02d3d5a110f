//! Fake Anthropic upstream: `POST /v1/messages` (SSE events when streaming),
//! `GET /v1/models`. Requires `anthropic-version` and `max_tokens` like the real API; key in
//! `x-api-key`; Anthropic error shapes. No embeddings.

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Response};
use serde_json::{Value, json};

use super::Call;
use super::wire::{
    Piece, Script, buffered_chat, json_response, pre_chat, sse_named, stream_response,
};

fn error(status: u16, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

fn server_error(status: u16) -> Response<Body> {
    match status {
        529 => error(529, "overloaded_error", "Overloaded"),
        429 => error(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
        ),
        s => error(s, "api_error", "Internal server error"),
    }
}

pub(crate) async fn handle(call: Call) -> Response<Body> {
    if let Some(expected) = &call.cfg.credential
        && call.header("x-api-key") != Some(expected.as_str())
    {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    if call.header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    match (&call.method, call.path.as_str()) {
        (&Method::POST, "/v1/messages") => messages(&call).await,
        (&Method::GET, "/v1/models") => {
            let data: Vec<Value> = call
                .cfg
                .models
                .iter()
                .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}))
                .collect();
            let first = data.first().map(|m| m["id"].clone()).unwrap_or(Value::Null);
            let last = data.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
            json_response(
                200,
                &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
            )
        }
        _ => error(404, "not_found_error", "Not found"),
    }
}

fn block_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

async fn messages(call: &Call) -> Response<Body> {
    let body = &call.body;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return error(400, "invalid_request_error", "model: Field required");
    }
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return error(400, "invalid_request_error", "max_tokens: Field required");
    }
    let msgs = body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if msgs.is_empty() {
        return error(
            400,
            "invalid_request_error",
            "messages: at least one message is required",
        );
    }
    for m in &msgs {
        if !matches!(m["role"].as_str(), Some("user" | "assistant")) {
            return error(
                400,
                "invalid_request_error",
                "messages: roles must be user or assistant",
            );
        }
        if m["content"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["type"] == "text" && b["text"] == ""))
        {
            return error(
                400,
                "invalid_request_error",
                "messages: text content blocks must be non-empty",
            );
        }
    }
    if let Some(resp) = pre_chat(call, server_error).await {
        return resp;
    }
    let last_user = msgs
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(|m| block_text(&m["content"]))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let answered = msgs.iter().any(|m| {
        m["content"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["type"] == "tool_result"))
    });
    let tool = body
        .pointer("/tools/0/name")
        .and_then(Value::as_str)
        .filter(|_| !answered)
        .map(str::to_string);
    let script = Script::new(&call.cfg, &last_user, tool, body);
    let stop_reason = if script.tool().is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let content = match script.tool() {
            Some((id, name, args)) => {
                json!([{"type": "tool_use", "id": id, "name": name, "input": args}])
            }
            None => json!([{"type": "text", "text": script.text()}]),
        };
        let value = json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": script.prompt_tokens, "output_tokens": script.completion_tokens}});
        return buffered_chat(call, &script, &value).await;
    }
    let mut frames: Vec<Bytes> = vec![sse_named(
        "message_start",
        &json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
            "role": "assistant", "model": model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": script.prompt_tokens, "output_tokens": 1}}}),
    )];
    if let Some((id, name, args)) = script.tool() {
        frames.push(sse_named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ));
        let json_text = args.to_string();
        let (a, b) = json_text.split_at(json_text.len() / 2);
        for part in [a, b] {
            frames.push(sse_named(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
    } else {
        frames.push(sse_named(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ));
        frames.push(sse_named("ping", &json!({"type": "ping"})));
        for piece in &script.pieces {
            if let Piece::Text(t) = piece {
                frames.push(sse_named(
                    "content_block_delta",
                    &json!({"type": "content_block_delta",
                    "index": 0, "delta": {"type": "text_delta", "text": t}}),
                ));
            }
        }
    }
    frames.push(sse_named(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(sse_named(
        "message_delta",
        &json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": script.completion_tokens}}),
    ));
    frames.push(sse_named("message_stop", &json!({"type": "message_stop"})));
    stream_response(call, "text/event-stream", frames)
}

//! Fake Ollama upstream (`/api/chat` with NDJSON streaming, `/api/tags`, `/api/embed`).
//! Like Ollama, `stream` defaults to true. A required credential is checked as a Bearer
//! token (Ollama behind an authenticating proxy).

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Response};
use serde_json::{Value, json};

use super::Call;
use super::wire::{
    Piece, Script, buffered_chat, input_texts, json_response, pre_chat, stream_response, vector,
};

const CREATED_AT: &str = "2025-01-01T00:00:00Z";

fn error(status: u16, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

pub(crate) async fn handle(call: Call) -> Response<Body> {
    if let Some(expected) = &call.cfg.credential
        && call.bearer() != Some(expected.as_str())
    {
        return error(401, "unauthorized");
    }
    match (&call.method, call.path.as_str()) {
        (&Method::POST, "/api/chat") => chat(&call).await,
        (&Method::GET, "/api/tags") => {
            let models: Vec<Value> = call
                .cfg
                .models
                .iter()
                .map(|m| {
                    json!({"name": format!("{m}:latest"), "model": format!("{m}:latest"),
                        "modified_at": CREATED_AT, "size": 1, "digest": "fake",
                        "details": {"format": "gguf", "family": "fake"}})
                })
                .collect();
            json_response(200, &json!({ "models": models }))
        }
        (&Method::POST, "/api/embed") => {
            let texts = input_texts(call.body.get("input").unwrap_or(&Value::Null));
            let model = call.body.get("model").and_then(Value::as_str).unwrap_or("");
            if texts.is_empty() || model.is_empty() {
                return error(400, "model and input are required");
            }
            let vectors: Vec<Vec<f32>> = texts.iter().map(|t| vector(&call.cfg, t)).collect();
            let words: u64 = texts
                .iter()
                .map(|t| crate::adapters::mapping::word_count(t))
                .sum();
            json_response(
                200,
                &json!({"model": model, "embeddings": vectors, "prompt_eval_count": words}),
            )
        }
        _ => error(404, "404 page not found"),
    }
}

async fn chat(call: &Call) -> Response<Body> {
    let body = &call.body;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return error(400, "model is required");
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in &messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "system" | "user" | "assistant" | "tool") {
            return error(400, &format!("invalid role: {role}"));
        }
        if m.get("content").is_some_and(|c| !c.is_string()) {
            return error(
                400,
                "json: cannot unmarshal array into Go struct field Message.messages.content of type string",
            );
        }
    }
    if let Some(resp) = pre_chat(call, |s| error(s, "fake ollama failure")).await {
        return resp;
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let answered = messages.iter().any(|m| m["role"] == "tool");
    let tool = body
        .pointer("/tools/0/function/name")
        .and_then(Value::as_str)
        .filter(|_| !answered)
        .map(str::to_string);
    let script = Script::new(&call.cfg, &last_user, tool, body);
    let tool_calls = script.tool().map(
        |(_, name, args)| json!([{"function": {"index": 0, "name": name, "arguments": args}}]),
    );
    let done = |message: Value| {
        json!({"model": model, "created_at": CREATED_AT, "message": message, "done": true,
            "done_reason": "stop", "total_duration": 1000, "load_duration": 10,
            "prompt_eval_count": script.prompt_tokens, "eval_count": script.completion_tokens})
    };
    if body.get("stream").and_then(Value::as_bool) == Some(false) {
        let mut message = json!({"role": "assistant", "content": script.text()});
        if let Some(calls) = &tool_calls {
            message["tool_calls"] = calls.clone();
        }
        return buffered_chat(call, &script, &done(message)).await;
    }
    let line = |v: Value| Bytes::from(format!("{v}\n"));
    let mut frames = Vec::new();
    for piece in &script.pieces {
        let message = match piece {
            Piece::Text(t) => json!({"role": "assistant", "content": t}),
            Piece::Tool { .. } => {
                json!({"role": "assistant", "content": "", "tool_calls": tool_calls.clone().unwrap_or(Value::Null)})
            }
        };
        frames.push(line(
            json!({"model": model, "created_at": CREATED_AT, "message": message, "done": false}),
        ));
    }
    frames.push(line(done(json!({"role": "assistant", "content": ""}))));
    stream_response(call, "application/x-ndjson", frames)
}

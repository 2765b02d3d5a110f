//! Fake Gemini upstream under `/v1beta`: `models/{m}:generateContent`,
//! `:streamGenerateContent?alt=sse` (CRLF-framed SSE, no `[DONE]`), `GET models`,
//! `:batchEmbedContents`. Key in `x-goog-api-key` (or `?key=`); Google error shapes.

use axum::body::Body;
use http::{Method, Response};
use serde_json::{Value, json};

use super::Call;
use super::wire::{
    Piece, Script, buffered_chat, json_response, pre_chat, sse_data, stream_response, vector,
};

fn error(code: u16, status: &str, message: &str) -> Response<Body> {
    json_response(
        code,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

fn server_error(code: u16) -> Response<Body> {
    let status = match code {
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    error(
        code,
        status,
        "The model is overloaded. Please try again later.",
    )
}

fn query_key(query: &str) -> Option<&str> {
    query.split('&').find_map(|kv| kv.strip_prefix("key="))
}

pub(crate) async fn handle(call: Call) -> Response<Body> {
    if let Some(expected) = &call.cfg.credential {
        let given = call
            .header("x-goog-api-key")
            .or_else(|| query_key(&call.query));
        match given {
            None => {
                return error(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                );
            }
            Some(k) if k != expected => {
                let mut resp = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}});
                resp["error"]["details"][0]["domain"] = json!("googleapis.com");
                return json_response(400, &resp);
            }
            Some(_) => {}
        }
    }
    if call.method == Method::GET && call.path == "/v1beta/models" {
        let models: Vec<Value> = call
            .cfg
            .models
            .iter()
            .map(|m| {
                json!({"name": format!("models/{m}"), "displayName": m,
                    "supportedGenerationMethods": ["generateContent", "countTokens"]})
            })
            .collect();
        return json_response(200, &json!({ "models": models }));
    }
    let Some(rest) = call.path.strip_prefix("/v1beta/models/") else {
        return error(404, "NOT_FOUND", "Requested entity was not found.");
    };
    let Some((model, method)) = rest.split_once(':') else {
        return error(404, "NOT_FOUND", "Requested entity was not found.");
    };
    let model = model.to_string();
    match (call.method.clone(), method) {
        (Method::POST, "generateContent") => chat(&call, &model, false).await,
        (Method::POST, "streamGenerateContent") => chat(&call, &model, true).await,
        (Method::POST, "batchEmbedContents") => {
            let requests = call
                .body
                .get("requests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "* BatchEmbedContentsRequest.requests: must not be empty",
                );
            }
            let embeddings: Vec<Value> = requests
                .iter()
                .map(|r| {
                    let text = r
                        .pointer("/content/parts/0/text")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    json!({ "values": vector(&call.cfg, text) })
                })
                .collect();
            json_response(200, &json!({ "embeddings": embeddings }))
        }
        _ => error(404, "NOT_FOUND", "Requested entity was not found."),
    }
}

async fn chat(call: &Call, model: &str, stream: bool) -> Response<Body> {
    let body = &call.body;
    if stream && !call.query.split('&').any(|kv| kv == "alt=sse") {
        return error(
            400,
            "INVALID_ARGUMENT",
            "this fake only streams with alt=sse",
        );
    }
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if contents.is_empty() {
        return error(
            400,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified",
        );
    }
    for c in &contents {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        if !matches!(role, "user" | "model") {
            return error(
                400,
                "INVALID_ARGUMENT",
                "Please use a valid role: user, model.",
            );
        }
        if c.get("parts")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            return error(
                400,
                "INVALID_ARGUMENT",
                "* GenerateContentRequest.contents.parts: contents.parts must not be empty.",
            );
        }
    }
    if let Some(resp) = pre_chat(call, server_error).await {
        return resp;
    }
    let last_user = contents
        .iter()
        .rev()
        .filter(|c| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user")
        .find_map(|c| c.pointer("/parts/0/text").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let answered = contents.iter().any(|c| {
        c["parts"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p.get("functionResponse").is_some()))
    });
    let tool = body
        .pointer("/tools/0/functionDeclarations/0/name")
        .and_then(Value::as_str)
        .filter(|_| !answered)
        .map(str::to_string);
    let script = Script::new(&call.cfg, &last_user, tool, body);
    let usage = json!({"promptTokenCount": script.prompt_tokens,
        "candidatesTokenCount": script.completion_tokens, "totalTokenCount": script.total_tokens()});
    let part_of = |piece: &Piece| match piece {
        Piece::Text(t) => json!({ "text": t }),
        Piece::Tool { name, args, .. } => json!({"functionCall": {"name": name, "args": args}}),
    };
    if !stream {
        let parts: Vec<Value> = if script.tool().is_some() {
            script.pieces.iter().map(part_of).collect()
        } else {
            vec![json!({ "text": script.text() })]
        };
        let value = json!({
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage, "modelVersion": model,
        });
        return buffered_chat(call, &script, &value).await;
    }
    let count = script.pieces.len();
    let frames = script
        .pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut candidate =
                json!({"content": {"role": "model", "parts": [part_of(piece)]}, "index": 0});
            let mut event = json!({"modelVersion": model});
            if i + 1 == count {
                candidate["finishReason"] = json!("STOP");
                event["usageMetadata"] = usage.clone();
            } else {
                event["usageMetadata"] = json!({"promptTokenCount": script.prompt_tokens});
            }
            event["candidates"] = json!([candidate]);
            sse_data(&event, true)
        })
        .collect();
    stream_response(call, "text/event-stream", frames)
}

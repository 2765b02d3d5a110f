//! The `agent` method: one turn through the sandbox's inference route, streamed as the
//! `agent` / `chat` events the OpenClaw clients render, answered first with the accepted
//! response and then with the final response (shapes from the recorded exchanges).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use sandgate_core::codes::{DetailCode, ErrorCode};
use sandgate_core::event;
use sandgate_core::frame::{ErrorShape, ResponseFrame};
use sandgate_providers::types::{ChatMessage, ChatRequest, Role as ChatRole, StreamOptions};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::metrics::Surface;
use crate::sandbox::SandboxCtx;
use crate::ws::conn::{Call, Outbound};

/// How many earlier messages of the session are sent with a turn.
pub const HISTORY_WINDOW: usize = 40;
/// Longest accepted message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentParams {
    message: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// The `agent` method: runs in its own task, every outcome is answered on the call's `out`.
pub fn run(c: Call) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(turn(c.id, c.params, c.ctx, c.out))
}

async fn turn(id: String, params: Value, ctx: Arc<SandboxCtx>, out: Outbound) {
    let p: AgentParams = match serde_json::from_value(params) {
        Ok(p) => p,
        Err(e) => {
            return out
                .error(
                    &id,
                    ErrorShape::invalid_request(format!("invalid agent params: {e}")),
                )
                .await;
        }
    };
    if p.message.trim().is_empty() || p.message.len() > MAX_MESSAGE_BYTES {
        return out
            .error(
                &id,
                ErrorShape::invalid_request(
                    "invalid agent params: message must be 1 byte to 1 MiB",
                ),
            )
            .await;
    }
    let agent_id = p.agent_id.unwrap_or_else(|| "main".into());
    let session_id = p.session_id.unwrap_or_else(|| "main".into());
    let session_key = p
        .session_key
        .unwrap_or_else(|| format!("agent:{agent_id}:explicit:{session_id}"));
    let run_id = p
        .idempotency_key
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let started = Instant::now();
    out.respond(ResponseFrame::ok(
        id.clone(),
        json!({"runId": run_id, "sessionKey": session_key, "agentId": agent_id, "status": "accepted", "acceptedAt": ctx.shared.now_ms()}),
    ))
    .await;

    let route = ctx.route();
    let mut seq = 0u64;
    let mut emit_agent = |stream: &str, data: Value| {
        seq += 1;
        out.event(
            event::AGENT,
            json!({"runId": run_id, "stream": stream, "data": data, "sessionKey": session_key, "seq": seq, "ts": ctx.shared.now_ms()}),
            false,
        );
        seq
    };
    emit_agent(
        "lifecycle",
        json!({"phase": "start", "startedAt": ctx.shared.now_ms()}),
    );

    let history = ctx
        .shared
        .registry
        .history(&ctx.name, &session_key, HISTORY_WINDOW)
        .await
        .unwrap_or_default();
    let mut messages: Vec<ChatMessage> = history
        .into_iter()
        .map(|m| {
            ChatMessage::text(
                if m.role == "assistant" {
                    ChatRole::Assistant
                } else {
                    ChatRole::User
                },
                m.content,
            )
        })
        .collect();
    messages.push(ChatMessage::text(ChatRole::User, p.message.clone()));
    let mut req = ChatRequest::new(messages);
    req.stream = Some(true);
    req.stream_options = Some(StreamOptions {
        include_usage: Some(true),
        ..Default::default()
    });

    let mut text = String::new();
    let mut usage = None;
    let mut failure: Option<(u16, String)> = None;
    let metrics = &ctx.shared.metrics;
    let opened = ctx.shared.inference.chat_stream(&route, req).await;
    metrics.latency(&ctx.name, Surface::Ws, started.elapsed().as_secs_f64());
    let mut first = true;
    match opened {
        Err(e) => failure = Some((e.status().as_u16(), e.client_message())),
        Ok(mut stream) => {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(chunk) => {
                        if let Some(u) = chunk.usage {
                            usage = Some(u);
                        }
                        for choice in chunk.choices {
                            if let Some(delta) = choice.delta.content.filter(|d| !d.is_empty()) {
                                if std::mem::take(&mut first) {
                                    let secs = started.elapsed().as_secs_f64();
                                    metrics.first_token(&ctx.name, Surface::Ws, secs);
                                }
                                text.push_str(&delta);
                                let s =
                                    emit_agent("assistant", json!({"text": text, "delta": delta}));
                                out.event(
                                    event::CHAT,
                                    json!({"runId": run_id, "sessionKey": session_key, "seq": s, "state": "delta", "deltaText": delta,
                                           "message": {"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": ctx.shared.now_ms()}}),
                                    false,
                                );
                            }
                        }
                    }
                    Err(e) => {
                        failure = Some((e.status().as_u16(), e.client_message()));
                        break;
                    }
                }
            }
        }
    }
    if let Some((status, message)) = failure {
        metrics.request(&ctx.name, Surface::Ws, status);
        let what = format!("ws agent: {status}: {message}");
        metrics.error(&ctx.name, ctx.shared.now_ms(), what);
        emit_agent(
            "lifecycle",
            json!({"phase": "error", "error": message, "endedAt": ctx.shared.now_ms()}),
        );
        tracing::warn!(sandbox = %ctx.name, provider = route.kind.as_str(), error = %message, "agent turn failed upstream");
        let err = ErrorShape::new(ErrorCode::Unavailable, format!("upstream error: {message}")).with_details(json!({
            "code": DetailCode::UpstreamError,
            "provider": route.kind.as_str(),
            "model": route.model,
            "remedy": format!("check the provider of sandbox {} (sandgate {} status) or change it with `sandgate {} inference set`", ctx.name, ctx.name, ctx.name),
        }));
        return out.error(&id, err).await;
    }
    if let Err(e) = ctx
        .shared
        .registry
        .append_exchange(
            &ctx.name,
            &session_key,
            &p.message,
            &text,
            ctx.shared.now_ms(),
        )
        .await
    {
        tracing::warn!(error = %e, "could not persist session history");
    }
    let (input, output) = usage
        .map(|u| (u.prompt_tokens, u.completion_tokens))
        .unwrap_or((0, 0));
    metrics.request(&ctx.name, Surface::Ws, 200);
    metrics.tokens(&ctx.name, Surface::Ws, input, output);
    if output > 0 {
        emit_agent("usage", json!({"outputTokens": output}));
    }
    let s = emit_agent(
        "lifecycle",
        json!({"phase": "end", "endedAt": ctx.shared.now_ms()}),
    );
    out.event(
        event::CHAT,
        json!({"runId": run_id, "sessionKey": session_key, "seq": s, "state": "final",
               "message": {"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": ctx.shared.now_ms()}}),
        false,
    );
    let payload = json!({
        "runId": run_id,
        "status": "ok",
        "summary": "completed",
        "result": {
            "payloads": [{"text": text, "mediaUrl": null}],
            "meta": {
                "durationMs": started.elapsed().as_millis() as u64,
                "agentMeta": {
                    "sessionId": session_id,
                    "sessionKey": session_key,
                    "sandbox": ctx.name,
                    "provider": route.kind.as_str(),
                    "model": route.model,
                    "usage": {"input": input, "output": output, "total": input + output},
                },
            },
        },
    });
    out.respond(ResponseFrame::ok(id, payload)).await;
}

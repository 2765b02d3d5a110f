//! One gateway session: the handshake, then the read loop, a writer task with a bounded queue
//! (backpressure), ticks, pairing events, closes requested by revocation or shutdown. The top
//! of the `ws` graph: nothing imports it but the upgrade handler.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use http::HeaderMap;
use sandgate_core::codes::{CloseCode, close_reason, close_reasons};
use sandgate_core::event;
use sandgate_core::frame::{ErrorShape, Frame, MAX_FRAME_BYTES, ResponseFrame, salvage_id};
use sandgate_core::hello::Features;
use sandgate_core::{Role, Scope};

use crate::sandbox::SandboxCtx;
use crate::ws::catalog::{self, Call, Denial, Handler};
use crate::ws::conn::{Caller, Out, Outbound, TICK_INTERVAL};
use crate::ws::handshake;

/// Runs one WebSocket connection from handshake to close.
pub async fn run(
    mut socket: WebSocket,
    ctx: Arc<SandboxCtx>,
    peer: Option<SocketAddr>,
    headers: HeaderMap,
) {
    // Subscribe before the pairing decision, so a resolution that happens right after it (a
    // host admin approving this device's pending request) cannot fall between decision and loop.
    let mut pairing_rx = ctx.shared.pairing.subscribe();
    let conn_uuid = uuid::Uuid::new_v4().to_string();
    let features = Features {
        methods: catalog::served_names(),
        events: catalog::EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        capabilities: None,
    };
    let Some(est) = handshake::run(&mut socket, &ctx, peer, &headers, &conn_uuid, features).await
    else {
        return;
    };
    let (conn_id, mut close_rx) = ctx.register(est.device_id.clone(), est.role);
    tracing::info!(sandbox = %ctx.name, conn = %conn_uuid, device = ?est.device_id, scopes = %est.scopes, "session established");

    let (mut sink, mut stream) = socket.split();
    let (out, mut rx) = Outbound::channel();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                Out::Text(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Out::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: code.as_u16(),
                        reason: Utf8Bytes::from(close_reason(&reason)),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    out.send(&est.hello).await;
    if let Some(pending) = &est.pending {
        // Tell the client, on its own socket, which request covers what it was not granted.
        out.event(event::DEVICE_PAIR_REQUESTED, pending.clone(), false);
    }

    let caller = Caller {
        role: est.role,
        scopes: est.scopes.clone(),
        device_id: est.device_id.clone(),
        client_id: est.params.client.id.as_wire(),
    };
    let sees_pairing = est.role == Role::Operator && est.scopes.satisfies(&Scope::Pairing);
    let mut stopping = ctx.shared.stopping.clone();
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + TICK_INTERVAL, TICK_INTERVAL);
    let mut unauthorized_streak = 0u32;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        out.error("invalid", ErrorShape::invalid_request_frame("binary frames are not supported")).await;
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Err(err)) => {
                        tracing::debug!(%err, "socket read failed");
                        out.close(CloseCode::MessageTooBig, close_reasons::FRAME_TOO_LARGE).await;
                        break;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                };
                let req = match Frame::parse_with_limit(text.as_str(), MAX_FRAME_BYTES) {
                    Ok(Frame::Req(req)) => req,
                    Ok(_) => {
                        out.error("invalid", ErrorShape::invalid_request_frame("expected a req frame")).await;
                        continue;
                    }
                    Err(err) => {
                        let id = salvage_id(text.as_str(), MAX_FRAME_BYTES);
                        out.error(&id, ErrorShape::invalid_request_frame(&err.to_string())).await;
                        continue;
                    }
                };
                if req.method == "connect" {
                    out.error(&req.id, ErrorShape::connect_only_first()).await;
                    continue;
                }
                match catalog::authorize(&req.method, caller.role, &caller.scopes) {
                    Ok(()) => unauthorized_streak = 0,
                    Err(Denial::Role(role)) => {
                        unauthorized_streak += 1;
                        out.error(&req.id, ErrorShape::unauthorized_role(role.as_str())).await;
                        if unauthorized_streak > 10 {
                            out.close(CloseCode::PolicyViolation, close_reasons::REPEATED_UNAUTHORIZED).await;
                            break;
                        }
                        continue;
                    }
                    Err(Denial::Scope(scope)) => {
                        let required = vec![scope.clone()];
                        let mut err = ErrorShape::missing_scope(&scope, &required);
                        if let Some(serde_json::Value::Object(d)) = err.details.as_mut() {
                            d.insert("remedy".into(), serde_json::json!(scope_remedy(&ctx.name, &caller, &scope)));
                        }
                        out.error(&req.id, err).await;
                        continue;
                    }
                }
                dispatch(req.id, req.method, req.params, &ctx, &caller, &out).await;
            }
            _ = tick.tick() => out.event(event::TICK, event::tick(ctx.shared.now_ms()), true),
            ev = pairing_rx.recv() => {
                match ev {
                    Ok(ev) if ev.sandbox() == ctx.name => {
                        // Pairing sessions see every request; a device also sees its own.
                        let payload = ev.payload();
                        let own = caller.device_id.is_some()
                            && payload.get("deviceId").and_then(|d| d.as_str()) == caller.device_id.as_deref();
                        if sees_pairing || own {
                            out.event(ev.name(), payload, true);
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => tracing::debug!(n, "pairing events lagged"),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {}
                }
            }
            req = close_rx.recv() => {
                if let Some(req) = req {
                    out.close(req.code, &req.reason).await;
                }
                break;
            }
            _ = stopping.changed() => {
                out.event(event::SHUTDOWN, event::shutdown("gateway stopping"), false);
                out.close(CloseCode::ServiceRestart, close_reasons::SERVICE_RESTART).await;
                break;
            }
        }
    }
    ctx.unregister(conn_id);
    drop(out);
    let _ = writer.await;
    tracing::debug!(sandbox = %ctx.name, conn = %conn_uuid, "session closed");
}

/// What to do about a missing scope, naming this sandbox's commands.
fn scope_remedy(sandbox: &str, caller: &Caller, scope: &Scope) -> String {
    match &caller.device_id {
        Some(_) => format!(
            "this session holds [{}]; reconnect asking for {scope} to record a pending request, then approve it with \
             `sandgate {sandbox} devices approve <requestId>` (ids: `sandgate {sandbox} devices list`)",
            caller.scopes
        ),
        None => format!(
            "this device-less session holds [{}]; connect with a device identity to request {scope}, then approve it with \
             `sandgate {sandbox} devices approve <requestId>`",
            caller.scopes
        ),
    }
}

/// Runs one authorized request through its catalog handler.
async fn dispatch(
    id: String,
    method: String,
    params: Option<serde_json::Value>,
    ctx: &Arc<SandboxCtx>,
    caller: &Caller,
    out: &Outbound,
) {
    let Some(handler) = catalog::handler(&method) else {
        return out.error(&id, ErrorShape::unknown_method(&method)).await;
    };
    let call = Call {
        id: id.clone(),
        params: params.unwrap_or(serde_json::Value::Null),
        ctx: ctx.clone(),
        caller: caller.clone(),
        out: out.clone(),
    };
    match handler {
        Handler::Task(run) => {
            tokio::spawn(run(call));
        }
        Handler::Reply(reply) => match reply(call).await {
            Ok(payload) => out.respond(ResponseFrame::ok(id, payload)).await,
            Err(err) => out.error(&id, err).await,
        },
    }
}

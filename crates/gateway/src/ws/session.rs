//! One gateway session after `hello-ok`: the read loop, a writer task with a bounded queue
//! (backpressure), per-connection event sequence numbers, ticks, pairing events, closes
//! requested by revocation or shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use http::HeaderMap;
use sandgate_core::codes::CloseCode;
use sandgate_core::frame::{ErrorShape, EventFrame, Frame, MAX_FRAME_BYTES, ResponseFrame};
use sandgate_core::{Role, Scope, ScopeSet};
use tokio::sync::mpsc;

use crate::sandbox::SandboxCtx;
use crate::shared::now_ms;
use crate::ws::{SEND_QUEUE_FRAMES, handshake, method_scopes, methods};

/// Tick interval announced in `hello-ok.policy.tickIntervalMs`.
pub const TICK_INTERVAL: Duration = Duration::from_secs(30);
/// Advisory send-buffer limit announced in `hello-ok.policy.maxBufferedBytes`.
pub const MAX_BUFFERED_BYTES: usize = 52_428_800;

enum Out {
    Text(String),
    Close(u16, String),
}

/// The sending half of a session: ordered, bounded, with a gap-free per-socket event `seq`.
#[derive(Clone)]
pub struct Outbound {
    tx: mpsc::Sender<Out>,
    seq: Arc<Mutex<u64>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl Outbound {
    /// Sends a response, waiting for queue space (backpressure on the request).
    pub async fn respond(&self, res: ResponseFrame) {
        if let Ok(text) = serde_json::to_string(&Frame::Res(res)) {
            let _ = self.tx.send(Out::Text(text)).await;
        }
    }

    /// Sends an error response.
    pub async fn error(&self, id: &str, err: ErrorShape) {
        self.respond(ResponseFrame::err(id, err)).await;
    }

    /// Queues an event. When the queue is full, a `drop_if_slow` event is skipped and any
    /// other event closes the socket with 1008 `slow consumer`.
    pub fn event(&self, name: &str, payload: serde_json::Value, drop_if_slow: bool) {
        let Ok(mut seq) = self.seq.lock() else { return };
        let frame = EventFrame {
            event: name.to_owned(),
            payload: Some(payload),
            seq: Some(*seq + 1),
            state_version: None,
        };
        let Ok(text) = serde_json::to_string(&Frame::Event(frame)) else {
            return;
        };
        match self.tx.try_send(Out::Text(text)) {
            Ok(()) => *seq += 1,
            Err(mpsc::error::TrySendError::Full(_)) if drop_if_slow => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx
                        .send(Out::Close(
                            CloseCode::PolicyViolation.as_u16(),
                            "slow consumer".into(),
                        ))
                        .await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    async fn close(&self, code: u16, reason: String) {
        let _ = self.tx.send(Out::Close(code, reason)).await;
    }
}

/// What a method handler knows about the calling session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session's role.
    pub role: Role,
    /// The session's live scopes.
    pub scopes: ScopeSet,
    /// The session's device, if any.
    pub device_id: Option<String>,
    /// The connect's client id (e.g. `cli`).
    pub client_id: String,
}

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
    let Some(est) = handshake::run(&mut socket, &ctx, peer, &headers).await else {
        return;
    };
    let conn_uuid = uuid::Uuid::new_v4().to_string();
    let (conn_id, mut close_rx) = ctx.register(est.device_id.clone(), est.role);
    tracing::info!(sandbox = %ctx.name, conn = %conn_uuid, device = ?est.device_id, scopes = %est.scopes, "session established");

    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(SEND_QUEUE_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Text(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Out::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: Utf8Bytes::from(sandgate_core::codes::close_reason(&reason)),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    let out = Outbound {
        tx,
        seq: Arc::new(Mutex::new(0)),
    };
    out.respond(handshake::hello_ok(
        &est,
        &ctx,
        &conn_uuid,
        methods::METHODS,
        methods::EVENTS,
    ))
    .await;
    if let Some(pending) = &est.pending {
        // Tell the client, on its own socket, which request covers what it was not granted.
        out.event("device.pair.requested", pending.clone(), false);
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
                        out.close(CloseCode::MessageTooBig.as_u16(), "frame too large or malformed".into()).await;
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
                        let id = serde_json::from_str::<serde_json::Value>(text.as_str())
                            .ok()
                            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
                            .unwrap_or_else(|| "invalid".into());
                        out.error(&id, ErrorShape::invalid_request_frame(&err.to_string())).await;
                        continue;
                    }
                };
                if req.method == "connect" {
                    out.error(&req.id, ErrorShape::connect_only_first()).await;
                    continue;
                }
                match method_scopes::authorize(&req.method, caller.role, &caller.scopes) {
                    Ok(()) => unauthorized_streak = 0,
                    Err(method_scopes::Denial::Role(role)) => {
                        unauthorized_streak += 1;
                        out.error(&req.id, ErrorShape::unauthorized_role(role.as_str())).await;
                        if unauthorized_streak > 10 {
                            out.close(CloseCode::PolicyViolation.as_u16(), "repeated unauthorized calls".into()).await;
                            break;
                        }
                        continue;
                    }
                    Err(method_scopes::Denial::Scope(scope)) => {
                        let required = vec![scope.clone()];
                        let mut err = ErrorShape::missing_scope(&scope, &required);
                        if let Some(serde_json::Value::Object(d)) = err.details.as_mut() {
                            d.insert("remedy".into(), serde_json::json!(scope_remedy(&ctx.name, &caller, &scope)));
                        }
                        out.error(&req.id, err).await;
                        continue;
                    }
                }
                methods::dispatch(req, ctx.clone(), caller.clone(), out.clone()).await;
            }
            _ = tick.tick() => out.event("tick", serde_json::json!({"ts": now_ms()}), true),
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
                    out.close(req.code.as_u16(), req.reason).await;
                }
                break;
            }
            _ = stopping.changed() => {
                out.event("shutdown", serde_json::json!({"reason": "gateway stopping"}), false);
                out.close(CloseCode::ServiceRestart.as_u16(), "service restart".into()).await;
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

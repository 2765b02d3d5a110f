//! The OpenClaw-compatible WebSocket gateway: handshake, session loop, methods, agent turns.
//!
//! Module graph (no cycles): `session` → {`handshake`, `catalog`, `conn`};
//! `catalog` → {`methods`, `agent`, `conn`}; `methods`, `agent` → `conn`; `handshake` →
//! `origin`. `conn` and `origin` are leaves; only the upgrade handler below uses `session`.

pub mod agent;
pub mod catalog;
pub mod conn;
pub mod handshake;
pub mod methods;
pub mod origin;
pub mod session;

use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use http::HeaderMap;
use sandgate_core::frame::MAX_FRAME_BYTES;

use crate::listener::PeerAddr;
use crate::sandbox::SandboxCtx;

/// axum handler for `GET /` with an upgrade: runs one gateway session on the socket.
pub async fn upgrade(
    State(ctx): State<Arc<SandboxCtx>>,
    peer: Option<axum::Extension<PeerAddr>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let peer = peer.map(|p| p.0.0);
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(conn::READ_BUFFER_BYTES)
        .on_upgrade(move |socket| session::run(socket, ctx, peer, headers))
}

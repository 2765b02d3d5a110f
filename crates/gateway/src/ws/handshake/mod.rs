//! The connect handshake: the sans-IO [`machine`] and the thin async shell that feeds it
//! socket messages, the pairing authority's answer and the clock.

pub mod machine;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use http::HeaderMap;
use sandgate_core::Frame;
use sandgate_core::hello::Features;
use sandgate_pairing::{Decision, Locality};

pub use machine::{Established, Input, Output, ServerConfig, ServerHandshake, TokenCheck};

use crate::sandbox::SandboxCtx;

/// How long a client has to complete `connect` after the socket opens.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers whose presence means the connection was forwarded (not direct-local).
const FORWARDING_HEADERS: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
    "x-forwarded-host",
];

fn locality(peer: Option<SocketAddr>, headers: &HeaderMap) -> Locality {
    let loopback = peer.is_some_and(|p| p.ip().is_loopback());
    let forwarded = FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h));
    if loopback && !forwarded {
        Locality::Loopback
    } else {
        Locality::Remote
    }
}

impl TokenCheck for SandboxCtx {
    fn token_matches(&self, presented: &str) -> bool {
        SandboxCtx::token_matches(self, presented)
    }
}

/// Sends `frame` as a text message.
async fn send_frame(ws: &mut WebSocket, frame: &Frame) -> bool {
    ws.send(Message::Text(frame.to_json().into())).await.is_ok()
}

/// Runs the handshake on `ws`. On failure the socket has been answered and closed and `None`
/// is returned; on success nothing about the session has been sent yet (see
/// [`Established::hello`]).
pub async fn run(
    ws: &mut WebSocket,
    ctx: &SandboxCtx,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    conn_id: &str,
    features: Features,
) -> Option<Established> {
    let timeout_ms = ctx.shared.handshake_timeout.as_millis() as u64;
    let now_ms = || ctx.shared.now_ms();
    let now = now_ms();
    let config = ServerConfig {
        sandbox: ctx.name.clone(),
        nonce: uuid::Uuid::new_v4().to_string(),
        conn_id: conn_id.to_owned(),
        server_version: crate::shared::VERSION.to_owned(),
        features,
        started_at_ms: now.saturating_sub(ctx.shared.started.elapsed().as_millis() as u64),
        locality: locality(peer, headers),
        origin: crate::ws::origin::check(headers),
        timeout_ms,
    };
    let mut hs = ServerHandshake::new(config, ctx, now);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        while let Some(out) = hs.poll_output() {
            match out {
                Output::Transmit(frame) => {
                    if !send_frame(ws, &frame).await {
                        return None;
                    }
                }
                Output::Ask(attempt) => {
                    let answer = ctx.shared.pairing.connect(&attempt).await;
                    let outcome = match &answer {
                        Ok(Decision::Approved { .. }) => "approved",
                        Ok(Decision::PartiallyGranted { .. }) => "partially_granted",
                        Ok(Decision::PairingRequired { .. }) => "pairing_required",
                        Err(_) => "error",
                    };
                    ctx.shared.metrics.pairing(&ctx.name, outcome);
                    hs.answer(answer, now_ms());
                }
                Output::Established(est) => return Some(*est),
                Output::Rejected(code, reason) => {
                    if let Some(detail) = hs.refusal() {
                        ctx.shared.metrics.refusal(&ctx.name, detail);
                    }
                    let close = CloseFrame {
                        code: code.as_u16(),
                        reason: Utf8Bytes::from(reason),
                    };
                    let _ = ws.send(Message::Close(Some(close))).await;
                    return None;
                }
                Output::PeerGone => return None,
            }
        }
        let deadline_ms = hs.deadline_ms()?;
        match tokio::time::timeout_at(deadline, ws.recv()).await {
            // Our timer is the clock: the deadline has passed.
            Err(_) => hs.handle_timeout(now_ms().max(deadline_ms)),
            Ok(Some(Ok(Message::Text(t)))) => hs.handle_input(Input::Text(t.as_str()), now_ms()),
            Ok(Some(Ok(Message::Close(_)))) => hs.handle_input(Input::Closed, now_ms()),
            Ok(Some(Ok(_))) => hs.handle_input(Input::NotText, now_ms()),
            Ok(None | Some(Err(_))) => hs.handle_input(Input::ReadError, now_ms()),
        }
    }
}

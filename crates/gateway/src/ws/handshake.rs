//! The connect handshake (reference §2.3): challenge, first frame, protocol, role, shared or
//! device-token auth, device proof, the pairing authority's decision, and `hello-ok`.
//!
//! Every refusal is an error response (where the reference sends one) followed by the close
//! code the reference uses; nothing about a refused connect changes state except the pending
//! request the pairing authority records.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use http::HeaderMap;
use sandgate_core::codes::AuthReason;
use sandgate_core::connect::{ConnectChallenge, ConnectParams};
use sandgate_core::error::{AuthFailure, HandshakeRejection, PairingRequired};
use sandgate_core::frame::{Frame, MAX_PREAUTH_FRAME_BYTES, RequestFrame, ResponseFrame};
use sandgate_core::protocol::{ProtocolVersion, negotiate};
use sandgate_core::signature::verify_device_proof;
use sandgate_core::{Role, ScopeSet};
use sandgate_pairing::{
    ConnectAttempt, Credential, Decision, DeviceInfo, DeviceMetadata, Locality, PairingError,
};

use crate::sandbox::SandboxCtx;
use crate::shared::now_ms;

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

/// A completed handshake.
#[derive(Debug, Clone)]
pub struct Established {
    /// The connect request.
    pub params: ConnectParams,
    /// Negotiated protocol.
    pub protocol: ProtocolVersion,
    /// Effective role.
    pub role: Role,
    /// Live scope authority of the session.
    pub scopes: ScopeSet,
    /// Device id, when the client sent a verified device.
    pub device_id: Option<String>,
    /// The id of the connect request (for the `hello-ok` response).
    pub connect_id: String,
    /// Device token to hand over and when it was issued.
    pub device_token: Option<(String, u64)>,
    /// A pending request covering what was not granted, if any.
    pub pending: Option<serde_json::Value>,
}

/// Sends `frame` as a text message.
pub async fn send_json(ws: &mut WebSocket, value: &impl serde::Serialize) -> bool {
    match serde_json::to_string(value) {
        Ok(text) => ws.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

/// Sends the rejection's response (if any) and closes with its code.
pub async fn reject(ws: &mut WebSocket, id: Option<&str>, rejection: HandshakeRejection) {
    if let Some(res) = id.and_then(|id| rejection.response(id)) {
        let _ = send_json(ws, &Frame::Res(res)).await;
    }
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code: rejection.close_code.as_u16(),
            reason: Utf8Bytes::from(rejection.close_reason),
        })))
        .await;
}

fn locality(peer: Option<SocketAddr>, headers: &HeaderMap) -> Locality {
    let loopback = peer.is_some_and(|p| p.ip().is_loopback());
    let forwarded = FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h));
    if loopback && !forwarded {
        Locality::Loopback
    } else {
        Locality::Remote
    }
}

/// Runs the handshake. On failure the socket has been answered and closed; `None` is returned.
pub async fn run(
    ws: &mut WebSocket,
    ctx: &SandboxCtx,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<Established> {
    let nonce = uuid::Uuid::new_v4().to_string();
    let challenge = ConnectChallenge::new(nonce.clone(), now_ms());
    if !send_json(ws, &Frame::Event(challenge.to_event())).await {
        return None;
    }
    let timeout = Duration::from_millis(
        ctx.shared
            .handshake_timeout_ms
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let first = match tokio::time::timeout(timeout, ws.recv()).await {
        Err(_) => {
            reject(ws, None, HandshakeRejection::handshake_timeout()).await;
            return None;
        }
        Ok(None) | Ok(Some(Err(_))) => {
            // Read error: most often a frame over the socket's limit.
            reject(ws, None, HandshakeRejection::preauth_payload_too_large()).await;
            return None;
        }
        Ok(Some(Ok(msg))) => msg,
    };
    let text = match first {
        Message::Text(t) => t,
        Message::Close(_) => return None,
        _ => {
            reject(ws, None, HandshakeRejection::invalid_request_frame()).await;
            return None;
        }
    };
    if text.len() > MAX_PREAUTH_FRAME_BYTES {
        reject(ws, None, HandshakeRejection::preauth_payload_too_large()).await;
        return None;
    }
    let req = match Frame::parse_with_limit(text.as_str(), MAX_PREAUTH_FRAME_BYTES) {
        Ok(Frame::Req(req)) => req,
        _ => {
            reject(ws, None, HandshakeRejection::invalid_request_frame()).await;
            return None;
        }
    };
    match evaluate(&req, ctx, &nonce, peer, headers).await {
        Ok(est) => Some(est),
        Err(rejection) => {
            reject(ws, Some(&req.id), rejection).await;
            None
        }
    }
}

async fn evaluate(
    req: &RequestFrame,
    ctx: &SandboxCtx,
    nonce: &str,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<Established, HandshakeRejection> {
    let locality = locality(peer, headers);
    if req.method != "connect" {
        return Err(HandshakeRejection::first_request_not_connect());
    }
    let params = ConnectParams::parse(req.params.clone().unwrap_or(serde_json::Value::Null))
        .map_err(|e| HandshakeRejection::invalid_connect_params(&e))?;
    let protocol =
        negotiate(params.min_protocol, params.max_protocol).map_err(|m| m.to_rejection())?;
    let role = params
        .role()
        .map_err(|_| HandshakeRejection::invalid_role())?;
    crate::ws::origin::check(headers).map_err(HandshakeRejection::origin_not_allowed)?;

    let auth = params.auth.clone().unwrap_or_default();
    let failure = |reason: Option<AuthReason>| {
        HandshakeRejection::unauthorized(&AuthFailure {
            reason,
            device_present: params.device.is_some(),
            sent_token: auth.token.is_some(),
            sent_device_token: auth.device_token.is_some(),
        })
    };
    let shared_ok = auth.token.as_deref().is_some_and(|t| ctx.token_matches(t));
    let credential = if shared_ok {
        Credential::SandboxToken
    } else if let Some(dt) = auth
        .device_token
        .clone()
        .or_else(|| auth.token.clone().filter(|_| params.device.is_some()))
    {
        // 5.28 sends the stored device token as both `token` and `deviceToken`; a `token`
        // that is not the sandbox token is tried as a device token when a device is present.
        if params.device.is_none() {
            return Err(failure(Some(AuthReason::TokenMismatch)));
        }
        Credential::DeviceToken(dt)
    } else if auth.token.is_some() {
        return Err(failure(Some(AuthReason::TokenMismatch)));
    } else {
        return Err(failure(Some(AuthReason::TokenMissing)));
    };

    let device = match &params.device {
        None => {
            if role != Role::Operator || !shared_ok {
                return Err(HandshakeRejection::device_identity_required());
            }
            None
        }
        Some(proof) => {
            verify_device_proof(&params, nonce, now_ms()).map_err(|e| e.to_rejection())?;
            Some(DeviceInfo {
                device_id: proof.id.clone(),
                public_key: sandgate_core::identity::normalize_public_key(&proof.public_key)
                    .unwrap_or_else(|_| proof.public_key.clone()),
                metadata: DeviceMetadata {
                    display_name: params.client.display_name.clone(),
                    platform: Some(params.client.platform.clone()),
                    device_family: params.client.device_family.clone(),
                    client_id: Some(params.client.id.as_wire()),
                    client_mode: Some(params.client.mode.as_wire()),
                },
            })
        }
    };
    let device_id = device.as_ref().map(|d| d.device_id.clone());
    let explicit_device_token = auth.device_token.is_some();
    let attempt = ConnectAttempt {
        sandbox: ctx.name.clone(),
        device,
        role,
        scopes: params.scopes.clone().unwrap_or_default(),
        locality,
        credential,
    };
    let decision = ctx
        .shared
        .pairing
        .connect(&attempt)
        .await
        .map_err(|e| pairing_error(e, &params, explicit_device_token))?;
    let token_of = |t: Option<&sandgate_pairing::IssuedToken>| {
        t.map(|t| (t.token().to_owned(), t.issued_at_ms))
    };
    match decision {
        Decision::Approved {
            role,
            scopes,
            device_token,
            ..
        } => Ok(Established {
            params: params.clone(),
            protocol,
            role,
            scopes,
            device_id,
            connect_id: req.id.clone(),
            device_token: token_of(device_token.as_ref()),
            pending: None,
        }),
        Decision::PartiallyGranted {
            role,
            granted,
            device_token,
            pending,
        } => Ok(Established {
            params: params.clone(),
            protocol,
            role,
            scopes: granted,
            device_id,
            connect_id: req.id.clone(),
            device_token: token_of(device_token.as_ref()),
            pending: serde_json::to_value(&pending).ok(),
        }),
        Decision::PairingRequired {
            reason,
            request_id,
            remedy,
            details,
        } => {
            let approved = !details.approved_roles.is_empty();
            Err(HandshakeRejection::pairing_required(&PairingRequired {
                reason,
                request_id,
                device_id: details.device_id,
                requested_role: details.requested_role,
                requested_scopes: params.scopes.clone().unwrap_or_default(),
                approved_roles: approved.then(|| details.approved_roles.clone()),
                approved_scopes: approved
                    .then(|| details.approved_scopes.iter().cloned().collect()),
                remedy,
            }))
        }
    }
}

fn pairing_error(
    err: PairingError,
    params: &ConnectParams,
    explicit_device_token: bool,
) -> HandshakeRejection {
    let auth = params.auth.clone().unwrap_or_default();
    let failure = |reason| {
        HandshakeRejection::unauthorized(&AuthFailure {
            reason: Some(reason),
            device_present: params.device.is_some(),
            sent_token: auth.token.is_some(),
            sent_device_token: auth.device_token.is_some(),
        })
    };
    match err {
        PairingError::DeviceTokenMismatch(_) if explicit_device_token => {
            failure(AuthReason::DeviceTokenMismatch)
        }
        PairingError::DeviceTokenMismatch(_) => failure(AuthReason::TokenMismatch),
        PairingError::ScopeMismatch => failure(AuthReason::ScopeMismatch),
        PairingError::DeviceIdentityRequired => HandshakeRejection::device_identity_required(),
        other => {
            tracing::warn!(error = %other, "pairing authority refused connect");
            HandshakeRejection::invalid_connect_params(&other)
        }
    }
}

/// The response frame carrying `hello-ok`.
pub fn hello_ok(
    est: &Established,
    ctx: &SandboxCtx,
    conn_id: &str,
    methods: &[&str],
    events: &[&str],
) -> ResponseFrame {
    // Only the fields both recorded CLI versions accept: 2026.5.28 drops frames whose
    // closed objects carry keys it does not know.
    let mut auth = serde_json::json!({"role": est.role, "scopes": est.scopes});
    if let Some((token, issued)) = &est.device_token {
        auth["deviceToken"] = serde_json::json!(token);
        auth["issuedAtMs"] = serde_json::json!(issued);
    }
    let uptime = ctx.shared.started.elapsed().as_millis() as u64;
    let payload = serde_json::json!({
        "type": "hello-ok",
        "protocol": est.protocol.as_u32(),
        "server": {"version": crate::shared::VERSION, "connId": conn_id},
        "features": {"methods": methods, "events": events},
        "snapshot": {
            "presence": [],
            "health": {"ok": true, "sandbox": ctx.name},
            "stateVersion": {"presence": 1, "health": 1},
            "uptimeMs": uptime,
            "sessionDefaults": {"defaultAgentId": "main", "mainKey": "main", "mainSessionKey": "agent:main:main", "scope": "per-sender"},
        },
        "auth": auth,
        "policy": {
            "maxPayload": sandgate_core::frame::MAX_FRAME_BYTES,
            "maxBufferedBytes": crate::ws::session::MAX_BUFFERED_BYTES,
            "tickIntervalMs": crate::ws::session::TICK_INTERVAL.as_millis() as u64,
        },
    });
    ResponseFrame::ok(est.connect_id.clone(), payload)
}

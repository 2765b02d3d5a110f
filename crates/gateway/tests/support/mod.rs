#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
//! Raw-socket helpers for the handshake and replay suites: a tokio-tungstenite client that
//! sees every frame and close exactly as the gateway sends them, connect-params builders and
//! device signing. Every wait is bounded by [`WAIT`]; nothing sleeps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use sandgate_core::connect::ConnectParams;
use sandgate_core::identity::DeviceIdentity;
use sandgate_core::signature::{SignatureVersion, payload_to_sign};
use sandgate_gateway::{Gateway, GatewayOptions, RouteSpec, SandboxInfo, SandboxSpec};
use sandgate_providers::ProviderKind;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The raw client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for any single wait on a socket.
pub const WAIT: Duration = Duration::from_secs(15);

/// What the next read produced.
#[derive(Debug)]
pub enum In {
    /// A JSON text frame.
    Frame(Value),
    /// A close frame (code, reason); `1005` when it carried no status.
    Closed(u16, String),
    /// The stream ended (or failed) without a close frame.
    Ended,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A gateway on `dir` (loopback listeners).
pub async fn gateway(dir: &std::path::Path) -> Gateway {
    Gateway::open(GatewayOptions::new(dir)).await.unwrap()
}

/// A sandbox answered by the in-process `mock` provider, on a free port.
pub async fn mock_sandbox(gw: &Gateway, name: &str) -> SandboxInfo {
    let route = RouteSpec {
        provider: ProviderKind::Mock,
        model: format!("mock-{name}"),
        endpoint: None,
        credential: None,
        credential_env: None,
    };
    gw.create_sandbox(SandboxSpec {
        name: name.into(),
        route,
        port: 0,
        egress: Default::default(),
    })
    .await
    .unwrap()
}

/// Reads the next meaningful message (skips ping/pong), bounded by [`WAIT`].
pub async fn next(ws: &mut Ws) -> In {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("gateway did not answer within the bound");
        match msg {
            Some(Ok(Message::Text(t))) => {
                return In::Frame(
                    serde_json::from_str(t.as_str()).expect("gateway sent a non-JSON text frame"),
                );
            }
            Some(Ok(Message::Close(frame))) => {
                return match frame {
                    Some(f) => In::Closed(u16::from(f.code), f.reason.to_string()),
                    None => In::Closed(1005, String::new()),
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(_))) => panic!("gateway sent a binary frame"),
            Some(Err(_)) | None => return In::Ended,
        }
    }
}

/// Opens a socket and returns it with the challenge nonce (the first frame must be the challenge).
pub async fn open(url: &str) -> (Ws, String) {
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    let In::Frame(first) = next(&mut ws).await else {
        panic!("no connect.challenge")
    };
    assert_eq!(first["type"], "event", "{first}");
    assert_eq!(first["event"], "connect.challenge", "{first}");
    assert!(
        first.get("seq").is_none(),
        "the challenge carries no seq: {first}"
    );
    let nonce = first["payload"]["nonce"]
        .as_str()
        .expect("challenge nonce")
        .to_owned();
    assert!(!nonce.is_empty());
    assert!(
        first["payload"]["ts"].as_u64().is_some(),
        "challenge ts: {first}"
    );
    (ws, nonce)
}

pub async fn send(ws: &mut Ws, frame: &Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

pub async fn send_text(ws: &mut Ws, text: String) {
    ws.send(Message::text(text)).await.unwrap();
}

/// The next message must be a close frame; returns (code, reason).
pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    match next(ws).await {
        In::Closed(code, reason) => (code, reason),
        In::Frame(f) => panic!("expected a close, got a frame: {f}"),
        In::Ended => panic!("expected a close frame, the stream ended without one"),
    }
}

/// Reads until the `res` for `id` (events are skipped); panics on a close.
pub async fn response(ws: &mut Ws, id: &str) -> Value {
    loop {
        match next(ws).await {
            In::Frame(f) if f["type"] == "res" && f["id"] == id => return f,
            In::Frame(_) => continue,
            other => panic!("expected the response to {id}, got {other:?}"),
        }
    }
}

/// Reads until an event named `name` (other frames are skipped); panics on a close.
pub async fn event(ws: &mut Ws, name: &str) -> Value {
    loop {
        match next(ws).await {
            In::Frame(f) if f["type"] == "event" && f["event"] == name => return f,
            In::Frame(_) => continue,
            other => panic!("expected event {name}, got {other:?}"),
        }
    }
}

/// Reads past events until a close; panics on any response.
pub async fn close_after_events(ws: &mut Ws) -> (u16, String) {
    loop {
        match next(ws).await {
            In::Frame(f) if f["type"] == "event" => continue,
            In::Frame(f) => panic!("expected a close, got {f}"),
            In::Closed(code, reason) => return (code, reason),
            In::Ended => panic!("stream ended without a close frame"),
        }
    }
}

/// Closes from the client side the way the OpenClaw CLI does (no status) and drains.
pub async fn bye(mut ws: Ws) {
    let _ = ws.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

/// `connect` params as the OpenClaw CLI sends them (device-less; see [`sign`]).
pub fn connect_params(auth: Value, scopes: &[&str]) -> Value {
    json!({
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "cli",
                   "instanceId": uuid::Uuid::new_v4().to_string()},
        "caps": [],
        "auth": auth,
        "role": "operator",
        "scopes": scopes,
    })
}

pub fn token_auth(token: &str) -> Value {
    json!({"token": token})
}

/// Adds a v3-signed `device` block for `identity` over `nonce` at `signed_at` (every other
/// field of `params` is kept; it is what gets signed).
pub fn sign(params: &mut Value, identity: &DeviceIdentity, nonce: &str, signed_at: u64) {
    sign_as(
        params,
        identity,
        &identity.device_id(),
        &identity.public_key_b64url(),
        nonce,
        signed_at,
    );
}

/// Like [`sign`] but with an arbitrary claimed id / public key (for the mismatch cases).
pub fn sign_as(
    params: &mut Value,
    identity: &DeviceIdentity,
    id: &str,
    public_key: &str,
    nonce: &str,
    signed_at: u64,
) {
    let mut unsigned = params.clone();
    if let Some(obj) = unsigned.as_object_mut() {
        obj.remove("device");
    }
    let parsed = ConnectParams::from_value(unsigned).expect("connect params parse");
    let payload = payload_to_sign(&parsed, SignatureVersion::V3, id, signed_at, nonce);
    params["device"] = json!({
        "id": id,
        "publicKey": public_key,
        "signature": identity.sign(&payload),
        "signedAt": signed_at,
        "nonce": nonce,
    });
}

pub fn req(id: &str, method: &str, params: Value) -> Value {
    json!({"type": "req", "id": id, "method": method, "params": params})
}

/// Opens a socket and sends `connect` built by `build(nonce)`; returns the socket and the
/// connect response.
pub async fn connect_with(url: &str, build: impl FnOnce(&str) -> Value) -> (Ws, Value) {
    let (mut ws, nonce) = open(url).await;
    let params = build(&nonce);
    send(&mut ws, &req("c1", "connect", params)).await;
    let res = response(&mut ws, "c1").await;
    (ws, res)
}

/// A device-less connect with `token` asking `scopes`; panics unless it succeeds.
pub async fn connect_deviceless(url: &str, token: &str, scopes: &[&str]) -> (Ws, Value) {
    let (ws, res) = connect_with(url, |_| connect_params(token_auth(token), scopes)).await;
    assert_eq!(res["ok"], true, "{res}");
    (ws, res)
}

/// A signed connect of `identity` with `auth` asking `scopes`.
pub async fn connect_device(
    url: &str,
    identity: &DeviceIdentity,
    auth: Value,
    scopes: &[&str],
) -> (Ws, Value) {
    connect_with(url, |nonce| {
        let mut p = connect_params(auth, scopes);
        sign(&mut p, identity, nonce, now_ms());
        p
    })
    .await
}

/// Sends a request and returns its (first) response.
pub async fn call(ws: &mut Ws, id: &str, method: &str, params: Value) -> Value {
    send(ws, &req(id, method, params)).await;
    response(ws, id).await
}

/// Proves the sandbox still serves: a fresh device-less client connects and runs `health`.
pub async fn assert_serving(info: &SandboxInfo) {
    let (mut ws, hello) = connect_deviceless(&info.url, &info.token, &["operator.read"]).await;
    assert_eq!(hello["payload"]["type"], "hello-ok");
    let res = call(&mut ws, "h1", "health", json!({})).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["ok"], true, "{res}");
    bye(ws).await;
}

/// The scopes of a `hello-ok` response, as strings.
pub fn granted(hello: &Value) -> Vec<String> {
    hello["payload"]["auth"]["scopes"]
        .as_array()
        .expect("hello-ok.auth.scopes")
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

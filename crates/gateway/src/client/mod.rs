//! A client of the sandgate (and OpenClaw) gateway protocol, for tools and for the
//! `sandgate` CLI: loads or creates a device identity, connects with the sandbox token or a
//! stored device token, stores the issued device token, runs agent turns, and turns every
//! failure into a typed [`ClientError`] with a remedy. It never falls back to anything.
//!
//! Every frame is decoded into `sandgate-core`'s [`Frame`]; the handshake itself is the sans-IO
//! [`handshake::ClientHandshake`], driven here over a socket.

mod error;
mod files;
pub mod handshake;

pub use error::ClientError;
pub use handshake::{ClientHandshake, ClientStep};

use std::path::PathBuf;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sandgate_core::connect::{ClientId, ClientInfo, ClientMode, ConnectAuth, ConnectParams};
use sandgate_core::event;
use sandgate_core::frame::{EventFrame, Frame, RequestFrame};
use sandgate_core::hello::HelloOk;
use sandgate_core::{Scope, ScopeSet};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::shared::now_ms;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How to connect.
#[derive(Clone)]
pub struct ClientOptions {
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    /// The sandbox token (`OPENCLAW_GATEWAY_TOKEN`), if available.
    pub token: Option<String>,
    /// Directory holding `device.json` and `device-auth.json`; a device identity is created
    /// there if missing. `None` connects device-less (needs `token`).
    pub identity_dir: Option<PathBuf>,
    /// Scopes to ask for.
    pub scopes: Vec<Scope>,
    /// When the connect is only partially granted, wait up to this long for the pending
    /// request to be approved, then reconnect with the full grant.
    pub wait_for_approval: Option<Duration>,
    /// Connect/handshake timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("identity_dir", &self.identity_dir)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Options for `url` asking for read + write, 10 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ClientOptions {
            url: url.into(),
            token: None,
            identity_dir: None,
            scopes: vec![Scope::Read, Scope::Write],
            wait_for_approval: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// One agent turn to run.
#[derive(Debug, Clone)]
pub struct AgentTurn {
    /// Agent id (`main`).
    pub agent_id: String,
    /// The user message.
    pub message: String,
    /// Session id (history is kept per session).
    pub session_id: String,
}

/// The final reply of a turn.
#[derive(Debug, Clone)]
pub struct AgentReply {
    /// The whole reply text.
    pub text: String,
    /// Provider that answered.
    pub provider: String,
    /// Model that answered.
    pub model: String,
    /// The session key.
    pub session_key: String,
    /// The run id.
    pub run_id: String,
}

/// An open, authenticated connection.
#[derive(Debug)]
pub struct Connection {
    ws: Ws,
    scopes: ScopeSet,
    pending_request: Option<String>,
    pending_remedy: Option<String>,
    hello: Box<HelloOk>,
}

async fn recv_frame(ws: &mut Ws) -> Result<Frame, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return Frame::parse(t.as_str())
                    .map_err(|e| ClientError::Protocol(format!("bad frame: {e}")));
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Err(ClientError::Closed { code, reason });
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                return Err(ClientError::Closed {
                    code: 1006,
                    reason: e.to_string(),
                });
            }
            None => {
                return Err(ClientError::Closed {
                    code: 1006,
                    reason: "connection ended".into(),
                });
            }
        }
    }
}

async fn recv_event(ws: &mut Ws) -> Result<EventFrame, ClientError> {
    loop {
        if let Frame::Event(ev) = recv_frame(ws).await? {
            return Ok(ev);
        }
    }
}

async fn send(ws: &mut Ws, frame: &Frame) -> Result<(), ClientError> {
    ws.send(Message::Text(frame.to_json().into()))
        .await
        .map_err(|e| ClientError::Closed {
            code: 1006,
            reason: e.to_string(),
        })
}

fn payload_str<'a>(ev: &'a EventFrame, pointer: &str) -> Option<&'a str> {
    ev.payload.as_ref()?.pointer(pointer)?.as_str()
}

/// Connects and completes the handshake.
pub async fn connect(opts: ClientOptions) -> Result<Connection, ClientError> {
    let timed_out = |opts: &ClientOptions| ClientError::Unreachable {
        url: opts.url.clone(),
        detail: "handshake timed out".into(),
    };
    let conn = tokio::time::timeout(opts.timeout, connect_once(&opts))
        .await
        .map_err(|_| timed_out(&opts))??;
    let (Some(wait), Some(request_id)) = (opts.wait_for_approval, conn.pending_request.clone())
    else {
        return Ok(conn);
    };
    let mut conn = conn;
    let resolved = tokio::time::timeout(wait, async {
        loop {
            let ev = recv_event(&mut conn.ws).await?;
            if ev.event == event::DEVICE_PAIR_RESOLVED
                && payload_str(&ev, "/requestId") == Some(request_id.as_str())
            {
                return Ok::<_, ClientError>(payload_str(&ev, "/decision") == Some("approved"));
            }
        }
    })
    .await;
    match resolved {
        Ok(Ok(true)) => {
            conn.close().await;
            tokio::time::timeout(opts.timeout, connect_once(&opts))
                .await
                .map_err(|_| timed_out(&opts))?
        }
        _ => Ok(conn),
    }
}

/// The `connect` params this client sends (before signing), with `stored` as the device token
/// when no sandbox token is set.
pub fn connect_params(opts: &ClientOptions, stored: Option<String>) -> ConnectParams {
    let auth = match (&opts.token, stored) {
        (Some(t), _) => ConnectAuth {
            token: Some(t.clone()),
            ..Default::default()
        },
        (None, Some(dt)) => ConnectAuth {
            device_token: Some(dt),
            ..Default::default()
        },
        (None, None) => ConnectAuth::default(),
    };
    ConnectParams {
        min_protocol: 3,
        max_protocol: 4,
        client: ClientInfo {
            id: ClientId::Cli,
            display_name: None,
            version: crate::shared::VERSION.to_owned(),
            platform: std::env::consts::OS.to_owned(),
            device_family: None,
            model_identifier: None,
            mode: ClientMode::Cli,
            instance_id: Some(uuid::Uuid::new_v4().to_string()),
        },
        caps: Some(vec![]),
        commands: None,
        permissions: None,
        path_env: None,
        role: Some("operator".into()),
        scopes: Some(opts.scopes.clone()),
        device: None,
        auth: Some(auth),
        locale: None,
        user_agent: None,
    }
}

async fn connect_once(opts: &ClientOptions) -> Result<Connection, ClientError> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(crate::ws::conn::READ_BUFFER_BYTES);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(opts.url.as_str(), Some(config), false)
            .await
            .map_err(|e| ClientError::Unreachable {
                url: opts.url.clone(),
                detail: e.to_string(),
            })?;
    let identity = match &opts.identity_dir {
        Some(dir) => Some((dir.clone(), files::load_or_create_identity(dir)?)),
        None => None,
    };
    let stored = identity
        .as_ref()
        .and_then(|(dir, id)| files::load_stored_token(dir, &id.device_id()));
    let mut hs = ClientHandshake::new(
        connect_params(opts, stored),
        identity.as_ref().map(|(_, id)| id),
        uuid::Uuid::new_v4().to_string(),
    );
    let hello = loop {
        let frame = recv_frame(&mut ws).await?;
        match hs.handle_frame(frame, now_ms())? {
            ClientStep::Send(frame) => send(&mut ws, &frame).await?,
            ClientStep::Wait => {}
            ClientStep::Hello(hello) => break hello,
        }
    };
    let auth = hello.auth.as_ref();
    if let (Some((dir, ident)), Some(auth)) = (&identity, auth) {
        files::store_token(dir, &ident.device_id(), auth)?;
    }
    let scopes: ScopeSet = auth.map(|a| a.scopes.iter().collect()).unwrap_or_default();
    // A partial grant is announced on our own socket right after hello-ok: when we got less
    // than we asked for, read that event (the server sends it immediately; bounded wait).
    let (mut pending_request, mut pending_remedy) = (None, None);
    let requested: ScopeSet = opts.scopes.iter().collect();
    if !scopes.allows(&requested)
        && let Ok(Ok(ev)) = tokio::time::timeout(opts.timeout, recv_event(&mut ws)).await
        && ev.event == event::DEVICE_PAIR_REQUESTED
    {
        pending_request = payload_str(&ev, "/requestId").map(str::to_owned);
        pending_remedy = payload_str(&ev, "/remedy").map(str::to_owned);
    }
    Ok(Connection {
        ws,
        scopes,
        pending_request,
        pending_remedy,
        hello,
    })
}

impl Connection {
    /// Scopes the gateway granted (`hello-ok.auth.scopes`, the live authority).
    pub fn granted_scopes(&self) -> &ScopeSet {
        &self.scopes
    }

    /// The pending request covering scopes that were asked for but not granted, if any.
    pub fn pending_request(&self) -> Option<&str> {
        self.pending_request.as_deref()
    }

    /// The command that approves the pending request (`sandgate <sandbox> devices approve <id>`).
    pub fn pending_remedy(&self) -> Option<&str> {
        self.pending_remedy.as_deref()
    }

    /// The whole `hello-ok` payload.
    pub fn hello(&self) -> &HelloOk {
        &self.hello
    }

    /// Calls `method` and returns its payload (interim `accepted` answers are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = uuid::Uuid::new_v4().to_string();
        let req = RequestFrame::new(id.clone(), method, Some(params));
        send(&mut self.ws, &Frame::Req(req)).await?;
        self.wait_response(&id, &mut |_| {}).await
    }

    async fn wait_response(
        &mut self,
        id: &str,
        on_event: &mut (dyn FnMut(&EventFrame) + Send),
    ) -> Result<Value, ClientError> {
        loop {
            match recv_frame(&mut self.ws).await? {
                Frame::Event(ev) => on_event(&ev),
                Frame::Res(res) if res.id == id => {
                    if !res.ok {
                        return Err(match &res.error {
                            Some(err) => ClientError::from_shape(err),
                            None => ClientError::Protocol("failed response without error".into()),
                        });
                    }
                    let payload = res.payload.unwrap_or(Value::Null);
                    if payload.get("status").and_then(Value::as_str) == Some("accepted") {
                        continue;
                    }
                    return Ok(payload);
                }
                _ => {}
            }
        }
    }

    /// Runs one agent turn; `on_delta` gets each streamed piece of the reply.
    pub async fn agent(
        &mut self,
        turn: AgentTurn,
        mut on_delta: impl FnMut(&str) + Send,
    ) -> Result<AgentReply, ClientError> {
        let id = uuid::Uuid::new_v4().to_string();
        let session_key = format!("agent:{}:explicit:{}", turn.agent_id, turn.session_id);
        let params = json!({
            "message": turn.message, "agentId": turn.agent_id, "sessionId": turn.session_id, "sessionKey": session_key,
            "deliver": false, "timeout": 600, "idempotencyKey": uuid::Uuid::new_v4().to_string(),
        });
        let req = RequestFrame::new(id.clone(), "agent", Some(params));
        send(&mut self.ws, &Frame::Req(req)).await?;
        let mut on_event = |ev: &EventFrame| {
            if ev.event == event::AGENT
                && payload_str(ev, "/stream") == Some("assistant")
                && let Some(d) = payload_str(ev, "/data/delta")
            {
                on_delta(d);
            }
        };
        let payload = self.wait_response(&id, &mut on_event).await?;
        let text = payload
            .pointer("/result/payloads")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        let meta = payload
            .pointer("/result/meta/agentMeta")
            .cloned()
            .unwrap_or(Value::Null);
        let s = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(AgentReply {
            text,
            provider: s("provider"),
            model: s("model"),
            session_key,
            run_id: payload
                .get("runId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Closes the connection (no status code, as the OpenClaw CLI does).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

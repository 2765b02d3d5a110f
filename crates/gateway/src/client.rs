//! A client of the sandgate (and OpenClaw) gateway protocol, for tools and for the
//! `sandgate` CLI: loads or creates a device identity, connects with the sandbox token or a
//! stored device token, stores the issued device token, runs agent turns, and turns every
//! failure into a typed [`ClientError`] with a remedy. It never falls back to anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sandgate_core::connect::{
    ClientId, ClientInfo, ClientMode, ConnectAuth, ConnectParams, DeviceProof,
};
use sandgate_core::frame::{Frame, RequestFrame};
use sandgate_core::identity::DeviceIdentity;
use sandgate_core::signature::{SignatureVersion, payload_to_sign};
use sandgate_core::{Scope, ScopeSet};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::fsutil;
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

/// Typed failures, each with a cause id and a remedy.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No gateway answered at the URL.
    #[error("gateway not reachable at {url}: {detail}")]
    Unreachable {
        /// Target.
        url: String,
        /// Why.
        detail: String,
    },
    /// The gateway holds a pairing request for this device.
    #[error("pairing required ({reason}){}", .request_id.as_ref().map(|r| format!(" (requestId: {r})")).unwrap_or_default())]
    PairingRequired {
        /// The pending request.
        request_id: Option<String>,
        /// `not-paired`, `scope-upgrade`, …
        reason: String,
        /// The command that approves it.
        remedy: String,
    },
    /// The session lacks a scope for a method.
    #[error("missing scope: {scope}")]
    ScopeDenied {
        /// The missing scope.
        scope: String,
        /// What to do.
        remedy: String,
    },
    /// Credentials were refused.
    #[error("authentication failed ({code}): {message}")]
    AuthFailed {
        /// `details.code`.
        code: String,
        /// The gateway's message.
        message: String,
    },
    /// The sandbox's provider failed.
    #[error("{message}")]
    Upstream {
        /// The gateway's message.
        message: String,
        /// What to do.
        remedy: String,
    },
    /// The gateway answered something this client does not understand, or a request failed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The gateway closed the connection.
    #[error("gateway closed the connection ({code}): {reason}")]
    Closed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Local identity or token files could not be used.
    #[error("device identity: {0}")]
    Identity(String),
}

impl ClientError {
    /// A stable cause id for CLIs and JSON output.
    pub fn cause(&self) -> &'static str {
        match self {
            ClientError::Unreachable { .. } => "gateway_unreachable",
            ClientError::PairingRequired { .. } => "pairing_required",
            ClientError::ScopeDenied { .. } => "scope_denied",
            ClientError::AuthFailed { .. } => "auth_failed",
            ClientError::Closed { code: 4001, .. } => "auth_failed",
            ClientError::Upstream { .. } => "upstream_error",
            ClientError::Protocol(_) | ClientError::Closed { .. } => "protocol_error",
            ClientError::Identity(_) => "identity_error",
        }
    }

    /// What the user should do next.
    pub fn remedy(&self) -> String {
        match self {
            ClientError::Unreachable { .. } => "start the gateway with `sandgate gateway start` and check `sandgate status`".into(),
            ClientError::PairingRequired { remedy, .. } | ClientError::ScopeDenied { remedy, .. } | ClientError::Upstream { remedy, .. } => remedy.clone(),
            ClientError::AuthFailed { .. } | ClientError::Closed { code: 4001, .. } => {
                "this device's credentials were refused or revoked: list devices with `sandgate <sandbox> devices list` and approve the pending request, or re-onboard".into()
            }
            ClientError::Protocol(_) | ClientError::Closed { .. } => "check `sandgate status` and the gateway log (`sandgate <sandbox> logs`)".into(),
            ClientError::Identity(_) => "check the permissions of the sandbox's device files, or re-onboard the sandbox".into(),
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
    hello: Value,
}

fn load_stored_token(dir: &Path, device_id: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("device-auth.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    if v.get("deviceId")?.as_str()? != device_id {
        return None;
    }
    v.pointer("/tokens/operator/token")?
        .as_str()
        .map(str::to_owned)
}

fn store_token(dir: &Path, device_id: &str, auth: &Value) -> Result<(), ClientError> {
    let Some(token) = auth.get("deviceToken").and_then(Value::as_str) else {
        return Ok(());
    };
    let doc = json!({
        "version": 1,
        "deviceId": device_id,
        "tokens": {"operator": {"token": token, "role": "operator", "scopes": auth.get("scopes").cloned().unwrap_or(json!([])), "updatedAtMs": now_ms()}},
    });
    fsutil::write_private(&dir.join("device-auth.json"), doc.to_string().as_bytes())
        .map_err(|e| ClientError::Identity(e.to_string()))
}

fn load_or_create_identity(dir: &Path) -> Result<DeviceIdentity, ClientError> {
    let path = dir.join("device.json");
    if path.exists() {
        return DeviceIdentity::load(&path)
            .map_err(|e| ClientError::Identity(format!("{}: {e}", path.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| ClientError::Identity(e.to_string()))?;
    let id = DeviceIdentity::generate();
    id.save(&path)
        .map_err(|e| ClientError::Identity(e.to_string()))?;
    Ok(id)
}

fn error_from(err: &Value) -> ClientError {
    let code = err.get("code").and_then(Value::as_str).unwrap_or_default();
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let details = err.get("details").cloned().unwrap_or(Value::Null);
    let dcode = details
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let remedy = details
        .get("remedy")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (code, dcode) {
        (_, "PAIRING_REQUIRED") => ClientError::PairingRequired {
            request_id: details.get("requestId").and_then(Value::as_str).map(str::to_owned),
            reason: details.get("reason").and_then(Value::as_str).unwrap_or("not-paired").to_owned(),
            remedy: remedy.unwrap_or_else(|| "approve the pending request with `sandgate <sandbox> devices approve <requestId>`".into()),
        },
        (_, "MISSING_SCOPE") => ClientError::ScopeDenied {
            scope: details.get("missingScope").and_then(Value::as_str).unwrap_or_default().to_owned(),
            remedy: remedy.unwrap_or_else(|| {
                "this session was not granted that scope; ask the host admin to approve the device's pending request".into()
            }),
        },
        (_, "UPSTREAM_ERROR") => ClientError::Upstream {
            message,
            remedy: remedy.unwrap_or_else(|| "check the sandbox's provider with `sandgate <sandbox> status`".into()),
        },
        (_, d) if d.starts_with("AUTH_") || d.starts_with("DEVICE_AUTH_") || d == "DEVICE_IDENTITY_REQUIRED" => {
            ClientError::AuthFailed { code: d.to_owned(), message }
        }
        _ if message.starts_with("missing scope: ") => ClientError::ScopeDenied {
            scope: message.trim_start_matches("missing scope: ").to_owned(),
            remedy: "ask the host admin to approve the device's pending request".into(),
        },
        _ => ClientError::Protocol(format!("{code}: {message}")),
    }
}

async fn recv_json(ws: &mut Ws) -> Result<Value, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str())
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

async fn send(ws: &mut Ws, frame: &Frame) -> Result<(), ClientError> {
    let text = serde_json::to_string(frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| ClientError::Closed {
            code: 1006,
            reason: e.to_string(),
        })
}

/// Connects and completes the handshake.
pub async fn connect(opts: ClientOptions) -> Result<Connection, ClientError> {
    let conn = tokio::time::timeout(opts.timeout, connect_once(&opts))
        .await
        .map_err(|_| ClientError::Unreachable {
            url: opts.url.clone(),
            detail: "handshake timed out".into(),
        })??;
    let (Some(wait), Some(request_id)) = (opts.wait_for_approval, conn.pending_request.clone())
    else {
        return Ok(conn);
    };
    let mut conn = conn;
    let resolved = tokio::time::timeout(wait, async {
        loop {
            let v = recv_json(&mut conn.ws).await?;
            if v.get("event").and_then(Value::as_str) == Some("device.pair.resolved")
                && v.pointer("/payload/requestId").and_then(Value::as_str)
                    == Some(request_id.as_str())
            {
                return Ok::<_, ClientError>(
                    v.pointer("/payload/decision").and_then(Value::as_str) == Some("approved"),
                );
            }
        }
    })
    .await;
    match resolved {
        Ok(Ok(true)) => {
            conn.close().await;
            tokio::time::timeout(opts.timeout, connect_once(&opts))
                .await
                .map_err(|_| ClientError::Unreachable {
                    url: opts.url.clone(),
                    detail: "handshake timed out".into(),
                })?
        }
        _ => Ok(conn),
    }
}

async fn connect_once(opts: &ClientOptions) -> Result<Connection, ClientError> {
    let (mut ws, _) = tokio_tungstenite::connect_async(opts.url.as_str())
        .await
        .map_err(|e| ClientError::Unreachable {
            url: opts.url.clone(),
            detail: e.to_string(),
        })?;
    let challenge = recv_json(&mut ws).await?;
    let nonce = challenge
        .pointer("/payload/nonce")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if challenge.get("event").and_then(Value::as_str) != Some("connect.challenge")
        || nonce.is_empty()
    {
        return Err(ClientError::Protocol(
            "gateway did not send connect.challenge with a nonce".into(),
        ));
    }
    let identity = match &opts.identity_dir {
        Some(dir) => Some((dir.clone(), load_or_create_identity(dir)?)),
        None => None,
    };
    let stored = identity
        .as_ref()
        .and_then(|(dir, id)| load_stored_token(dir, &id.device_id()));
    let auth = match (&opts.token, &stored) {
        (Some(t), _) => ConnectAuth {
            token: Some(t.clone()),
            ..Default::default()
        },
        (None, Some(dt)) => ConnectAuth {
            device_token: Some(dt.clone()),
            ..Default::default()
        },
        (None, None) => ConnectAuth::default(),
    };
    let mut params = ConnectParams {
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
    };
    if let Some((_, id)) = &identity {
        let signed_at = now_ms();
        let payload = payload_to_sign(
            &params,
            SignatureVersion::V3,
            &id.device_id(),
            signed_at,
            &nonce,
        );
        params.device = Some(DeviceProof {
            id: id.device_id(),
            public_key: id.public_key_b64url(),
            signature: id.sign(&payload),
            signed_at,
            nonce: nonce.clone(),
        });
    }
    let id = uuid::Uuid::new_v4().to_string();
    let params = serde_json::to_value(&params).map_err(|e| ClientError::Protocol(e.to_string()))?;
    send(
        &mut ws,
        &Frame::Req(RequestFrame {
            id: id.clone(),
            method: "connect".into(),
            params: Some(params),
            traceparent: None,
        }),
    )
    .await?;
    let mut hello = None;
    let mut pending_request = None;
    let mut pending_remedy = None;
    while hello.is_none() {
        let v = recv_json(&mut ws).await?;
        if v.get("type").and_then(Value::as_str) == Some("res")
            && v.get("id").and_then(Value::as_str) == Some(id.as_str())
        {
            if v.get("ok").and_then(Value::as_bool) == Some(true) {
                hello = Some(v.get("payload").cloned().unwrap_or(Value::Null));
            } else {
                return Err(error_from(v.get("error").unwrap_or(&Value::Null)));
            }
        }
    }
    let hello = hello.unwrap_or(Value::Null);
    let auth = hello.get("auth").cloned().unwrap_or(Value::Null);
    if let Some((dir, ident)) = &identity {
        store_token(dir, &ident.device_id(), &auth)?;
    }
    let scopes: ScopeSet = auth
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // A partial grant is announced on our own socket right after hello-ok: when we got less
    // than we asked for, read that event (the server sends it immediately; bounded wait).
    let requested: ScopeSet = opts.scopes.iter().collect();
    if !scopes.allows(&requested)
        && let Ok(Ok(v)) = tokio::time::timeout(opts.timeout, recv_json(&mut ws)).await
        && v.get("event").and_then(Value::as_str) == Some("device.pair.requested")
    {
        pending_request = v
            .pointer("/payload/requestId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        pending_remedy = v
            .pointer("/payload/remedy")
            .and_then(Value::as_str)
            .map(str::to_owned);
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
    pub fn hello(&self) -> &Value {
        &self.hello
    }

    /// Calls `method` and returns its payload (interim `accepted` answers are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = uuid::Uuid::new_v4().to_string();
        send(
            &mut self.ws,
            &Frame::Req(RequestFrame {
                id: id.clone(),
                method: method.into(),
                params: Some(params),
                traceparent: None,
            }),
        )
        .await?;
        self.wait_response(&id, &mut |_| {}).await
    }

    async fn wait_response(
        &mut self,
        id: &str,
        on_event: &mut (dyn FnMut(&Value) + Send),
    ) -> Result<Value, ClientError> {
        loop {
            let v = recv_json(&mut self.ws).await?;
            match v.get("type").and_then(Value::as_str) {
                Some("event") => on_event(&v),
                Some("res") if v.get("id").and_then(Value::as_str) == Some(id) => {
                    if v.get("ok").and_then(Value::as_bool) != Some(true) {
                        return Err(error_from(v.get("error").unwrap_or(&Value::Null)));
                    }
                    let payload = v.get("payload").cloned().unwrap_or(Value::Null);
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
        send(
            &mut self.ws,
            &Frame::Req(RequestFrame {
                id: id.clone(),
                method: "agent".into(),
                params: Some(params),
                traceparent: None,
            }),
        )
        .await?;
        let mut on_event = |v: &Value| {
            if v.get("event").and_then(Value::as_str) == Some("agent")
                && v.pointer("/payload/stream").and_then(Value::as_str) == Some("assistant")
                && let Some(d) = v.pointer("/payload/data/delta").and_then(Value::as_str)
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

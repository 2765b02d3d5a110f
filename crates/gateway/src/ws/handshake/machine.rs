//! The server side of the connect handshake as a sans-IO state machine (reference §2.3).
//!
//! Inputs are socket events ([`Input`]), the pairing authority's answer and the clock; outputs
//! ([`Output`], drained with [`ServerHandshake::poll_output`]) are frames to send, the pairing
//! question, and finally the established session or a rejection. No sockets, no tasks, no
//! wall clock: the async shell in [`super`] does the I/O, tests drive it in memory.

use std::collections::VecDeque;

use sandgate_core::codes::AuthReason;
use sandgate_core::connect::{ConnectChallenge, ConnectParams};
use sandgate_core::error::{AuthFailure, HandshakeRejection, PairingRequired};
use sandgate_core::frame::{Frame, MAX_PREAUTH_FRAME_BYTES, RequestFrame};
use sandgate_core::hello::{Features, HelloAuth, HelloOk, ServerInfo, SessionDefaults, Snapshot};
use sandgate_core::protocol::{ProtocolVersion, negotiate};
use sandgate_core::signature::verify_device_proof;
use sandgate_core::{CloseCode, Role, ScopeSet, StateVersion};
use sandgate_pairing::{
    ConnectAttempt, Credential, Decision, DeviceInfo, DeviceMetadata, IssuedToken, Locality,
    PairingError,
};

/// The metrics label of a refusal: its detail code, else its error code, else what the
/// close says (`HANDSHAKE_TIMEOUT` for the reasonless timeout close).
fn refusal_code(r: &HandshakeRejection) -> String {
    match &r.error {
        Some(e) => e
            .detail_code()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_else(|| e.code.as_str().to_owned()),
        None if r.close_reason.is_empty() => "HANDSHAKE_TIMEOUT".to_owned(),
        None => r.close_reason.to_ascii_uppercase().replace(' ', "_"),
    }
}

/// Checks a presented shared token against the sandbox's (constant time in the gateway).
pub trait TokenCheck {
    /// True when `presented` is the sandbox token.
    fn token_matches(&self, presented: &str) -> bool;
}

/// What the server knows before the first frame.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The sandbox whose port this is.
    pub sandbox: String,
    /// The challenge nonce (fresh per connection).
    pub nonce: String,
    /// This connection's id (`hello-ok.server.connId`).
    pub conn_id: String,
    /// `hello-ok.server.version`.
    pub server_version: String,
    /// `hello-ok.features`.
    pub features: Features,
    /// When the gateway started (ms), for `snapshot.uptimeMs`.
    pub started_at_ms: u64,
    /// Where the connection came from.
    pub locality: Locality,
    /// The upgrade's `Origin` verdict ([`crate::ws::origin::check`]).
    pub origin: Result<(), &'static str>,
    /// How long the client has to send `connect`, in ms.
    pub timeout_ms: u64,
}

/// A socket event.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A text message.
    Text(&'a str),
    /// Any other message (binary, ping, pong).
    NotText,
    /// The read failed (most often a frame over the socket's limit).
    ReadError,
    /// The peer closed or went away.
    Closed,
}

/// A completed handshake.
#[derive(Debug, Clone)]
pub struct Established {
    /// The connect request.
    pub params: ConnectParams,
    /// Effective role.
    pub role: Role,
    /// Live scope authority of the session.
    pub scopes: ScopeSet,
    /// Device id, when the client sent a verified device.
    pub device_id: Option<String>,
    /// The `hello-ok` response, to send once the session is registered.
    pub hello: Frame,
    /// A pending request covering what was not granted (`device.pair.requested` payload).
    pub pending: Option<serde_json::Value>,
}

/// What the shell must do next.
#[derive(Debug)]
pub enum Output {
    /// Send this frame.
    Transmit(Frame),
    /// Ask the pairing authority; feed the result to [`ServerHandshake::answer`].
    Ask(Box<ConnectAttempt>),
    /// The handshake succeeded (final).
    Established(Box<Established>),
    /// Close with this code and reason (final; any error response was transmitted first).
    Rejected(CloseCode, String),
    /// The peer left before finishing (final; nothing to send).
    PeerGone,
}

enum State {
    AwaitConnect,
    AwaitDecision(Box<Pending>),
    Done,
}

/// A parsed, authenticated connect waiting for the pairing decision.
struct Pending {
    id: String,
    params: ConnectParams,
    protocol: ProtocolVersion,
    device_id: Option<String>,
}

/// The server handshake of one connection.
pub struct ServerHandshake<'a> {
    config: ServerConfig,
    tokens: &'a (dyn TokenCheck + Sync),
    deadline_ms: u64,
    state: State,
    out: VecDeque<Output>,
    refusal: Option<String>,
}

impl std::fmt::Debug for ServerHandshake<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("conn_id", &self.config.conn_id)
            .field("deadline_ms", &self.deadline_ms)
            .finish_non_exhaustive()
    }
}

impl<'a> ServerHandshake<'a> {
    /// Starts a handshake at `now_ms`: the first output is the `connect.challenge` event.
    pub fn new(config: ServerConfig, tokens: &'a (dyn TokenCheck + Sync), now_ms: u64) -> Self {
        let challenge = ConnectChallenge::new(config.nonce.clone(), now_ms);
        let mut out = VecDeque::new();
        out.push_back(Output::Transmit(Frame::Event(challenge.to_event())));
        ServerHandshake {
            deadline_ms: now_ms.saturating_add(config.timeout_ms),
            config,
            tokens,
            state: State::AwaitConnect,
            out,
            refusal: None,
        }
    }

    /// The detail code of the refusal, once the handshake was rejected (for metrics).
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called if no input arrived (ms), while waiting
    /// for `connect`; `None` otherwise.
    pub fn deadline_ms(&self) -> Option<u64> {
        matches!(self.state, State::AwaitConnect).then_some(self.deadline_ms)
    }

    /// True once a final output was queued.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The clock reached `now_ms` without input.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.deadline_ms().is_some_and(|d| now_ms >= d) {
            self.reject(None, HandshakeRejection::handshake_timeout());
        }
    }

    /// A socket event at `now_ms`. Only the first message counts; later ones are ignored.
    pub fn handle_input(&mut self, input: Input<'_>, now_ms: u64) {
        if !matches!(self.state, State::AwaitConnect) {
            return;
        }
        let text = match input {
            Input::Text(t) => t,
            Input::Closed => {
                self.state = State::Done;
                self.out.push_back(Output::PeerGone);
                return;
            }
            Input::ReadError => {
                return self.reject(None, HandshakeRejection::preauth_payload_too_large());
            }
            Input::NotText => {
                return self.reject(None, HandshakeRejection::invalid_request_frame());
            }
        };
        if text.len() > MAX_PREAUTH_FRAME_BYTES {
            return self.reject(None, HandshakeRejection::preauth_payload_too_large());
        }
        let req = match Frame::parse_with_limit(text, MAX_PREAUTH_FRAME_BYTES) {
            Ok(Frame::Req(req)) => req,
            _ => return self.reject(None, HandshakeRejection::invalid_request_frame()),
        };
        match self.evaluate(&req, now_ms) {
            Ok((pending, attempt)) => {
                self.state = State::AwaitDecision(Box::new(pending));
                self.out.push_back(Output::Ask(Box::new(attempt)));
            }
            Err(rejection) => self.reject(Some(&req.id), rejection),
        }
    }

    /// The pairing authority's answer to [`Output::Ask`], at `now_ms`.
    pub fn answer(&mut self, result: Result<Decision, PairingError>, now_ms: u64) {
        let State::AwaitDecision(p) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let (role, scopes, token, pending) = match result {
            Ok(Decision::Approved {
                role,
                scopes,
                device_token,
                ..
            }) => (role, scopes, device_token, None),
            Ok(Decision::PartiallyGranted {
                role,
                granted,
                device_token,
                pending,
            }) => (
                role,
                granted,
                device_token,
                serde_json::to_value(&pending).ok(),
            ),
            Ok(Decision::PairingRequired {
                reason,
                request_id,
                remedy,
                details,
            }) => {
                let approved = !details.approved_roles.is_empty();
                let rejection = HandshakeRejection::pairing_required(&PairingRequired {
                    reason,
                    request_id,
                    device_id: details.device_id,
                    requested_role: details.requested_role,
                    requested_scopes: p.params.scopes.clone().unwrap_or_default(),
                    approved_roles: approved.then(|| details.approved_roles.clone()),
                    approved_scopes: approved
                        .then(|| details.approved_scopes.iter().cloned().collect()),
                    remedy,
                });
                return self.reject(Some(&p.id), rejection);
            }
            Err(e) => return self.reject(Some(&p.id), pairing_error(e, &p.params)),
        };
        let hello = self.hello_ok(&p, role, &scopes, token.as_ref(), now_ms);
        let hello = Frame::Res(sandgate_core::ResponseFrame::ok(p.id, hello.to_value()));
        self.out
            .push_back(Output::Established(Box::new(Established {
                params: p.params,
                role,
                scopes,
                device_id: p.device_id,
                hello,
                pending,
            })));
    }

    fn reject(&mut self, id: Option<&str>, rejection: HandshakeRejection) {
        self.state = State::Done;
        self.refusal = Some(refusal_code(&rejection));
        if let Some(res) = id.and_then(|id| rejection.response(id)) {
            self.out.push_back(Output::Transmit(Frame::Res(res)));
        }
        self.out.push_back(Output::Rejected(
            rejection.close_code,
            rejection.close_reason,
        ));
    }

    /// Everything up to the pairing question: method, params, protocol, role, origin,
    /// credential, device proof.
    #[allow(clippy::result_large_err)] // private, consumed at once by `reject`
    fn evaluate(
        &self,
        req: &RequestFrame,
        now_ms: u64,
    ) -> Result<(Pending, ConnectAttempt), HandshakeRejection> {
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
        self.config
            .origin
            .map_err(HandshakeRejection::origin_not_allowed)?;

        let auth = params.auth.clone().unwrap_or_default();
        let fail = |reason| unauthorized(&params, reason);
        let shared_ok = auth
            .token
            .as_deref()
            .is_some_and(|t| self.tokens.token_matches(t));
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
                return Err(fail(AuthReason::TokenMismatch));
            }
            Credential::DeviceToken(dt)
        } else if auth.token.is_some() {
            return Err(fail(AuthReason::TokenMismatch));
        } else {
            return Err(fail(AuthReason::TokenMissing));
        };

        let device = match &params.device {
            None if role != Role::Operator || !shared_ok => {
                return Err(HandshakeRejection::device_identity_required());
            }
            None => None,
            Some(proof) => {
                verify_device_proof(&params, &self.config.nonce, now_ms)
                    .map_err(|e| e.to_rejection())?;
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
        let attempt = ConnectAttempt {
            sandbox: self.config.sandbox.clone(),
            device,
            role,
            scopes: params.scopes.clone().unwrap_or_default(),
            locality: self.config.locality,
            credential,
        };
        Ok((
            Pending {
                id: req.id.clone(),
                device_id: attempt.device.as_ref().map(|d| d.device_id.clone()),
                params,
                protocol,
            },
            attempt,
        ))
    }

    /// `hello-ok`, with only the fields both recorded CLI versions accept: 2026.5.28 drops
    /// frames whose closed objects carry keys it does not know.
    fn hello_ok(
        &self,
        p: &Pending,
        role: Role,
        scopes: &ScopeSet,
        token: Option<&IssuedToken>,
        now_ms: u64,
    ) -> HelloOk {
        let mut auth = HelloAuth::new(role, scopes.iter().cloned().collect());
        if let Some(t) = token {
            auth = auth.with_device_token(t.token(), t.issued_at_ms);
        }
        let mut snapshot = Snapshot::empty(
            StateVersion {
                presence: 1,
                health: 1,
            },
            now_ms.saturating_sub(self.config.started_at_ms),
        );
        snapshot.health = serde_json::json!({"ok": true, "sandbox": self.config.sandbox});
        snapshot.session_defaults = Some(SessionDefaults {
            default_agent_id: "main".into(),
            main_key: "main".into(),
            main_session_key: "agent:main:main".into(),
            scope: Some("per-sender".into()),
            model_configured: None,
            ownership: None,
            selection_required: None,
        });
        HelloOk::new(
            p.protocol,
            ServerInfo::new(
                self.config.server_version.clone(),
                self.config.conn_id.clone(),
            ),
            self.config.features.clone(),
            snapshot,
            Some(auth),
        )
    }
}

fn unauthorized(params: &ConnectParams, reason: AuthReason) -> HandshakeRejection {
    let auth = params.auth.clone().unwrap_or_default();
    HandshakeRejection::unauthorized(&AuthFailure {
        reason: Some(reason),
        device_present: params.device.is_some(),
        sent_token: auth.token.is_some(),
        sent_device_token: auth.device_token.is_some(),
    })
}

fn pairing_error(err: PairingError, params: &ConnectParams) -> HandshakeRejection {
    let explicit_device_token = params
        .auth
        .as_ref()
        .is_some_and(|a| a.device_token.is_some());
    match err {
        PairingError::DeviceTokenMismatch(_) if explicit_device_token => {
            unauthorized(params, AuthReason::DeviceTokenMismatch)
        }
        PairingError::DeviceTokenMismatch(_) => unauthorized(params, AuthReason::TokenMismatch),
        PairingError::ScopeMismatch => unauthorized(params, AuthReason::ScopeMismatch),
        PairingError::DeviceIdentityRequired => HandshakeRejection::device_identity_required(),
        other => {
            tracing::warn!(error = %other, "pairing authority refused connect");
            HandshakeRejection::invalid_connect_params(&other)
        }
    }
}

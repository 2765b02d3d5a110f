#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The connect handshake driven in memory: the server's sans-IO [`ServerHandshake`] and the
//! client's [`ClientHandshake`] in one process, no sockets, an in-memory pairing authority and a
//! clock that is just a number. Every frame still crosses as JSON text (`to_json` → `parse`).

use sandgate_core::codes::{CloseCode, DetailCode, close_reasons};
use sandgate_core::frame::Frame;
use sandgate_core::hello::{Features, HelloOk};
use sandgate_core::identity::DeviceIdentity;
use sandgate_core::{Role, Scope};
use sandgate_gateway::client::{ClientError, ClientHandshake, ClientOptions, ClientStep};
use sandgate_gateway::ws::handshake::{
    Established, Input, Output, ServerConfig, ServerHandshake, TokenCheck,
};
use sandgate_pairing::{Locality, MemoryStore, PairingAuthority, SandboxPolicy};
use serde_json::json;

const TOKEN: &str = "sandbox-token-0123456789";
const T0: u64 = 1_800_000_000_000;
const TIMEOUT_MS: u64 = 10_000;

struct Token;
impl TokenCheck for Token {
    fn token_matches(&self, presented: &str) -> bool {
        presented == TOKEN
    }
}

fn authority() -> PairingAuthority<MemoryStore> {
    let auth = PairingAuthority::new(MemoryStore::default());
    auth.set_policy("alpha", SandboxPolicy::default());
    auth
}

fn config(origin: Result<(), &'static str>) -> ServerConfig {
    ServerConfig {
        sandbox: "alpha".into(),
        nonce: "nonce-1".into(),
        conn_id: "conn-1".into(),
        server_version: "test".into(),
        features: Features {
            methods: vec!["health".into()],
            events: vec!["tick".into()],
            capabilities: None,
        },
        started_at_ms: T0 - 5_000,
        locality: Locality::Loopback,
        origin,
        timeout_ms: TIMEOUT_MS,
    }
}

fn options(token: Option<&str>, scopes: &[Scope]) -> ClientOptions {
    let mut o = ClientOptions::new("ws://unused");
    o.token = token.map(str::to_owned);
    o.scopes = scopes.to_vec();
    o
}

/// How the server side ended.
#[derive(Debug)]
enum ServerEnd {
    Established(Box<Established>),
    Rejected(CloseCode, String),
}

/// Everything the server transmitted, decoded as the client would see it.
fn wire(frame: &Frame) -> Frame {
    Frame::parse(&frame.to_json()).unwrap()
}

/// Runs one handshake to its end at clock `now`.
async fn drive(
    auth: &PairingAuthority<MemoryStore>,
    server: &mut ServerHandshake<'_>,
    client: &mut ClientHandshake<'_>,
    now: u64,
) -> (Result<Box<HelloOk>, ClientError>, ServerEnd) {
    let mut client_result = None;
    loop {
        let Some(out) = server.poll_output() else {
            panic!("server stalled without a final output")
        };
        match out {
            Output::Transmit(frame) => {
                if client_result.is_some() {
                    continue;
                }
                match client.handle_frame(wire(&frame), now) {
                    Ok(ClientStep::Send(req)) => {
                        server.handle_input(Input::Text(&req.to_json()), now)
                    }
                    Ok(ClientStep::Wait) => {}
                    Ok(ClientStep::Hello(h)) => client_result = Some(Ok(h)),
                    Err(e) => client_result = Some(Err(e)),
                }
            }
            Output::Ask(attempt) => server.answer(auth.connect(&attempt).await, now),
            Output::Established(est) => {
                // The shell sends hello-ok after registering the session.
                let hello = client.handle_frame(wire(&est.hello), now).unwrap();
                let ClientStep::Hello(h) = hello else {
                    panic!("client did not accept hello-ok: {hello:?}")
                };
                return (Ok(h), ServerEnd::Established(est));
            }
            Output::Rejected(code, reason) => {
                let r = client_result.unwrap_or_else(|| {
                    Err(ClientError::Closed {
                        code: code.as_u16(),
                        reason: reason.clone(),
                    })
                });
                return (r, ServerEnd::Rejected(code, reason));
            }
            Output::PeerGone => panic!("unexpected peer gone"),
        }
    }
}

#[tokio::test]
async fn deviceless_token_connect_gets_hello_ok_within_the_ceiling() {
    let auth = authority();
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let params = sandgate_gateway::client::connect_params(
        &options(Some(TOKEN), &[Scope::Read, Scope::Write, Scope::Admin]),
        None,
    );
    let mut client = ClientHandshake::new(params, None, "c1".into());
    let (hello, end) = drive(&auth, &mut server, &mut client, T0).await;
    let hello = hello.unwrap();
    let ServerEnd::Established(est) = end else {
        panic!("{end:?}")
    };
    assert_eq!(est.role, Role::Operator);
    assert_eq!(est.device_id, None);
    assert!(
        est.pending.is_none(),
        "device-less connects never leave a request"
    );
    let auth_part = hello.auth.unwrap();
    // operator.admin asks for everything; the ceiling grants its part of it, never admin.
    assert_eq!(
        auth_part.scopes,
        vec![Scope::Approvals, Scope::Read, Scope::Write]
    );
    assert_eq!(auth_part.device_token, None);
    assert_eq!(hello.server.conn_id, "conn-1");
    assert_eq!(hello.snapshot.uptime_ms, 5_000);
    assert_eq!(hello.features.methods, vec!["health".to_owned()]);
    assert_eq!(
        hello.snapshot.health,
        json!({"ok": true, "sandbox": "alpha"})
    );
    assert!(server.is_done());
}

#[tokio::test]
async fn device_pairs_by_policy_then_reconnects_with_its_device_token() {
    let auth = authority();
    let id = DeviceIdentity::generate();
    let opts = options(Some(TOKEN), &[Scope::Read, Scope::Write]);
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let params = sandgate_gateway::client::connect_params(&opts, None);
    let mut client = ClientHandshake::new(params, Some(&id), "c1".into());
    let (hello, end) = drive(&auth, &mut server, &mut client, T0).await;
    let token = hello
        .unwrap()
        .auth
        .unwrap()
        .device_token
        .expect("a minted device token");
    let ServerEnd::Established(est) = end else {
        panic!("{end:?}")
    };
    assert_eq!(est.device_id.as_deref(), Some(id.device_id().as_str()));

    // Reconnect with only the device token: accepted, and no new token (stored hashed, D4).
    let opts = options(None, &[Scope::Read]);
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0 + 1_000);
    let params = sandgate_gateway::client::connect_params(&opts, Some(token));
    let mut client = ClientHandshake::new(params, Some(&id), "c2".into());
    let (hello, _) = drive(&auth, &mut server, &mut client, T0 + 1_000).await;
    let hello_auth = hello.unwrap().auth.unwrap();
    assert_eq!(hello_auth.scopes, vec![Scope::Read]);
    assert_eq!(hello_auth.device_token, None);
}

#[tokio::test]
async fn beyond_the_ceiling_is_a_partial_grant_with_a_pending_request() {
    let auth = authority();
    let id = DeviceIdentity::generate();
    let opts = options(Some(TOKEN), &[Scope::Read, Scope::Admin]);
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let params = sandgate_gateway::client::connect_params(&opts, None);
    let mut client = ClientHandshake::new(params, Some(&id), "c1".into());
    let (hello, end) = drive(&auth, &mut server, &mut client, T0).await;
    let scopes = hello.unwrap().auth.unwrap().scopes;
    assert_eq!(scopes, vec![Scope::Approvals, Scope::Read, Scope::Write]);
    let ServerEnd::Established(est) = end else {
        panic!("{end:?}")
    };
    let pending = est.pending.expect("a pending request");
    assert_eq!(pending["missing"], json!(["operator.admin"]));
    assert!(
        pending["remedy"]
            .as_str()
            .unwrap()
            .contains("devices approve")
    );
}

#[tokio::test]
async fn wrong_token_is_a_typed_auth_failure_and_close_1008() {
    let auth = authority();
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let params =
        sandgate_gateway::client::connect_params(&options(Some("nope"), &[Scope::Read]), None);
    let mut client = ClientHandshake::new(params, None, "c1".into());
    let (hello, end) = drive(&auth, &mut server, &mut client, T0).await;
    match hello {
        Err(ClientError::AuthFailed { code, .. }) => {
            assert_eq!(code, DetailCode::AuthTokenMismatch)
        }
        other => panic!("{other:?}"),
    }
    let ServerEnd::Rejected(code, reason) = end else {
        panic!("{end:?}")
    };
    assert_eq!(code, CloseCode::PolicyViolation);
    assert!(reason.starts_with("unauthorized"), "{reason}");
}

#[tokio::test]
async fn deviceless_without_token_needs_a_device() {
    let auth = authority();
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let params = sandgate_gateway::client::connect_params(&options(None, &[Scope::Read]), None);
    let mut client = ClientHandshake::new(params, None, "c1".into());
    let (hello, end) = drive(&auth, &mut server, &mut client, T0).await;
    assert!(
        matches!(
            hello,
            Err(ClientError::AuthFailed {
                code: DetailCode::AuthTokenMissing,
                ..
            })
        ),
        "{hello:?}"
    );
    assert!(matches!(
        end,
        ServerEnd::Rejected(CloseCode::PolicyViolation, _)
    ));
}

#[tokio::test]
async fn a_stale_signature_is_refused() {
    let auth = authority();
    let id = DeviceIdentity::generate();
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let params =
        sandgate_gateway::client::connect_params(&options(Some(TOKEN), &[Scope::Read]), None);
    let mut client = ClientHandshake::new(params, Some(&id), "c1".into());
    // The client signs at T0; the server checks ten minutes later.
    let Some(Output::Transmit(challenge)) = server.poll_output() else {
        panic!("no challenge")
    };
    let ClientStep::Send(req) = client.handle_frame(wire(&challenge), T0).unwrap() else {
        panic!("no connect")
    };
    server.handle_input(Input::Text(&req.to_json()), T0 + 600_000);
    let Some(Output::Transmit(res)) = server.poll_output() else {
        panic!("no response")
    };
    match client.handle_frame(wire(&res), T0 + 600_000) {
        Err(ClientError::AuthFailed { code, .. }) => {
            assert_eq!(code, DetailCode::DeviceAuthSignatureExpired)
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(server.poll_output(), Some(Output::Rejected(..))));
    drop(auth);
}

/// The first output after `input`, expecting an error response then a close.
fn refusal(
    input: Input<'_>,
    origin: Result<(), &'static str>,
) -> (Option<Frame>, CloseCode, String) {
    let mut server = ServerHandshake::new(config(origin), &Token, T0);
    assert!(matches!(server.poll_output(), Some(Output::Transmit(_))));
    server.handle_input(input, T0);
    let mut response = None;
    loop {
        match server.poll_output() {
            Some(Output::Transmit(f)) => response = Some(f),
            Some(Output::Rejected(code, reason)) => return (response, code, reason),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn first_request_must_be_connect() {
    let text = json!({"type": "req", "id": "s1", "method": "status"}).to_string();
    let (res, code, _) = refusal(Input::Text(&text), Ok(()));
    let Some(Frame::Res(res)) = res else {
        panic!("{res:?}")
    };
    assert_eq!(res.id, "s1");
    assert_eq!(
        res.error.unwrap().message,
        "invalid handshake: first request must be connect"
    );
    assert_eq!(code, CloseCode::PolicyViolation);
}

#[test]
fn unparseable_binary_and_oversized_first_frames_close_without_a_response() {
    let (res, code, reason) = refusal(Input::Text("{not json"), Ok(()));
    assert!(res.is_none());
    assert_eq!(
        (code, reason.as_str()),
        (
            CloseCode::PolicyViolation,
            close_reasons::INVALID_REQUEST_FRAME
        )
    );
    let (res, _, reason) = refusal(Input::NotText, Ok(()));
    assert!(res.is_none());
    assert_eq!(reason, close_reasons::INVALID_REQUEST_FRAME);
    let big = "x".repeat(sandgate_core::MAX_PREAUTH_FRAME_BYTES + 1);
    let (res, code, reason) = refusal(Input::Text(&big), Ok(()));
    assert!(res.is_none());
    assert_eq!(
        (code, reason.as_str()),
        (
            CloseCode::MessageTooBig,
            close_reasons::PREAUTH_PAYLOAD_TOO_LARGE
        )
    );
    let (_, code, _) = refusal(Input::ReadError, Ok(()));
    assert_eq!(code, CloseCode::MessageTooBig);
}

fn connect_text(params: serde_json::Value) -> String {
    json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string()
}

fn params_value() -> serde_json::Value {
    let p = sandgate_gateway::client::connect_params(&options(Some(TOKEN), &[Scope::Read]), None);
    serde_json::to_value(p).unwrap()
}

#[test]
fn protocol_mismatch_carries_its_detail_code() {
    let mut p = params_value();
    p["minProtocol"] = json!(9);
    p["maxProtocol"] = json!(9);
    let (res, code, reason) = refusal(Input::Text(&connect_text(p)), Ok(()));
    let Some(Frame::Res(res)) = res else {
        panic!("{res:?}")
    };
    assert_eq!(
        res.error.unwrap().detail_code(),
        Some(DetailCode::ProtocolMismatch)
    );
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::ProtocolError, close_reasons::PROTOCOL_MISMATCH)
    );
}

#[test]
fn a_browser_origin_is_refused_after_the_protocol_checks() {
    let (res, _, _) = refusal(
        Input::Text(&connect_text(params_value())),
        Err("origin not allowed"),
    );
    let Some(Frame::Res(res)) = res else {
        panic!("{res:?}")
    };
    assert_eq!(
        res.error.unwrap().detail_code(),
        Some(DetailCode::ControlUiOriginNotAllowed)
    );
}

#[test]
fn silence_until_the_deadline_is_a_handshake_timeout() {
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    assert!(matches!(server.poll_output(), Some(Output::Transmit(_))));
    assert_eq!(server.deadline_ms(), Some(T0 + TIMEOUT_MS));
    server.handle_timeout(T0 + TIMEOUT_MS - 1);
    assert!(server.poll_output().is_none(), "not yet");
    server.handle_timeout(T0 + TIMEOUT_MS);
    assert!(matches!(server.poll_output(), Some(Output::Rejected(..))));
    assert!(server.is_done());
    assert_eq!(server.deadline_ms(), None);
}

#[test]
fn a_peer_that_leaves_gets_nothing() {
    let mut server = ServerHandshake::new(config(Ok(())), &Token, T0);
    let _ = server.poll_output();
    server.handle_input(Input::Closed, T0);
    assert!(matches!(server.poll_output(), Some(Output::PeerGone)));
    assert!(server.poll_output().is_none());
    // Later input is ignored.
    server.handle_input(Input::Text("{}"), T0);
    assert!(server.poll_output().is_none());
}

#[test]
fn a_client_without_a_challenge_fails_cleanly() {
    let params = sandgate_gateway::client::connect_params(&options(Some(TOKEN), &[]), None);
    let mut client = ClientHandshake::new(params, None, "c1".into());
    let ev = Frame::Event(sandgate_core::EventFrame::new(
        "tick",
        Some(json!({"ts": 1})),
    ));
    assert!(matches!(
        client.handle_frame(ev, T0),
        Err(ClientError::Protocol(_))
    ));
}

//! `connect` params parsing, validation, redaction; the challenge event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sandgate_core::connect::*;
use sandgate_core::role::{InvalidRole, Role};
use sandgate_core::scope::Scope;
use serde_json::{Value, json};
fn base() -> Value {
    json!({"minProtocol":4,"maxProtocol":4,
        "client":{"id":"cli","version":"2026.9.6","platform":"linux","mode":"cli"},
        "role":"operator","scopes":["operator.write","operator.read"],
        "auth":{"token":"secret-token","deviceToken":"dev-secret"}})
}

#[test]
fn parses_and_keeps_scope_order() {
    let p = ConnectParams::parse(base()).unwrap();
    assert_eq!(p.scopes_in_order(), &[Scope::Write, Scope::Read]);
    assert_eq!(p.role(), Ok(Role::Operator));
    assert_eq!(p.signature_token(), "secret-token");
    assert_eq!(p.client.id.as_wire(), "cli");
    assert_eq!(ClientId::ControlUi.as_wire(), "openclaw-control-ui");
}

#[test]
fn role_defaults_and_invalid_role_is_late() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("role");
    assert_eq!(ConnectParams::parse(v).unwrap().role(), Ok(Role::Operator));
    let mut v = base();
    v["role"] = json!("admin");
    let p = ConnectParams::parse(v).unwrap();
    assert_eq!(p.role(), Err(InvalidRole("admin".into())));
    assert_eq!(p.role_str(), "admin");
}

#[test]
fn debug_redacts_secrets() {
    let p = ConnectParams::parse(base()).unwrap();
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("secret-token"), "{dbg}");
    assert!(!dbg.contains("dev-secret"), "{dbg}");
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn validation_errors_read_like_the_reference() {
    let mut v = base();
    v["client"]["version"] = json!("");
    let e = ConnectParams::parse(v).unwrap_err();
    assert_eq!(e, ConnectParamsError::Empty("/client/version"));
    assert!(e.to_string().starts_with("invalid connect params: "));
    let mut v = base();
    v["scopes"] = json!(vec!["operator.read"; 65]);
    assert!(matches!(
        ConnectParams::parse(v),
        Err(ConnectParamsError::TooLong {
            path: "/scopes",
            ..
        })
    ));
    let mut v = base();
    v["device"] =
        json!({"id":"x".repeat(257),"publicKey":"k","signature":"s","signedAt":1,"nonce":""});
    assert!(matches!(
        ConnectParams::parse(v),
        Err(ConnectParamsError::TooLong {
            path: "/device/id",
            ..
        })
    ));
    let mut v = base();
    v["minProtocol"] = json!(0);
    assert_eq!(
        ConnectParams::parse(v),
        Err(ConnectParamsError::ProtocolBound("/minProtocol"))
    );
    let mut v = base();
    v["auth"]["approvalRuntimeToken"] = json!("y".repeat(2000));
    assert!(ConnectParams::parse(v).is_err());
}

#[test]
fn challenge_event_has_no_seq() {
    let ev = ConnectChallenge::new("n", 5).to_event();
    assert_eq!(ev.seq, None);
    assert_eq!(ev.payload, Some(json!({"nonce":"n","ts":5})));
}

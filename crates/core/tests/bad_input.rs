//! Hostile and malformed input: every failure is a typed error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use sandgate_core::identity::{
    KeyDecodeError, decode_signature, normalize_public_key, parse_public_key, public_key_bytes,
};
use sandgate_core::{
    ConnectChallenge, ConnectParams, ConnectParamsError, Frame, FrameError, HelloOk,
    MAX_FRAME_BYTES,
};
use serde_json::{Value, json};

#[test]
fn malformed_json_is_typed() {
    for text in [
        "",
        " ",
        "{",
        "}",
        "nul",
        "{\"type\":",
        "\u{0}",
        "{\"type\":\"req\",}",
        "[1,2",
    ] {
        assert!(
            matches!(Frame::parse(text), Err(FrameError::Malformed(_))),
            "{text:?}"
        );
    }
}

#[test]
fn wrong_shapes_are_typed() {
    for text in [
        "null",
        "1",
        "\"req\"",
        "[]",
        "{}",
        r#"{"type":"REQ","id":"1","method":"m"}"#,
        r#"{"type":"req","id":1,"method":"m"}"#,
        r#"{"type":"req","id":"1"}"#,
        r#"{"type":"res","id":"1","ok":"yes"}"#,
        r#"{"type":"res","id":"1","ok":false,"error":{"code":1,"message":"m"}}"#,
        r#"{"type":"res","id":"1","ok":false,"error":{"message":"m"}}"#,
        r#"{"type":"res","id":"1","ok":false,"error":{"code":"X","message":"m","retryAfterMs":-5}}"#,
        r#"{"type":"event","event":"e","stateVersion":{"presence":1}}"#,
        r#"{"type":"event","event":"e","stateVersion":{"presence":1,"health":2,"x":3}}"#,
        r#"{"type":"event","event":"e","seq":18446744073709551616}"#,
    ] {
        assert!(
            matches!(Frame::parse(text), Err(FrameError::Invalid(_))),
            "{text}"
        );
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        r#"{{"type":"req","id":"1","method":"m","params":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(Frame::parse(&deep).is_err());
}

#[test]
fn oversize_frames_are_rejected_before_parsing() {
    let huge = "x".repeat(MAX_FRAME_BYTES + 1);
    assert_eq!(
        Frame::parse(&huge),
        Err(FrameError::TooLarge {
            len: MAX_FRAME_BYTES + 1,
            limit: MAX_FRAME_BYTES
        })
    );
    let preauth = format!(
        r#"{{"type":"req","id":"1","method":"connect","params":{{"x":"{}"}}}}"#,
        "y".repeat(65_536)
    );
    assert!(matches!(
        Frame::parse_preauth(&preauth),
        Err(FrameError::TooLarge { .. })
    ));
}

fn params() -> Value {
    json!({"minProtocol":4,"maxProtocol":4,
        "client":{"id":"cli","version":"1","platform":"linux","mode":"cli"}})
}

#[test]
fn connect_params_bad_inputs() {
    let cases: Vec<(&str, Value)> = vec![
        ("not an object", json!("x")),
        ("wrong enum mode", {
            let mut p = params();
            p["client"]["mode"] = json!("CLI");
            p
        }),
        ("wrong enum id", {
            let mut p = params();
            p["client"]["id"] = json!("openclaw-windows");
            p
        }),
        ("protocol as string", {
            let mut p = params();
            p["minProtocol"] = json!("4");
            p
        }),
        ("protocol float", {
            let mut p = params();
            p["maxProtocol"] = json!(4.5);
            p
        }),
        ("permissions non-bool", {
            let mut p = params();
            p["permissions"] = json!({"camera": "yes"});
            p
        }),
    ];
    for (name, v) in cases {
        assert!(
            matches!(ConnectParams::parse(v), Err(ConnectParamsError::Schema(_))),
            "{name}"
        );
    }
    let mut p = params();
    p["client"]["displayName"] = json!("d".repeat(1025));
    assert!(matches!(
        ConnectParams::parse(p),
        Err(ConnectParamsError::TooLong {
            path: "/client/displayName",
            ..
        })
    ));
    let mut p = params();
    p["caps"] = json!(vec!["c"; 257]);
    assert!(matches!(
        ConnectParams::parse(p),
        Err(ConnectParamsError::TooLong { path: "/caps", .. })
    ));
    let mut p = params();
    p["role"] = json!("");
    assert_eq!(
        ConnectParams::parse(p),
        Err(ConnectParamsError::Empty("/role"))
    );
    let mut p = params();
    p["device"] = json!({"id":"","publicKey":"k","signature":"s","signedAt":1,"nonce":"n"});
    assert_eq!(
        ConnectParams::parse(p),
        Err(ConnectParamsError::Empty("/device/id"))
    );
}

#[test]
fn challenge_and_hello_reject_bad_shapes() {
    assert!(serde_json::from_value::<ConnectChallenge>(json!({"nonce":"n"})).is_err());
    assert!(serde_json::from_value::<ConnectChallenge>(json!({"nonce":"n","ts":-1})).is_err());
    assert!(serde_json::from_value::<ConnectChallenge>(json!({"nonce":"n","ts":1,"x":1})).is_err());
    assert!(serde_json::from_value::<HelloOk>(json!({"type":"hello-ok"})).is_err());
    assert!(serde_json::from_value::<HelloOk>(json!(null)).is_err());
}

#[test]
fn key_and_signature_decoding_errors() {
    assert_eq!(
        public_key_bytes("not base64 !!"),
        Err(KeyDecodeError::BadBase64)
    );
    assert_eq!(
        public_key_bytes(""),
        Err(KeyDecodeError::WrongLength {
            actual: 0,
            expected: 32
        })
    );
    assert_eq!(
        public_key_bytes("AAAA"),
        Err(KeyDecodeError::WrongLength {
            actual: 3,
            expected: 32
        })
    );
    let k33 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [0u8; 33]);
    assert_eq!(
        public_key_bytes(&k33),
        Err(KeyDecodeError::WrongLength {
            actual: 33,
            expected: 32
        })
    );
    assert_eq!(
        public_key_bytes("-----BEGIN PUBLIC KEY-----garbage"),
        Err(KeyDecodeError::BadPem)
    );
    // 32 bytes that do not decompress to a curve point.
    // y = 2: (y²-1)/(dy²+1) is not a square mod p (checked with Python).
    let mut bad = [0u8; 32];
    bad[0] = 2;
    let s = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bad);
    assert!(public_key_bytes(&s).is_ok());
    assert_eq!(parse_public_key(&s), Err(KeyDecodeError::InvalidPoint));
    assert!(normalize_public_key("%%").is_err());
    assert_eq!(decode_signature("@@"), Err(KeyDecodeError::BadBase64));
    assert!(matches!(
        decode_signature(&"A".repeat(90)),
        Err(KeyDecodeError::WrongLength { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frame_parse_never_panics(s in ".{0,512}") {
        let _ = Frame::parse(&s);
        let _ = Frame::parse_preauth(&s);
    }

    #[test]
    fn frame_parse_never_panics_on_json_like_text(
        s in r#"\{("(type|id|method|params|ok|event|seq|error|code|message)":("req"|"res"|"event"|-?[0-9]{1,22}|true|null|\{\}|\[\]|""),?){0,8}\}"#
    ) {
        let _ = Frame::parse(&s);
    }

    #[test]
    fn key_decoding_never_panics(s in ".{0,200}") {
        let _ = parse_public_key(&s);
        let _ = decode_signature(&s);
    }
}

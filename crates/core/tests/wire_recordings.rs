//! Every frame recorded between the real OpenClaw CLI and gateway (2026.5.28 and 2026.9.6)
//! parses into the core types and re-serialises to the same JSON value; frames the real
//! gateway rejects are rejected here too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use sandgate_core::error::{HandshakeRejection, PairingRequired};
use sandgate_core::{
    CloseCode, ConnectChallenge, ConnectParams, DetailCode, ErrorShape, Frame, HelloOk,
    PairingReason, ResponseFrame, Role, Scope, close_reason, verify_device_proof,
};
use serde_json::{Value, json};

const WIRE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/openclaw-wire"
);

struct Line {
    file: String,
    dir: String,
    frame: Value,
}

fn recordings() -> Vec<Line> {
    let dir = Path::new(WIRE_DIR);
    assert!(
        dir.is_dir(),
        "recordings directory missing: {WIRE_DIR} (CI must clone shared/ beside the repo)"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the recorded .jsonl files, found {}",
        files.len()
    );
    let mut out = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (i, text) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            let v: Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            out.push(Line {
                file: format!("{name}:{}", i + 1),
                dir: v["dir"].as_str().unwrap().to_owned(),
                frame: v["frame"].clone(),
            });
        }
    }
    out
}

fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(
    what: &str,
    at: &str,
    v: &Value,
) -> T {
    let parsed: T = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{at}: {what} does not parse: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert_eq!(&back, v, "{at}: {what} lost or changed a field");
    parsed
}

#[test]
fn every_recorded_frame_round_trips_through_core_types() {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for line in recordings() {
        let at = &line.file;
        if line.dir == "close" {
            let code = line.frame["code"].as_u64().unwrap();
            let typed = CloseCode::from_u16(u16::try_from(code).unwrap());
            assert!(typed.is_some(), "{at}: close code {code} has no CloseCode");
            let reason = line.frame["reason"].as_str().unwrap();
            assert_eq!(
                close_reason(reason),
                reason,
                "{at}: recorded close reason exceeds 120 bytes"
            );
            *counts.entry("close").or_default() += 1;
            continue;
        }
        let text = serde_json::to_string(&line.frame).unwrap();
        let frame = Frame::parse(&text).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            line.frame,
            "{at}: frame lost a field"
        );
        match &frame {
            Frame::Req(r) if r.method == "connect" => {
                let params = r.params.clone().unwrap();
                let p: ConnectParams = round_trips("connect params", at, &params);
                p.validate().unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(p.role(), Ok(Role::Operator));
                // Recorded signatures are redacted; the fingerprint must still match.
                if let Some(d) = &p.device {
                    let raw = sandgate_core::identity::public_key_bytes(&d.public_key).unwrap();
                    assert_eq!(sandgate_core::identity::device_id_for(&raw), d.id, "{at}");
                    let err = verify_device_proof(&p, &d.nonce, d.signed_at).unwrap_err();
                    assert_eq!(
                        err.detail_code(),
                        DetailCode::DeviceAuthSignatureInvalid,
                        "{at}"
                    );
                }
                *counts.entry("connect").or_default() += 1;
            }
            Frame::Res(r) => {
                if let Some(Value::Object(p)) = &r.payload
                    && p.get("type") == Some(&json!("hello-ok"))
                {
                    let hello: HelloOk = round_trips("hello-ok", at, r.payload.as_ref().unwrap());
                    assert_eq!(hello.policy.tick_interval_ms, 30_000);
                    *counts.entry("hello-ok").or_default() += 1;
                }
                if let Some(e) = &r.error {
                    let e2: ErrorShape =
                        round_trips("error", at, &serde_json::to_value(e).unwrap());
                    assert!(!e2.code.is_other(), "{at}: untyped error code {}", e2.code);
                    let dc = e2.detail_code().unwrap();
                    assert!(!dc.is_other(), "{at}: untyped detail code {dc}");
                    *counts.entry("error").or_default() += 1;
                }
            }
            Frame::Event(e) if e.event == ConnectChallenge::EVENT => {
                assert_eq!(e.seq, None, "{at}: challenge must not carry seq");
                round_trips::<ConnectChallenge>("challenge", at, e.payload.as_ref().unwrap());
                *counts.entry("challenge").or_default() += 1;
            }
            _ => *counts.entry("other").or_default() += 1,
        }
    }
    // Sanity: the corpus really exercised every kind.
    for (kind, min) in [
        ("connect", 20),
        ("hello-ok", 20),
        ("challenge", 20),
        ("error", 3),
        ("close", 20),
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= min,
            "too few {kind}: {counts:?}"
        );
    }
}

#[test]
fn our_pairing_error_matches_the_recorded_ones() {
    for line in recordings() {
        let Some(err) = line.frame.get("error") else {
            continue;
        };
        let d = &err["details"];
        let strs = |v: &Value| -> Vec<Scope> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| Scope::parse(s.as_str().unwrap()))
                .collect()
        };
        let reason: PairingReason = serde_json::from_value(d["reason"].clone()).unwrap();
        let p = PairingRequired {
            reason,
            request_id: d["requestId"].as_str().map(str::to_owned),
            device_id: d["deviceId"].as_str().unwrap().to_owned(),
            requested_role: Role::Operator,
            requested_scopes: strs(&d["requestedScopes"]),
            approved_roles: d.get("approvedRoles").map(|_| vec![Role::Operator]),
            approved_scopes: d.get("approvedScopes").map(strs),
            remedy: "sandgate alpha devices approve X".into(),
        };
        let mut ours = serde_json::to_value(p.to_error()).unwrap();
        assert_eq!(
            ours["details"]["remedy"],
            json!("sandgate alpha devices approve X")
        );
        ours["details"].as_object_mut().unwrap().remove("remedy");
        assert_eq!(&ours, err, "{}", line.file);
        // The recorded server close follows with the same (truncated) reason.
        let r = HandshakeRejection::pairing_required(&p);
        let id = line.frame["id"].as_str().unwrap();
        let res = serde_json::to_value(r.response(id).unwrap()).unwrap();
        assert_eq!(res["error"]["message"], err["message"]);
        let close = recordings()
            .into_iter()
            .find(|l| {
                l.dir == "close"
                    && l.file.split(':').next() == line.file.split(':').next()
                    && l.frame["initiator"] == "server"
            })
            .unwrap();
        assert_eq!(r.close_code.as_u16(), 1008);
        assert_eq!(
            json!(r.close_reason),
            close.frame["reason"],
            "{}",
            line.file
        );
    }
}

fn connect_frame() -> Value {
    json!({"type":"req","id":"1:abc","method":"connect","params":{
        "minProtocol":4,"maxProtocol":4,
        "client":{"id":"cli","version":"2026.9.6","platform":"linux","deviceFamily":"Linux","mode":"cli","instanceId":"i"},
        "caps":[],"auth":{"token":"t"},"role":"operator","scopes":["operator.read"]}})
}

fn parse_connect(frame: &Value) -> Result<ConnectParams, String> {
    let f = Frame::parse(&frame.to_string()).map_err(|e| e.to_string())?;
    let Frame::Req(r) = f else {
        return Err("not a request".into());
    };
    ConnectParams::parse(r.params.unwrap_or(Value::Null)).map_err(|e| e.to_string())
}

#[test]
fn frames_the_real_gateway_rejects_are_rejected() {
    assert!(parse_connect(&connect_frame()).is_ok());

    let mut f = connect_frame();
    f["extra"] = json!(1);
    assert!(Frame::parse(&f.to_string()).is_err(), "extra top-level key");

    let mut f = connect_frame();
    f["id"] = json!("");
    assert!(Frame::parse(&f.to_string()).is_err(), "empty id");

    type Case = (&'static str, fn(&mut Value));
    let cases: Vec<Case> = vec![
        ("mode operator", |f| {
            f["params"]["client"]["mode"] = json!("operator")
        }),
        ("id ios-node", |f| {
            f["params"]["client"]["id"] = json!("ios-node")
        }),
        ("missing version", |f| {
            f["params"]["client"]
                .as_object_mut()
                .unwrap()
                .remove("version");
        }),
        ("empty platform", |f| {
            f["params"]["client"]["platform"] = json!("")
        }),
        ("extra params key", |f| f["params"]["bogus"] = json!(true)),
        ("extra client key", |f| {
            f["params"]["client"]["bogus"] = json!(true)
        }),
        ("extra auth key", |f| {
            f["params"]["auth"]["apiKey"] = json!("x")
        }),
        (
            "device missing nonce",
            |f| {
                f["params"]["device"] =
                    json!({"id":"a","publicKey":"b","signature":"c","signedAt":1})
            },
        ),
        (
            "negative signedAt",
            |f| {
                f["params"]["device"] =
                    json!({"id":"a","publicKey":"b","signature":"c","signedAt":-1,"nonce":"n"})
            },
        ),
        ("scopes not strings", |f| f["params"]["scopes"] = json!([1])),
        ("missing minProtocol", |f| {
            f["params"].as_object_mut().unwrap().remove("minProtocol");
        }),
    ];
    for (name, mutate) in cases {
        let mut f = connect_frame();
        mutate(&mut f);
        let err = parse_connect(&f).expect_err(name);
        assert!(err.starts_with("invalid connect params: "), "{name}: {err}");
    }

    // An invalid role parses (it is rejected later with `invalid role`).
    let mut f = connect_frame();
    f["params"]["role"] = json!("admin");
    let p = parse_connect(&f).unwrap();
    assert!(p.role().is_err());
    assert_eq!(
        HandshakeRejection::invalid_role()
            .response("1")
            .unwrap()
            .error
            .unwrap()
            .message,
        "invalid role"
    );
    let _ = ResponseFrame::ok("x", json!({}));
}

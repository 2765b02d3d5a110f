#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The connect handshake over real sockets, one test per failure path (reference §2.3, §2.5,
//! §1.7): each asserts the exact error response and close, then proves the gateway keeps
//! serving other clients. Plus the partial grant (sandgate's scope policy) end to end.

mod support;

use std::time::Duration;

use sandgate_core::identity::DeviceIdentity;
use serde_json::{Value, json};
use support::*;

/// Asserts an error response: `code`, `message`, and (when given) `details.code`.
fn assert_error(res: &Value, code: &str, message: &str, detail: Option<&str>) {
    assert_eq!(res["type"], "res", "{res}");
    assert_eq!(res["ok"], false, "{res}");
    assert!(res.get("payload").is_none(), "{res}");
    assert_eq!(res["error"]["code"], code, "{res}");
    assert_eq!(res["error"]["message"], message, "{res}");
    match detail {
        Some(d) => assert_eq!(res["error"]["details"]["code"], d, "{res}"),
        None => assert!(
            res["error"]
                .get("details")
                .is_none_or(|d| d.get("code").is_none()),
            "{res}"
        ),
    }
}

async fn setup() -> (
    tempfile::TempDir,
    sandgate_gateway::Gateway,
    sandgate_gateway::SandboxInfo,
) {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path()).await;
    let info = mock_sandbox(&gw, "alpha").await;
    (dir, gw, info)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_request_not_connect_is_refused() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, _nonce) = open(&info.url).await;
    send(&mut ws, &req("s1", "status", json!({}))).await;
    let In::Frame(res) = next(&mut ws).await else {
        panic!("expected a response")
    };
    assert_eq!(res["id"], "s1");
    assert_error(
        &res,
        "INVALID_REQUEST",
        "invalid handshake: first request must be connect",
        None,
    );
    assert_eq!(
        expect_close(&mut ws).await,
        (
            1008,
            "invalid handshake: first request must be connect".into()
        )
    );
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_request_first_frames_close_without_response() {
    let (_dir, gw, info) = setup().await;
    for bad in [
        "this is not json",
        r#"{"type":"event","event":"tick","payload":{}}"#,
        r#"{"type":"req","id":"","method":"connect"}"#,
    ] {
        let (mut ws, _nonce) = open(&info.url).await;
        send_text(&mut ws, bad.to_owned()).await;
        assert_eq!(
            expect_close(&mut ws).await,
            (1008, "invalid request frame".into()),
            "first frame {bad}"
        );
    }
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_connect_is_closed_1000_without_response() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sandgate_gateway::GatewayOptions::new(dir.path());
    opts.handshake_timeout = Duration::from_millis(300);
    let gw = sandgate_gateway::Gateway::open(opts).await.unwrap();
    let info = mock_sandbox(&gw, "alpha").await;
    let (mut ws, _nonce) = open(&info.url).await;
    // Send nothing: the next thing on the socket is the server's close.
    assert_eq!(expect_close(&mut ws).await, (1000, String::new()));
    gw.shutdown().await;
}

async fn refused_device_proof(
    info: &sandgate_gateway::SandboxInfo,
    build: impl FnOnce(&str) -> Value,
    message: &str,
    detail: &str,
    reason: &str,
) {
    let (mut ws, res) = connect_with(&info.url, build).await;
    assert_error(&res, "INVALID_REQUEST", message, Some(detail));
    assert_eq!(res["error"]["details"]["reason"], reason, "{res}");
    assert_eq!(expect_close(&mut ws).await, (1008, message.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_refused() {
    let (_dir, gw, info) = setup().await;
    let id = DeviceIdentity::generate();
    let token = info.token.clone();
    refused_device_proof(
        &info,
        |nonce| {
            let mut p = connect_params(token_auth(&token), &["operator.read"]);
            sign(&mut p, &id, nonce, now_ms());
            // The signature covered `operator.read`; the frame now asks for more.
            p["scopes"] = json!(["operator.read", "operator.write"]);
            p
        },
        "device signature invalid",
        "DEVICE_AUTH_SIGNATURE_INVALID",
        "device-signature",
    )
    .await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_signed_at_is_refused() {
    let (_dir, gw, info) = setup().await;
    let id = DeviceIdentity::generate();
    let token = info.token.clone();
    refused_device_proof(
        &info,
        |nonce| {
            let mut p = connect_params(token_auth(&token), &["operator.read"]);
            sign(&mut p, &id, nonce, now_ms() - 121_000);
            p
        },
        "device signature expired",
        "DEVICE_AUTH_SIGNATURE_EXPIRED",
        "device-signature-stale",
    )
    .await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_of_a_previous_connection_is_refused() {
    let (_dir, gw, info) = setup().await;
    let id = DeviceIdentity::generate();
    // A first connection gets its challenge; that nonce is then replayed on a second one.
    let (first, old_nonce) = open(&info.url).await;
    let token = info.token.clone();
    refused_device_proof(
        &info,
        |_fresh| {
            let mut p = connect_params(token_auth(&token), &["operator.read"]);
            sign(&mut p, &id, &old_nonce, now_ms());
            p
        },
        "device nonce mismatch",
        "DEVICE_AUTH_NONCE_MISMATCH",
        "device-nonce-mismatch",
    )
    .await;
    bye(first).await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_id_not_matching_the_key_is_refused() {
    let (_dir, gw, info) = setup().await;
    let id = DeviceIdentity::generate();
    let other = DeviceIdentity::generate();
    let token = info.token.clone();
    refused_device_proof(
        &info,
        |nonce| {
            let mut p = connect_params(token_auth(&token), &["operator.read"]);
            sign_as(
                &mut p,
                &id,
                &other.device_id(),
                &id.public_key_b64url(),
                nonce,
                now_ms(),
            );
            p
        },
        "device identity mismatch",
        "DEVICE_AUTH_DEVICE_ID_MISMATCH",
        "device-id-mismatch",
    )
    .await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

const TOKEN_MISMATCH: &str =
    "unauthorized: gateway token mismatch (set gateway.remote.token to match gateway.auth.token)";

async fn refused_token(url: &str, token: &str) {
    let (mut ws, res) = connect_with(url, |_| {
        connect_params(token_auth(token), &["operator.read"])
    })
    .await;
    assert_error(
        &res,
        "INVALID_REQUEST",
        TOKEN_MISMATCH,
        Some("AUTH_TOKEN_MISMATCH"),
    );
    assert_eq!(
        res["error"]["details"]["authReason"], "token_mismatch",
        "{res}"
    );
    assert_eq!(
        res["error"]["details"]["canRetryWithDeviceToken"], false,
        "{res}"
    );
    assert_eq!(
        expect_close(&mut ws).await,
        (1008, TOKEN_MISMATCH.to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sandbox_token_is_refused() {
    let (_dir, gw, info) = setup().await;
    refused_token(&info.url, "not-the-sandbox-token").await;
    // With a device, a wrong `auth.token` is the same refusal, and the device may retry with
    // its stored device token.
    let id = DeviceIdentity::generate();
    let (mut ws, res) = connect_device(
        &info.url,
        &id,
        token_auth("not-the-sandbox-token"),
        &["operator.read"],
    )
    .await;
    assert_error(
        &res,
        "INVALID_REQUEST",
        TOKEN_MISMATCH,
        Some("AUTH_TOKEN_MISMATCH"),
    );
    assert_eq!(
        res["error"]["details"]["canRetryWithDeviceToken"], true,
        "{res}"
    );
    assert_eq!(
        res["error"]["details"]["recommendedNextStep"], "retry_with_device_token",
        "{res}"
    );
    assert_eq!(
        expect_close(&mut ws).await,
        (1008, TOKEN_MISMATCH.to_owned())
    );
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_another_sandbox_is_refused() {
    let (_dir, gw, alpha) = setup().await;
    let beta = mock_sandbox(&gw, "beta").await;
    assert_ne!(alpha.port, beta.port);
    refused_token(&beta.url, &alpha.token).await;
    refused_token(&alpha.url, &beta.token).await;
    assert_serving(&alpha).await;
    assert_serving(&beta).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_token_is_refused_and_live_session_closed() {
    let (_dir, gw, info) = setup().await;
    let id = DeviceIdentity::generate();
    let (mut live, hello) =
        connect_device(&info.url, &id, token_auth(&info.token), &["operator.read"]).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let device_token = hello["payload"]["auth"]["deviceToken"]
        .as_str()
        .expect("device token issued")
        .to_owned();

    // The token works on its own before the revocation (9.6 reconnect shape).
    let (ok_ws, ok) = connect_device(
        &info.url,
        &id,
        json!({"deviceToken": device_token}),
        &["operator.read"],
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok}");
    bye(ok_ws).await;

    let revoked = gw.devices_revoke("alpha", &id.device_id()).await.unwrap();
    assert_eq!(revoked.closed_sessions, 1, "{revoked:?}");
    assert_eq!(
        close_after_events(&mut live).await,
        (4001, "device removed".into())
    );

    let (mut ws, res) = connect_device(
        &info.url,
        &id,
        json!({"deviceToken": device_token}),
        &["operator.read"],
    )
    .await;
    let msg = "unauthorized: device token mismatch (rotate/reissue device token)";
    assert_error(
        &res,
        "INVALID_REQUEST",
        msg,
        Some("AUTH_DEVICE_TOKEN_MISMATCH"),
    );
    assert_eq!(expect_close(&mut ws).await, (1008, msg.to_owned()));
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_preauth_frame_closes_1009_without_response() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, _nonce) = open(&info.url).await;
    let mut params = connect_params(token_auth(&info.token), &["operator.read"]);
    params["client"]["displayName"] = json!("x".repeat(70_000));
    let text = req("big", "connect", params).to_string();
    assert!(text.len() > 65_536);
    send_text(&mut ws, text).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1009, "preauth payload too large".into())
    );
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_mismatch_closes_1002() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, res) = connect_with(&info.url, |_| {
        let mut p = connect_params(token_auth(&info.token), &["operator.read"]);
        p["minProtocol"] = json!(5);
        p["maxProtocol"] = json!(5);
        p
    })
    .await;
    assert_error(
        &res,
        "INVALID_REQUEST",
        "protocol mismatch",
        Some("PROTOCOL_MISMATCH"),
    );
    assert!(
        res["error"]["details"]["expectedProtocol"]
            .as_u64()
            .is_some(),
        "{res}"
    );
    assert_eq!(
        expect_close(&mut ws).await,
        (1002, "protocol mismatch".into())
    );
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_role_is_refused() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, res) = connect_with(&info.url, |_| {
        let mut p = connect_params(token_auth(&info.token), &["operator.read"]);
        p["role"] = json!("superuser");
        p
    })
    .await;
    assert_error(&res, "INVALID_REQUEST", "invalid role", None);
    assert_eq!(expect_close(&mut ws).await, (1008, "invalid role".into()));
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_needs_admin_before_lookup() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, _) =
        connect_deviceless(&info.url, &info.token, &["operator.read", "operator.write"]).await;
    let res = call(&mut ws, "u1", "no.such.method", json!({})).await;
    assert_error(
        &res,
        "FORBIDDEN",
        "missing scope: operator.admin",
        Some("MISSING_SCOPE"),
    );
    assert_eq!(
        res["error"]["details"]["missingScope"], "operator.admin",
        "{res}"
    );
    assert_eq!(
        res["error"]["details"]["requiredScopes"],
        json!(["operator.admin"]),
        "{res}"
    );
    // The session survives a refused call.
    let health = call(&mut ws, "h1", "health", Value::Null).await;
    assert_eq!(health["ok"], true, "{health}");
    bye(ws).await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_session_cannot_run_agent() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, hello) = connect_deviceless(&info.url, &info.token, &["operator.read"]).await;
    assert_eq!(granted(&hello), vec!["operator.read"]);
    let res = call(
        &mut ws,
        "a1",
        "agent",
        json!({"message": "hi", "agentId": "main", "sessionId": "debug", "idempotencyKey": "k1"}),
    )
    .await;
    assert_error(
        &res,
        "FORBIDDEN",
        "missing scope: operator.write",
        Some("MISSING_SCOPE"),
    );
    assert_eq!(
        res["error"]["details"]["missingScope"], "operator.write",
        "{res}"
    );
    assert_eq!(
        res["error"]["details"]["requiredScopes"],
        json!(["operator.write"]),
        "{res}"
    );
    bye(ws).await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connect_is_refused_and_session_continues() {
    let (_dir, gw, info) = setup().await;
    let (mut ws, _) = connect_deviceless(&info.url, &info.token, &["operator.read"]).await;
    let again = call(
        &mut ws,
        "c2",
        "connect",
        connect_params(token_auth(&info.token), &["operator.read"]),
    )
    .await;
    assert_error(
        &again,
        "INVALID_REQUEST",
        "connect is only valid as the first request",
        None,
    );
    let health = call(&mut ws, "h1", "health", json!({})).await;
    assert_eq!(health["ok"], true, "{health}");
    bye(ws).await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_grant_then_host_approval_then_full_grant() {
    let (_dir, gw, info) = setup().await;
    let id = DeviceIdentity::generate();
    let (mut ws, hello) =
        connect_device(&info.url, &id, token_auth(&info.token), &["operator.admin"]).await;
    assert_eq!(hello["ok"], true, "{hello}");
    // Granted what the ceiling (read/write/approvals) allows of the request; admin is pending.
    let scopes = granted(&hello);
    assert!(
        scopes.contains(&"operator.read".to_owned())
            && scopes.contains(&"operator.write".to_owned()),
        "{scopes:?}"
    );
    assert!(!scopes.contains(&"operator.admin".to_owned()), "{scopes:?}");
    assert!(
        hello["payload"]["auth"]["deviceToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{hello}"
    );

    let requested = event(&mut ws, "device.pair.requested").await;
    let request_id = requested["payload"]["requestId"]
        .as_str()
        .expect("requestId")
        .to_owned();
    assert!(
        sandgate_core::error::is_valid_request_id(&request_id),
        "{request_id}"
    );
    let remedy = requested["payload"]["remedy"].as_str().expect("remedy");
    assert!(
        remedy.contains(&format!("sandgate alpha devices approve {request_id}")),
        "{remedy}"
    );

    // Meanwhile the session works within its grant.
    let status = call(&mut ws, "s1", "status", json!({})).await;
    assert_eq!(status["ok"], true, "{status}");
    let denied = call(&mut ws, "u1", "update.status", json!({})).await;
    assert_error(
        &denied,
        "FORBIDDEN",
        "missing scope: operator.admin",
        Some("MISSING_SCOPE"),
    );

    let listed = gw.devices_list("alpha").await.unwrap();
    assert!(
        listed.pending.iter().any(|p| p.request_id == request_id),
        "{listed:?}"
    );
    let approved = gw.devices_approve("alpha", &request_id).await.unwrap();
    assert_eq!(approved.request_id, request_id);
    let resolved = event(&mut ws, "device.pair.resolved").await;
    assert_eq!(
        resolved["payload"]["requestId"],
        request_id.as_str(),
        "{resolved}"
    );
    assert_eq!(
        resolved["payload"]["deviceId"],
        id.device_id().as_str(),
        "{resolved}"
    );
    assert_eq!(resolved["payload"]["decision"], "approved", "{resolved}");
    bye(ws).await;

    let (mut again, hello) =
        connect_device(&info.url, &id, token_auth(&info.token), &["operator.admin"]).await;
    assert_eq!(hello["ok"], true, "{hello}");
    assert!(
        granted(&hello).contains(&"operator.admin".to_owned()),
        "{hello}"
    );
    let update = call(&mut again, "u2", "update.status", json!({})).await;
    // Authorized now; sandgate does not implement it, which is a typed error, not a hang.
    assert_eq!(update["ok"], false, "{update}");
    assert_eq!(update["error"]["code"], "INVALID_REQUEST", "{update}");
    bye(again).await;
    assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deviceless_admin_request_gets_ceiling_and_runs_agent() {
    let (_dir, gw, info) = setup().await;
    // What OpenClaw 2026.9.6 `agent` sends on loopback with the shared token.
    let (mut ws, hello) = connect_deviceless(&info.url, &info.token, &["operator.admin"]).await;
    let scopes = granted(&hello);
    assert!(scopes.contains(&"operator.write".to_owned()), "{scopes:?}");
    assert!(!scopes.contains(&"operator.admin".to_owned()), "{scopes:?}");
    assert!(
        hello["payload"]["auth"].get("deviceToken").is_none(),
        "{hello}"
    );
    send(
        &mut ws,
        &req("a1", "agent", json!({"message": "Test from alpha", "agentId": "main", "sessionId": "debug",
            "sessionKey": "agent:main:explicit:debug", "deliver": false, "timeout": 600, "idempotencyKey": "run-1"})),
    )
    .await;
    let accepted = response(&mut ws, "a1").await;
    assert_eq!(accepted["ok"], true, "{accepted}");
    assert_eq!(accepted["payload"]["status"], "accepted", "{accepted}");
    assert_eq!(accepted["payload"]["runId"], "run-1", "{accepted}");
    let last = response(&mut ws, "a1").await;
    assert_eq!(last["ok"], true, "{last}");
    assert_eq!(last["payload"]["status"], "ok", "{last}");
    let text = last["payload"]["result"]["payloads"][0]["text"]
        .as_str()
        .unwrap();
    assert!(!text.is_empty(), "{last}");
    bye(ws).await;
    gw.shutdown().await;
}

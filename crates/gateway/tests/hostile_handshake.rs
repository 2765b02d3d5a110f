#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The browser origin check OpenClaw makes (reference §2.3 step 4): a WebSocket upgrade from
//! a non-loopback `Origin` gets `INVALID_REQUEST` with details code
//! `CONTROL_UI_ORIGIN_NOT_ALLOWED` and close 1008; loopback origins and no origin (CLIs) pass.
//! (`PROTOCOL_MISMATCH` is asserted by `handshake.rs::protocol_mismatch_closes_1002`.)

mod support;

use support::{In, WAIT, Ws, connect_params, expect_close, next, req, response, send, token_auth};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Opens a socket with `Origin: origin`, sends a device-less token connect and returns the
/// socket with the connect response.
async fn connect_from(url: &str, origin: &str, token: &str) -> (Ws, serde_json::Value) {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert(http::header::ORIGIN, origin.parse().unwrap());
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .unwrap();
    let In::Frame(challenge) = next(&mut ws).await else {
        panic!("no connect.challenge")
    };
    assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
    let params = connect_params(token_auth(token), &["operator.read"]);
    send(&mut ws, &req("c1", "connect", params)).await;
    let res = response(&mut ws, "c1").await;
    (ws, res)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evil_origin_is_refused_like_openclaw() {
    let dir = tempfile::tempdir().unwrap();
    let gw = support::gateway(dir.path()).await;
    let info = support::mock_sandbox(&gw, "alpha").await;
    for origin in ["http://evil.example", "https://127.0.0.1.evil.example:443"] {
        let (mut ws, res) = connect_from(&info.url, origin, &info.token).await;
        assert_eq!(res["ok"], false, "{origin}: {res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        assert!(
            res["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("origin not allowed"),
            "{res}"
        );
        assert_eq!(
            res["error"]["details"]["code"], "CONTROL_UI_ORIGIN_NOT_ALLOWED",
            "{res}"
        );
        assert_eq!(res["error"]["details"]["reason"], "origin not allowed");
        let (code, _) = expect_close(&mut ws).await;
        assert_eq!(code, 1008);
    }
    support::assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_origins_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let gw = support::gateway(dir.path()).await;
    let info = support::mock_sandbox(&gw, "alpha").await;
    for origin in [
        format!("http://127.0.0.1:{}", info.port),
        "http://localhost:5173".to_owned(),
        "https://[::1]:8443".to_owned(),
    ] {
        let (ws, res) = connect_from(&info.url, &origin, &info.token).await;
        assert_eq!(res["ok"], true, "{origin}: {res}");
        assert_eq!(res["payload"]["type"], "hello-ok", "{res}");
        support::bye(ws).await;
    }
    gw.shutdown().await;
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The CONNECT proxy terminates TLS for inference.local with the gateway CA, and (with no
//! egress policy) refuses every other target with 403 and the remedy, over real sockets.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sandgate_gateway::ca::GatewayCa;
use sandgate_gateway::listener::{self, PortApp};
use sandgate_gateway::proxy::ConnectProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(dir: &std::path::Path) -> (listener::ServeHandle, GatewayCa) {
    let ca = GatewayCa::load_or_create(dir).unwrap();
    let inference = Router::new().route("/v1/ping", get(|| async { "pong from alpha" }));
    let proxy = ConnectProxy::new("alpha", ca.server_config(), inference.clone());
    let app = PortApp {
        router: inference,
        proxy: Arc::new(proxy),
    };
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, _) = tokio::sync::watch::channel(false);
    (listener::spawn(tcp, app, stop).unwrap(), ca)
}

#[tokio::test]
async fn https_through_proxy_reaches_the_sandbox_with_the_ca_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, ca) = start(dir.path()).await;
    let proxy = reqwest::Proxy::https(format!("http://{}", handle.local_addr())).unwrap();
    let client = reqwest::Client::builder()
        .proxy(proxy)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    for _ in 0..3 {
        let body = client
            .get("https://inference.local/v1/ping")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "pong from alpha");
    }
    // Without the CA trusted the TLS handshake must fail.
    let untrusting = reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(format!("http://{}", handle.local_addr())).unwrap())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(
        untrusting
            .get("https://inference.local/v1/ping")
            .send()
            .await
            .is_err()
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn other_connect_targets_get_403_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, _ca) = start(dir.path()).await;
    for target in ["example.com:443", "inference.local:80", "127.0.0.1:22"] {
        let mut s = tokio::net::TcpStream::connect(handle.local_addr())
            .await
            .unwrap();
        s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 403"), "{target}: {head}");
        assert!(
            head.contains(&format!("egress to {target} refused for sandbox alpha")),
            "{head}"
        );
        assert!(head.contains("sandgate alpha policy add --host"), "{head}");
    }
    // The listener keeps serving after refusals.
    let body = reqwest::get(format!("http://{}/v1/ping", handle.local_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "pong from alpha");
    handle.shutdown().await;
}

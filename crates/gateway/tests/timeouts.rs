#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hostile clients on a sandbox port, with the listener limits set small: a silent TCP
//! connection, a slowloris WebSocket upgrade and a `/v1` chunked body that stalls after its
//! first chunk are all dropped within the configured timeout, and the port keeps serving.

mod support;

use std::time::{Duration, Instant};

use sandgate_gateway::{Gateway, GatewayOptions, Limits, SandboxInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slack on top of a configured timeout for a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(3);

async fn setup(limits: Limits) -> (tempfile::TempDir, Gateway, SandboxInfo) {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::open(GatewayOptions::new(dir.path()).with_limits(limits))
        .await
        .unwrap();
    let info = support::mock_sandbox(&gw, "alpha").await;
    (dir, gw, info)
}

/// Reads until the server closes; returns everything it sent. Panics if it stays open
/// beyond `bound`.
async fn read_to_close(s: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(bound, s.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {bound:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return all,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connection_is_dropped_at_the_header_timeout() {
    let header_read = Duration::from_millis(400);
    let (_dir, gw, info) = setup(Limits {
        header_read,
        ..Limits::default()
    })
    .await;
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", info.port)).await.unwrap();
    read_to_close(&mut s, header_read + SLACK).await;
    let took = started.elapsed();
    assert!(took >= header_read / 2, "closed too early: {took:?}");
    assert!(took < header_read + SLACK, "closed after {took:?}");
    support::assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_upgrade_is_dropped_at_the_header_timeout() {
    let header_read = Duration::from_millis(500);
    let (_dir, gw, info) = setup(Limits {
        header_read,
        ..Limits::default()
    })
    .await;
    let head = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        info.port
    );
    // One byte every 40 ms: the whole head would take ~6 s, far beyond the timeout.
    let mut pace = tokio::time::interval(Duration::from_millis(40));
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", info.port)).await.unwrap();
    let mut buf = [0u8; 1024];
    let mut sent = 0;
    let closed_after = loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => break started.elapsed(),
                Ok(n) => panic!("unexpected answer: {:?}", String::from_utf8_lossy(&buf[..n])),
            },
            _ = pace.tick() => {
                assert!(sent < head.len(), "the whole head was sent and the connection is still open");
                if s.write_all(&head.as_bytes()[sent..=sent]).await.is_err() {
                    break started.elapsed();
                }
                sent += 1;
            }
        }
        assert!(started.elapsed() < header_read + SLACK, "still open");
    };
    assert!(
        closed_after < header_read + SLACK,
        "closed after {closed_after:?}"
    );
    assert!(sent < head.len(), "the head was complete: {sent} bytes");
    support::assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_chunked_v1_body_gets_408_and_close() {
    let body_progress = Duration::from_millis(400);
    let (_dir, gw, info) = setup(Limits {
        body_progress,
        ..Limits::default()
    })
    .await;
    let mut s = TcpStream::connect(("127.0.0.1", info.port)).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        info.port, info.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"8\r\n{\"model\"\r\n").await.unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut s, body_progress + SLACK).await;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(took >= body_progress / 2, "answered too early: {took:?}");
    assert!(took < body_progress + SLACK, "answered after {took:?}");
    support::assert_serving(&info).await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed() {
    let keep_alive_idle = Duration::from_millis(400);
    let (_dir, gw, info) = setup(Limits {
        keep_alive_idle,
        ..Limits::default()
    })
    .await;
    let mut s = TcpStream::connect(("127.0.0.1", info.port)).await.unwrap();
    let req = format!(
        "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\r\n",
        info.port, info.token
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(SLACK, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let started = Instant::now();
    read_to_close(&mut s, keep_alive_idle + SLACK).await;
    assert!(started.elapsed() < keep_alive_idle + SLACK);
    gw.shutdown().await;
}

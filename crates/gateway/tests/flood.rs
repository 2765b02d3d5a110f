#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One sandbox's port flooded to its connection cap: the extra connection gets a clear `503`
//! at once, another sandbox on the same gateway still completes a `/v1` call and a WebSocket
//! request, and once the flood closes the descriptor count is back to its baseline and the
//! flooded sandbox serves again. The only test of this binary, so `/proc/self/fd` counts
//! only its own descriptors.

mod support;

use std::time::{Duration, Instant};

use sandgate_gateway::{Gateway, GatewayOptions, Limits};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const CAP: usize = 16;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (bounded) until the descriptor count is back to `baseline`.
async fn fds_back_to(baseline: usize) {
    let deadline = Instant::now() + support::WAIT;
    loop {
        let now = open_fds();
        if now <= baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fd count stuck at {now}, baseline {baseline}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooded_sandbox_refuses_beyond_its_cap_and_others_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_sandbox: CAP,
        ..Limits::default()
    };
    let gw = Gateway::open(GatewayOptions::new(dir.path()).with_limits(limits))
        .await
        .unwrap();
    let flooded = support::mock_sandbox(&gw, "flooded").await;
    let other = support::mock_sandbox(&gw, "other").await;
    let baseline = open_fds();

    // Silent connections fill the cap; the listener accepts in order, so all of them hold a
    // slot before the extra one is accepted.
    let mut flood = Vec::new();
    for _ in 0..CAP {
        flood.push(
            TcpStream::connect(("127.0.0.1", flooded.port))
                .await
                .unwrap(),
        );
    }
    let mut extra = TcpStream::connect(("127.0.0.1", flooded.port))
        .await
        .unwrap();
    let mut answer = Vec::new();
    let started = Instant::now();
    tokio::time::timeout(support::WAIT, extra.read_to_end(&mut answer))
        .await
        .expect("the extra connection was neither answered nor closed")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains(&format!(
            "too many connections to this sandbox's port (limit {CAP})"
        )),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusal took {:?}",
        started.elapsed()
    );
    drop(extra);

    // The other sandbox serves: a /v1 call and a WebSocket health request.
    {
        let client = reqwest::Client::builder()
            .timeout(support::WAIT)
            .build()
            .unwrap();
        let started = Instant::now();
        let res = client
            .post(format!(
                "http://127.0.0.1:{}/v1/chat/completions",
                other.port
            ))
            .bearer_auth(&other.token)
            .json(
                &serde_json::json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            body["choices"][0]["message"]["content"].is_string(),
            "{body}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    support::assert_serving(&other).await;

    // The flood closes: every slot and descriptor is released.
    drop(flood);
    fds_back_to(baseline).await;
    support::assert_serving(&flooded).await;
    fds_back_to(baseline).await;
    gw.shutdown().await;
}

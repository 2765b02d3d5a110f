#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A sandbox port when the process is out of descriptors (EMFILE), with the connection caps set
//! high so that they do not step in first: the connection at the head of the accept queue is
//! taken with the listener's reserved descriptor and answered `503` at once, instead of every
//! queued client hanging; once descriptors are free again the port serves as before.
//!
//! Its own test binary: it lowers the process's open-files limit, which would disturb other
//! tests running in the same process.

mod support;

use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use sandgate_gateway::{Gateway, GatewayOptions, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_out_of_descriptors_refuses_at_once_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_sandbox: 10_000,
        max_connections_total: 10_000,
        ..Limits::default()
    };
    let gw = Gateway::open(GatewayOptions::new(dir.path()).with_limits(limits))
        .await
        .unwrap();
    let info = support::mock_sandbox(&gw, "alpha").await;

    // The 30 client sockets exist before the limit drops, so only the server's accepts need
    // new descriptors: it has room for 10, then runs out.
    let sockets: Vec<_> = (0..30)
        .map(|_| tokio::net::TcpSocket::new_v4().unwrap())
        .collect();
    let before = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(open_fds() + 10),
            maximum: before.maximum,
        },
    )
    .unwrap();
    let mut clients = Vec::new();
    for s in sockets {
        clients.push(
            s.connect(format!("127.0.0.1:{}", info.port).parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let mut refused = 0;
    for c in &mut clients {
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.starts_with("HTTP/1.1 503") && text.contains("out of file descriptors") {
                refused += 1;
            }
        }
    }
    drop(clients);
    setrlimit(Resource::Nofile, before).unwrap();
    assert!(
        refused > 0,
        "no queued connection was answered while out of descriptors"
    );

    // Descriptors are back: the port serves again.
    let mut s = TcpStream::connect(("127.0.0.1", info.port)).await.unwrap();
    s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    gw.shutdown().await;
}

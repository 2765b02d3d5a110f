#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Egress through each sandbox's proxy, over real sockets: allowed targets are resolved by the
//! gateway (a test override points public names at a local upstream) and tunnelled; refused
//! ones get a 403 with the remedy and the upstream never sees a connection; SSRF spellings
//! are refused; a policy change applies to one sandbox's next connection and survives a restart.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sandgate_gateway::egress::{EgressPolicy, Preset, Resolver};
use sandgate_gateway::{Gateway, GatewayOptions, SandboxInfo, SandboxSpec};
use sandgate_providers::ProviderKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

/// A local upstream that counts connections: answers plain HTTP requests with the request
/// line it saw, and echoes anything else.
struct Upstream {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let Ok(n) = s.read(&mut buf).await else {
                    return;
                };
                let got = String::from_utf8_lossy(&buf[..n]).to_string();
                if got.starts_with("GET ") {
                    let body = format!("upstream saw: {}", got.lines().next().unwrap_or(""));
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    return;
                }
                let _ = s.write_all(format!("echo:{got}").as_bytes()).await;
            });
        }
    });
    Upstream { addr, conns }
}

async fn gateway(dir: &std::path::Path, overrides: &[(&str, u16, SocketAddr)]) -> Gateway {
    let mut opts = GatewayOptions::new(dir);
    let map: HashMap<(String, u16), SocketAddr> = overrides
        .iter()
        .map(|(n, p, a)| ((n.to_string(), *p), *a))
        .collect();
    opts.resolver = Resolver::with_overrides(map);
    Gateway::open(opts).await.unwrap()
}

async fn sandbox(
    gw: &Gateway,
    name: &str,
    presets: &[Preset],
    endpoint: Option<String>,
) -> SandboxInfo {
    gw.create_sandbox(SandboxSpec {
        name: name.into(),
        route: common::route(ProviderKind::Mock, "m", endpoint),
        port: 0,
        egress: EgressPolicy::with_presets(presets.iter().copied()),
    })
    .await
    .unwrap()
}

/// Sends `head` to the sandbox's port; returns (status, body or tunnel stream).
async fn request(port: u16, head: &str) -> (u16, String, TcpStream) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, s.read(&mut byte))
            .await
            .expect("no answer")
            .unwrap();
        assert_eq!(
            n,
            1,
            "connection closed mid-head: {}",
            String::from_utf8_lossy(&got)
        );
        got.push(byte[0]);
    }
    let head = String::from_utf8(got).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length: ")
            .map(|v| v.trim().parse::<usize>().unwrap())
    });
    let mut body = vec![0u8; len.unwrap_or(0)];
    tokio::time::timeout(WAIT, s.read_exact(&mut body))
        .await
        .expect("body")
        .unwrap();
    (status, String::from_utf8(body).unwrap(), s)
}

async fn connect(port: u16, target: &str) -> (u16, String, TcpStream) {
    request(
        port,
        &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
    )
    .await
}

async fn echo(s: &mut TcpStream) -> String {
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 9];
    tokio::time::timeout(WAIT, s.read_exact(&mut buf))
        .await
        .expect("echo")
        .unwrap();
    String::from_utf8_lossy(&buf).to_string()
}

#[tokio::test]
async fn allowed_presets_tunnel_and_everything_else_is_refused_unconnected() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(
        dir.path(),
        &[
            ("registry.npmjs.org", 443, up.addr),
            ("pypi.org", 443, up.addr),
        ],
    )
    .await;
    let a = sandbox(&gw, "alpha", &[Preset::Npm], None).await;
    let b = sandbox(&gw, "beta", &[], None).await;

    let (status, _, mut tunnel) = connect(a.port, "registry.npmjs.org:443").await;
    assert_eq!(status, 200);
    assert_eq!(echo(&mut tunnel).await, "echo:ping");
    assert_eq!(up.conns.load(Ordering::SeqCst), 1);

    let (status, body, _) = connect(a.port, "pypi.org:443").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("pypi.org:443") && body.contains("`sandgate alpha policy add pypi`"),
        "{body}"
    );
    let (status, body, _) = connect(a.port, "evil.example:443").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("sandgate alpha policy add --host evil.example:443"),
        "{body}"
    );
    // The same name on another sandbox without the preset is refused.
    let (status, _, _) = connect(b.port, "registry.npmjs.org:443").await;
    assert_eq!(status, 403);

    let upstream_port = up.addr.port();
    let ssrf = [
        format!("127.0.0.1:{upstream_port}"),
        format!("127.0.0.1:{}", b.port),
        format!("[::1]:{upstream_port}"),
        "169.254.169.254:80".to_string(),
        format!("0x7f000001:{upstream_port}"),
        format!("2130706433:{upstream_port}"),
        format!("0177.0.0.1:{upstream_port}"),
        format!("[::ffff:127.0.0.1]:{upstream_port}"),
        "inference.local:80".to_string(),
        "PYPI.ORG.:443".to_string(),
        "Registry.Npmjs.Org.:80".to_string(),
        "not a host:443".to_string(),
    ];
    for t in &ssrf {
        let (status, body, _) = connect(a.port, t).await;
        assert!(status == 403 || status == 400, "{t}: {status} {body}");
    }
    assert_eq!(
        up.conns.load(Ordering::SeqCst),
        1,
        "a refused target was connected"
    );
    // The trailing-dot, uppercase spelling of an allowed host is the same host.
    let (status, _, mut tunnel) = connect(a.port, "REGISTRY.npmjs.org.:443").await;
    assert_eq!(status, 200);
    assert_eq!(echo(&mut tunnel).await, "echo:ping");

    let denials = gw.egress_denials("alpha", 0).await.unwrap();
    // Two refusals above, and every SSRF target but the last, which hyper rejects (400) as a
    // malformed request line before the proxy sees it.
    assert_eq!(denials.len(), 2 + ssrf.len() - 1);
    assert_eq!(denials[0].suggest, Some(Preset::Pypi));
    assert_eq!(
        gw.sandbox("alpha").await.unwrap().egress_denied,
        denials.len() as u64
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn allowed_names_resolving_inside_are_refused_unless_the_rule_names_them() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &[]).await;
    let a = sandbox(&gw, "alpha", &[], None).await;
    let port = up.addr.port();
    // An allowed name that resolves to loopback (no override): refused, nothing connected.
    let mut p = EgressPolicy::default();
    p.hosts.insert(format!("localhost:{port}").parse().unwrap());
    gw.set_egress_policy("alpha", p.clone()).await.unwrap();
    let (status, body, _) = connect(a.port, &format!("localhost:{port}")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("loopback"), "{body}");
    assert_eq!(up.conns.load(Ordering::SeqCst), 0);
    // An explicit IP rule is the admin naming the address: allowed.
    p.hosts.insert(format!("127.0.0.1:{port}").parse().unwrap());
    gw.set_egress_policy("alpha", p).await.unwrap();
    let (status, _, mut tunnel) = connect(a.port, &format!("127.0.0.1:{port}")).await;
    assert_eq!(status, 200);
    assert_eq!(echo(&mut tunnel).await, "echo:ping");
    gw.shutdown().await;
}

#[tokio::test]
async fn local_inference_opens_only_the_sandbox_s_own_local_endpoint() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &[]).await;
    let endpoint = Some(format!("http://127.0.0.1:{}", up.addr.port()));
    let a = sandbox(&gw, "alpha", &[Preset::LocalInference], endpoint.clone()).await;
    let b = sandbox(&gw, "beta", &[], endpoint).await;
    let target = format!("127.0.0.1:{}", up.addr.port());
    let (status, _, mut tunnel) = connect(a.port, &target).await;
    assert_eq!(status, 200);
    assert_eq!(echo(&mut tunnel).await, "echo:ping");
    let (status, _, _) = connect(a.port, "127.0.0.1:22").await;
    assert_eq!(status, 403);
    let (status, _, _) = connect(b.port, &target).await;
    assert_eq!(status, 403);
    assert_eq!(up.conns.load(Ordering::SeqCst), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn absolute_form_http_follows_the_same_allowlist() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &[("example.org", 80, up.addr)]).await;
    let a = sandbox(&gw, "alpha", &[], None).await;
    let get = "GET http://example.org/simple/x?y=1 HTTP/1.1\r\nHost: example.org\r\nProxy-Authorization: Basic c2VjcmV0\r\n\r\n";
    let (status, body, _) = request(a.port, get).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--host example.org:80"), "{body}");
    assert_eq!(up.conns.load(Ordering::SeqCst), 0);
    let mut p = EgressPolicy::default();
    p.hosts.insert("example.org:80".parse().unwrap());
    gw.set_egress_policy("alpha", p).await.unwrap();
    let (status, body, _) = request(a.port, get).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "upstream saw: GET /simple/x?y=1 HTTP/1.1");
    let (status, _, _) = request(
        a.port,
        "GET http://inference.local/v1/models HTTP/1.1\r\nHost: inference.local\r\n\r\n",
    )
    .await;
    assert_eq!(status, 403);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_policy_change_applies_to_one_sandbox_and_survives_a_restart() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let overrides = [("pypi.org", 443, up.addr)];
    let gw = gateway(dir.path(), &overrides).await;
    let a = sandbox(&gw, "alpha", &[], None).await;
    let b = sandbox(&gw, "beta", &[], None).await;
    assert_eq!(connect(a.port, "pypi.org:443").await.0, 403);
    let mut p = gw.sandbox("alpha").await.unwrap().egress;
    p.presets.insert(Preset::Pypi);
    gw.set_egress_policy("alpha", p).await.unwrap();
    assert_eq!(connect(a.port, "pypi.org:443").await.0, 200);
    assert_eq!(connect(b.port, "pypi.org:443").await.0, 403);
    gw.shutdown().await;

    let gw = gateway(dir.path(), &overrides).await;
    let info = gw.sandbox("alpha").await.unwrap();
    assert!(info.egress.presets.contains(&Preset::Pypi));
    assert_eq!(info.egress_denied, 0, "refusal counts are since start");
    let (status, _, mut tunnel) = connect(info.port, "pypi.org:443").await;
    assert_eq!(status, 200);
    assert_eq!(echo(&mut tunnel).await, "echo:ping");
    assert_eq!(
        connect(gw.sandbox("beta").await.unwrap().port, "pypi.org:443")
            .await
            .0,
        403
    );
    gw.shutdown().await;
}

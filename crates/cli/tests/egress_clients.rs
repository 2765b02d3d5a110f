#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real clients inside `sandgate <name> exec`: curl, Python (requests, urllib), Node 24
//! `fetch` and the official OpenAI Node SDK reach `https://inference.local/v1` through the
//! sandbox's proxy with the sandbox's CA bundle; curl and Python reach an allowed public name
//! (pointed by the daemon's test-only resolver override at a local TLS server) through the
//! tunnel; a refused name gets the 403, the local server sees no connection, `exec` prints the
//! remedy, and the gateway log has the decision lines.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Sg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server for `registry.npmjs.org` and `pypi.org` whose leaf the gateway CA signs,
/// counting TCP connections. It runs on its own thread until the test ends.
struct Registry {
    conns: Arc<AtomicUsize>,
}

fn leaf_config(state: &std::path::Path) -> Arc<rustls::ServerConfig> {
    let ca_pem = std::fs::read_to_string(state.join("tls/ca.pem")).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(state.join("tls/ca.key")).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["registry.npmjs.org".into(), "pypi.org".into()])
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let chain = vec![cert.der().clone()];
    let key = rustls_pemfile::private_key(&mut key.serialize_pem().as_bytes())
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

fn registry(listener: std::net::TcpListener, cfg: Arc<rustls::ServerConfig>) -> Registry {
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            while let Ok((tcp, _)) = l.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut buf = vec![0u8; 8192];
                    let Ok(n) = tls.read(&mut buf).await else { return };
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let line = req.lines().next().unwrap_or_default().to_string();
                    let body = format!("registry says hello: {line}");
                    let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    Registry { conns }
}

/// Runs `argv` inside the sandbox; returns the output.
fn exec(sg: &Sg, name: &str, argv: &[&str]) -> common::Out {
    let visible = common::visible_args();
    sg.run(&common::exec_args(name, &visible, argv))
}

#[test]
fn real_clients_reach_inference_and_allowed_hosts_and_refusals_say_how_to_allow() {
    let sg = Sg::new();
    // The registry's port is reserved before the daemon starts so the override can name it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let overrides =
        format!("registry.npmjs.org:443=127.0.0.1:{port},pypi.org:443=127.0.0.1:{port}");
    let out = common::Out::from(
        sg.cmd(&["gateway", "start"])
            .env("SANDGATE_TEST_RESOLVE", &overrides)
            .output()
            .unwrap(),
    );
    assert!(out.ok(), "{out}");
    let reg = registry(listener, leaf_config(sg.state()));
    let p = common::free_port().to_string();
    let out = sg.run(&[
        "onboard",
        "--name",
        "alpha",
        "--provider",
        "mock",
        "--model",
        "mock-alpha",
        "--port",
        &p,
        "--policy",
        "npm",
        "--non-interactive",
    ]);
    assert!(out.ok(), "{out}");
    assert!(out.stdout.contains("Network policies: npm"), "{out}");

    // curl: the managed inference route, and an allowed public name through the tunnel.
    let out = exec(
        &sg,
        "alpha",
        &["curl", "-sS", "--fail", "https://inference.local/v1/models"],
    );
    assert!(out.ok() && out.stdout.contains("mock-alpha"), "{out}");
    let out = exec(
        &sg,
        "alpha",
        &[
            "curl",
            "-sS",
            "--fail",
            "https://registry.npmjs.org/left-pad",
        ],
    );
    assert!(out.ok(), "{out}");
    assert_eq!(out.stdout, "registry says hello: GET /left-pad HTTP/1.1");
    assert_eq!(reg.conns.load(Ordering::SeqCst), 1);

    // A refused name: curl sees the 403, the registry sees nothing, exec names the remedy.
    let out = exec(&sg, "alpha", &["curl", "-sS", "https://pypi.org/simple/"]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("403"), "{out}");
    assert!(
        out.stderr
            .contains("egress refused in this session: pypi.org:443"),
        "{out}"
    );
    assert!(out.stderr.contains("alpha policy add pypi"), "{out}");
    assert_eq!(
        reg.conns.load(Ordering::SeqCst),
        1,
        "a refused name was connected"
    );

    // Python: requests and urllib, with the bundle the environment names.
    if let Ok(py) = std::env::var("SANDGATE_TEST_PYTHON") {
        let script = "import requests, urllib.request\n\
            r = requests.get('https://inference.local/v1/models'); print('requests', r.status_code, r.json()['data'][0]['id'])\n\
            print('urllib', urllib.request.urlopen('https://inference.local/v1/models').status)\n\
            print('tunnel', requests.get('https://registry.npmjs.org/py').text)\n\
            print('tunnel-urllib', urllib.request.urlopen('https://registry.npmjs.org/u').read().decode())\n\
            try:\n    requests.get('https://pypi.org/simple/')\nexcept requests.exceptions.ProxyError as e:\n    print('refused', '403' in str(e))\n";
        let out = exec(&sg, "alpha", &[&py, "-c", script]);
        assert!(out.ok(), "{out}");
        for want in [
            "requests 200 mock-alpha",
            "urllib 200",
            "tunnel registry says hello: GET /py",
            "tunnel-urllib registry says hello: GET /u",
            "refused True",
        ] {
            assert!(out.stdout.contains(want), "{want}: {out}");
        }
        assert_eq!(reg.conns.load(Ordering::SeqCst), 3);
    } else {
        eprintln!("SANDGATE_TEST_PYTHON not set (scripts/test sets it): Python clients not run");
    }

    // Node 24: fetch and the official OpenAI Node SDK (both need NODE_USE_ENV_PROXY).
    if let Ok(node) = std::env::var("SANDGATE_TEST_NODE") {
        let out = exec(
            &sg,
            "alpha",
            &[
                &node,
                "-e",
                "fetch('https://inference.local/v1/models').then(r => r.json()).then(j => console.log('fetch', j.data[0].id))",
            ],
        );
        assert!(out.ok() && out.stdout.contains("fetch mock-alpha"), "{out}");
        let sdk = std::env::var("SANDGATE_TEST_NODE_SDK")
            .expect("scripts/test sets SANDGATE_TEST_NODE_SDK with SANDGATE_TEST_NODE");
        let script = format!(
            "const OpenAI = require('{sdk}/node_modules/openai');\n\
             const c = new OpenAI({{ baseURL: 'https://inference.local/v1', apiKey: 'unused' }});\n\
             c.chat.completions.create({{ model: 'x', messages: [{{ role: 'user', content: 'hello from node' }}] }})\n\
              .then(r => console.log('sdk', r.model, r.choices[0].message.content.length > 0));"
        );
        let out = exec(&sg, "alpha", &[&node, "-e", &script]);
        assert!(
            out.ok() && out.stdout.contains("sdk mock-alpha true"),
            "{out}"
        );
    } else {
        eprintln!("SANDGATE_TEST_NODE not set (scripts/test sets it): Node clients not run");
    }

    // The decisions are in the gateway log, human and JSON.
    let out = sg.run(&["alpha", "logs"]);
    assert!(out.ok(), "{out}");
    assert!(
        out.stdout.contains("egress denied") && out.stdout.contains("dest=pypi.org:443"),
        "{out}"
    );
    assert!(
        out.stdout.contains("egress allowed") && out.stdout.contains("rule=preset:npm"),
        "{out}"
    );
    let out = sg.run(&["alpha", "logs", "--json"]);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let allowed = lines
        .iter()
        .find(|l| l["decision"] == "allowed" && l["dest"] == "registry.npmjs.org:443")
        .expect("an allowed line");
    assert!(allowed["bytes_down"].as_u64().unwrap() > 0, "{allowed}");
    assert!(
        lines
            .iter()
            .any(|l| l["decision"] == "denied" && l["dest"] == "pypi.org:443")
    );

    // Status counts the refusals; `policy add` opens pypi for alpha's next connection.
    let (_, v) = sg.json(&["alpha", "status", "--json"]);
    assert!(
        v["sandbox"]["egressDenied"]
            .as_u64()
            .or(v["egressDenied"].as_u64())
            .unwrap_or(0)
            >= 1,
        "{v}"
    );
    let (out, v) = sg.json(&["alpha", "policy", "add", "pypi", "--json"]);
    assert!(out.ok() && v["changed"] == true, "{out}");
    let out = exec(
        &sg,
        "alpha",
        &["curl", "-sS", "--fail", "https://pypi.org/simple/"],
    );
    assert!(out.ok() && out.stdout.contains("GET /simple/"), "{out}");
    let (_, v) = sg.json(&["alpha", "policy", "list", "--json"]);
    let names: Vec<&str> = v["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["npm", "pypi"]);
    let out = sg.run(&["alpha", "policy", "add", "ftp"]);
    assert!(
        !out.ok() && out.stderr.contains("valid: npm, pypi"),
        "{out}"
    );
}

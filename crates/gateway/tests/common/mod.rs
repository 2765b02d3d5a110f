#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
//! Shared test setup: a gateway on a temporary state dir with sandboxes on free ports.

use sandgate_gateway::client::{self, ClientOptions, Connection};
use sandgate_gateway::{Gateway, GatewayOptions, RouteSpec, SandboxInfo, SandboxSpec};
use sandgate_providers::ProviderKind;
use std::path::PathBuf;
use std::process::Stdio;

pub async fn gateway(dir: &std::path::Path) -> Gateway {
    Gateway::open(GatewayOptions::new(dir)).await.unwrap()
}

pub fn route(kind: ProviderKind, model: &str, endpoint: Option<String>) -> RouteSpec {
    RouteSpec {
        provider: kind,
        model: model.into(),
        endpoint,
        credential: None,
        credential_env: None,
    }
}

pub async fn sandbox(gw: &Gateway, name: &str, route: RouteSpec) -> SandboxInfo {
    gw.create_sandbox(SandboxSpec {
        name: name.into(),
        route,
        port: 0,
        egress: Default::default(),
    })
    .await
    .unwrap()
}

pub async fn mock_sandbox(gw: &Gateway, name: &str, model: &str) -> SandboxInfo {
    sandbox(gw, name, route(ProviderKind::Mock, model, None)).await
}

/// A client that reaches `https://inference.local` through `info`'s proxy, trusting only
/// the gateway CA.
pub fn proxied(gw: &Gateway, info: &SandboxInfo) -> reqwest::Client {
    let ca = std::fs::read(gw.ca_bundle_path()).unwrap();
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(format!("http://127.0.0.1:{}", info.port)).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The sandbox's own pre-approved CLI device, with the sandbox token.
pub async fn cli(info: &SandboxInfo) -> Connection {
    let mut opts = ClientOptions::new(info.url.clone());
    opts.token = Some(info.token.clone());
    opts.identity_dir = Some(info.device_dir.clone());
    client::connect(opts).await.unwrap()
}

/// The Python with the official SDKs (`SANDGATE_TEST_PYTHON`, else the workspace `.venv`).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SANDGATE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.venv/bin/python"
    ));
    assert!(
        venv.exists(),
        "the OpenAI SDK test needs Python with `openai` installed: run `bash .ci/run` once (it creates .venv), \
         or set SANDGATE_TEST_PYTHON to an interpreter that has it"
    );
    venv
}

/// Runs a Python test script with only the proxy/CA variables of `env`; its stdout is JSON.
pub async fn run_python(script: &str, args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(script)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "sdk failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

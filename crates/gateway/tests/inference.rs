#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The inference route on each sandbox's port: direct `/v1` with the sandbox token, and
//! `https://inference.local/v1` through the CONNECT proxy with the gateway CA trusted.
//! Two sandboxes on two providers (fake Ollama, fake Gemini) each reach their own upstream.

mod common;

use sandgate_gateway::{Gateway, SandboxInfo};
use sandgate_providers::ProviderKind;
use sandgate_providers::fake::{FakeConfig, FakeKind, FakeUpstream};

fn chat_body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "whatever-the-caller-says",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

async fn two_providers(
    dir: &std::path::Path,
) -> (
    Gateway,
    FakeUpstream,
    FakeUpstream,
    SandboxInfo,
    SandboxInfo,
) {
    let gw = common::gateway(dir).await;
    let ollama = FakeUpstream::spawn(FakeConfig::new(FakeKind::Ollama).label("alpha").tokens(6))
        .await
        .unwrap();
    let gemini = FakeUpstream::spawn(
        FakeConfig::new(FakeKind::Gemini)
            .label("beta")
            .tokens(6)
            .credential("gem-secret"),
    )
    .await
    .unwrap();
    let alpha = common::sandbox(
        &gw,
        "alpha",
        common::route(
            ProviderKind::OllamaLocal,
            "qwen2.5:32b",
            Some(ollama.base_url()),
        ),
    )
    .await;
    let mut r = common::route(
        ProviderKind::GeminiApi,
        "gemini-2.5-flash-lite",
        Some(gemini.base_url()),
    );
    r.credential = Some("gem-secret".into());
    let beta = common::sandbox(&gw, "beta", r).await;
    (gw, ollama, gemini, alpha, beta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_streams_per_sandbox_reach_their_own_provider() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, ollama, gemini, alpha, beta) = two_providers(dir.path()).await;
    let fingerprint = gw.ca_fingerprint();
    let mut tasks = Vec::new();
    for (info, marker, model) in [
        (&alpha, "[fake-ollama:alpha]", "qwen2.5:32b"),
        (&beta, "[fake-gemini:beta]", "gemini-2.5-flash-lite"),
    ] {
        let client = common::proxied(&gw, info);
        for _ in 0..50 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let resp = client
                    .post("https://inference.local/v1/chat/completions")
                    .json(&chat_body(true))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let body = resp.text().await.unwrap();
                assert!(body.contains(marker), "{body}");
                assert!(body.contains(model), "model forced: {body}");
                assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
                assert!(body.contains("\"usage\""), "include_usage honoured: {body}");
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(ollama.request_count(), 50);
    assert_eq!(gemini.request_count(), 50);
    // The Gemini key was injected; the sandbox never sent it.
    let last = gemini.last_request().unwrap();
    assert_eq!(last.header("x-goog-api-key"), Some("gem-secret"));
    // A third sandbox and a restart leave the CA alone.
    common::mock_sandbox(&gw, "gamma", "m").await;
    assert_eq!(gw.ca_fingerprint(), fingerprint);
    gw.shutdown().await;
    let gw = common::gateway(dir.path()).await;
    assert_eq!(gw.ca_fingerprint(), fingerprint);
    assert_eq!(gw.sandboxes().await.len(), 3);
    // alpha still answers through the proxy after the restart, with the old CA bundle.
    let resp = common::proxied(&gw, &alpha)
        .post("https://inference.local/v1/chat/completions")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_v1_needs_this_sandboxes_token_and_strips_caller_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, ollama, _gemini, alpha, beta) = two_providers(dir.path()).await;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", alpha.port);
    // Missing token, wrong token, and beta's token on alpha's port: 401, nothing forwarded.
    let missing = http
        .post(&url)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    for token in ["nope", beta.token.as_str()] {
        let resp = http
            .post(&url)
            .bearer_auth(token)
            .json(&chat_body(false))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let err: serde_json::Value = resp.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains("alpha"),
            "{err}"
        );
    }
    assert_eq!(ollama.request_count(), 0);
    // The right token works; the caller's Authorization never reaches the upstream.
    let resp = http
        .post(&url)
        .bearer_auth(&alpha.token)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "qwen2.5:32b");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("[fake-ollama:alpha]")
    );
    let seen = ollama.last_request().unwrap();
    assert!(
        seen.header("authorization")
            .is_none_or(|a| !a.contains(&alpha.token))
    );
    // Models list.
    let models: serde_json::Value = http
        .get(format!("http://127.0.0.1:{}/v1/models", alpha.port))
        .bearer_auth(&alpha.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(models["data"].is_array(), "{models}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_is_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, ollama, _gemini, alpha, _beta) = two_providers(dir.path()).await;
    let client = common::proxied(&gw, &alpha);
    let base = "https://inference.local";
    let malformed = client
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    // A body over the cap is refused from its Content-Length, before it is sent: read the
    // status on a raw socket so the refusal is observed even though the body never follows.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", alpha.port))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        alpha.token,
        64 * 1024 * 1024
    );
    tokio::io::AsyncWriteExt::write_all(&mut raw, head.as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::io::AsyncReadExt::read(&mut raw, &mut buf)
        .await
        .unwrap();
    let status_line = String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(status_line.contains("413"), "{status_line}");
    let other = client.get(format!("{base}/admin")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let v1_other = client.get(format!("{base}/v1/files")).send().await.unwrap();
    assert_eq!(v1_other.status(), 404);
    assert_eq!(ollama.request_count(), 0, "nothing forwarded upstream");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_one_route_never_touches_another() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, ollama, gemini, alpha, beta) = two_providers(dir.path()).await;
    let other = FakeUpstream::spawn(FakeConfig::new(FakeKind::OpenAi).label("alpha2"))
        .await
        .unwrap();
    gw.set_route(
        "alpha",
        sandgate_gateway::RouteSpec {
            provider: ProviderKind::CompatibleEndpoint,
            model: "m2".into(),
            endpoint: Some(other.base_url()),
            credential: None,
            credential_env: None,
        },
    )
    .await
    .unwrap();
    let a = common::proxied(&gw, &alpha)
        .post("https://inference.local/v1/chat/completions")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert!(a.text().await.unwrap().contains("[fake-openai:alpha2]"));
    let b = common::proxied(&gw, &beta)
        .post("https://inference.local/v1/chat/completions")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert!(b.text().await.unwrap().contains("[fake-gemini:beta]"));
    assert_eq!(ollama.request_count(), 0);
    assert_eq!(gemini.request_count(), 1);
    gw.shutdown().await;
}

//! Service-level input handling: bad input is refused with a clear OpenAI-style error and
//! nothing reaches the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use common::contract::ROUTE_MODEL;
use common::*;
use sandgate_providers::fake::FakeKind;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_and_not_forwarded() {
    let fake = fake_kind(FakeKind::OpenAi, "x").await;
    let route = fake.route(ROUTE_MODEL);
    let svc = service();
    let a = send(
        &svc,
        &route,
        "POST",
        "/v1/chat/completions",
        &[],
        "{not json",
    )
    .await;
    assert_error(&a, 400, "invalid_request");
    let a = send(
        &svc,
        &route,
        "POST",
        "/v1/chat/completions",
        &[],
        json!({"messages": "nope"}).to_string(),
    )
    .await;
    assert_error(&a, 400, "invalid_request");
    let a = send(
        &svc,
        &route,
        "POST",
        "/v1/chat/completions",
        &[],
        json!({"messages": [{"role": "wizard", "content": "x"}]}).to_string(),
    )
    .await;
    assert_error(&a, 400, "invalid_request");
    let a = send(
        &svc,
        &route,
        "POST",
        "/v1/chat/completions",
        &[],
        json!({"messages": []}).to_string(),
    )
    .await;
    assert_error(&a, 400, "invalid_request");
    let a = send(&svc, &route, "POST", "/v1/embeddings", &[], "[]").await;
    assert_error(&a, 400, "invalid_request");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn huge_body_is_413_and_not_forwarded() {
    let fake = fake_kind(FakeKind::OpenAi, "x").await;
    let route = fake.route(ROUTE_MODEL);
    let svc = service_with_request_cap(1024);
    let big = json!({"messages": [{"role": "user", "content": "a".repeat(4096)}]}).to_string();
    // Declared length over the cap.
    let a = send(
        &svc,
        &route,
        "POST",
        "/v1/chat/completions",
        &[("content-length", &big.len().to_string())],
        big.clone(),
    )
    .await;
    assert_error(&a, 413, "request_too_large");
    // Undeclared (streamed) body over the cap.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = big
        .as_bytes()
        .chunks(100)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let a = send(&svc, &route, "POST", "/v1/chat/completions", &[], body).await;
    assert_error(&a, 413, "request_too_large");
    assert_eq!(fake.request_count(), 0);
    // The default cap is 4 MiB.
    let huge =
        json!({"messages": [{"role": "user", "content": "a".repeat(5 * 1024 * 1024)}]}).to_string();
    let a = send(
        &service(),
        &route,
        "POST",
        "/v1/chat/completions",
        &[],
        huge,
    )
    .await;
    assert_error(&a, 413, "request_too_large");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn unknown_path_and_wrong_method() {
    let fake = fake_kind(FakeKind::OpenAi, "x").await;
    let route = fake.route(ROUTE_MODEL);
    let svc = service();
    assert_error(
        &send(&svc, &route, "POST", "/v1/completions", &[], "{}").await,
        404,
        "unknown_path",
    );
    assert_error(
        &send(&svc, &route, "GET", "/admin", &[], Body::empty()).await,
        404,
        "unknown_path",
    );
    assert_error(
        &send(
            &svc,
            &route,
            "GET",
            "/v1/chat/completions",
            &[],
            Body::empty(),
        )
        .await,
        405,
        "method_not_allowed",
    );
    assert_error(
        &send(&svc, &route, "DELETE", "/v1/models", &[], Body::empty()).await,
        405,
        "method_not_allowed",
    );
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn embeddings_without_provider_support_is_404() {
    let fake = fake_kind(FakeKind::Anthropic, "x").await;
    let route = fake.route(ROUTE_MODEL);
    let a = send(
        &service(),
        &route,
        "POST",
        "/v1/embeddings",
        &[],
        json!({"input": "x"}).to_string(),
    )
    .await;
    assert_error(&a, 404, "embeddings_unavailable");
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-prod")
    );
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn retrieve_route_model() {
    let fake = fake_kind(FakeKind::OpenAi, "x").await;
    let route = fake.route(ROUTE_MODEL);
    let a = send(
        &service(),
        &route,
        "GET",
        "/v1/models/route-model",
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["id"], ROUTE_MODEL);
    let a = send(
        &service(),
        &route,
        "GET",
        "/v1/models/other",
        &[],
        Body::empty(),
    )
    .await;
    assert_error(&a, 404, "model_not_found");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let route = sandgate_providers::Route::new(sandgate_providers::ProviderKind::VllmLocal, "m")
        .with_endpoint(format!("http://127.0.0.1:{port}/v1"));
    let svc = service();
    assert_error(
        &chat(&svc, &route, user("x")).await,
        502,
        "upstream_unreachable",
    );
    assert_error(
        &chat(&svc, &route, user_stream("x", false)).await,
        502,
        "upstream_unreachable",
    );
}

#[tokio::test]
async fn unmappable_input_is_400_unsupported_and_not_forwarded() {
    for kind in [FakeKind::Ollama, FakeKind::Gemini, FakeKind::Anthropic] {
        let fake = fake_kind(kind, "x").await;
        let route = fake.route(ROUTE_MODEL);
        let svc = service();
        let image = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}}
        ]}]});
        let a = chat(&svc, &route, image).await;
        assert_error(&a, 400, "unsupported_parameter");
        assert!(
            a.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("image_url"),
            "{kind}"
        );
        let mut n2 = user("x");
        n2["n"] = json!(2);
        assert_error(&chat(&svc, &route, n2).await, 400, "unsupported_parameter");
        let mut odd = user("x");
        odd["logit_bias"] = json!({"1": 2});
        let a = chat(&svc, &route, odd).await;
        assert_error(&a, 400, "unsupported_parameter");
        assert!(
            a.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("logit_bias")
        );
        assert_eq!(fake.request_count(), 0, "{kind}");
    }
}

#[tokio::test]
async fn router_over_a_real_socket_resolves_routes_per_request() {
    let alpha = fake_kind(FakeKind::Ollama, "alpha").await;
    let beta = fake_kind(FakeKind::Gemini, "beta").await;
    let routes = std::sync::Arc::new([
        ("Bearer sandbox-a", alpha.route("llama-a")),
        ("Bearer sandbox-b", beta.route("gemini-b")),
    ]);
    let app = service().into_router(move |parts| {
        let auth = parts.headers.get("authorization")?.to_str().ok()?;
        routes
            .iter()
            .find(|(token, _)| *token == auth)
            .map(|(_, r)| r.clone())
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{addr}/v1/chat/completions");
    for (token, label, model) in [
        ("sandbox-a", "[fake-ollama:alpha]", "llama-a"),
        ("sandbox-b", "[fake-gemini:beta]", "gemini-b"),
    ] {
        let resp = client
            .post(&url)
            .bearer_auth(token)
            .json(&user("hi"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .starts_with(label),
            "{v}"
        );
        assert_eq!(v["model"], model);
    }
    let resp = client
        .post(&url)
        .bearer_auth("stranger")
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "no_route");
    assert_eq!((alpha.request_count(), beta.request_count()), (1, 1));
    for req in alpha.requests().iter().chain(beta.requests().iter()) {
        assert!(
            req.headers.iter().all(|(_, v)| !v.contains("sandbox-")),
            "{req:?}"
        );
    }
    server.abort();
}

//! The providers crate's `InferenceService` inside someone's own axum app: the app decides
//! which route a request gets (here: one `mock` route for callers presenting `Bearer demo`),
//! mounts the OpenAI-compatible API beside its own routes, and serves one request.
//!
//! Run: `cargo run --example inference_service`

use axum::Router;
use axum::routing::get;
use sandgate::providers::{InferenceClient, InferenceService, ProviderKind, Route};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let route = Route::new(ProviderKind::Mock, "mock-in-my-app");
    let service = InferenceService::new(InferenceClient::new()?);
    let inference = service.into_router(move |parts| {
        let auth = parts.headers.get(http::header::AUTHORIZATION)?;
        (auth.as_bytes() == b"Bearer demo").then(|| route.clone())
    });
    let app = Router::new()
        .route("/health", get(|| async { "my app is fine" }))
        .merge(inference);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("my app serves /health and /v1 on http://{addr}");

    let body = serde_json::json!({
        "model": "whatever-the-caller-says",
        "messages": [{"role": "user", "content": "hello from my app"}],
    });
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth("demo")
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let v: serde_json::Value = resp.json().await?;
    println!(
        "POST /v1/chat/completions -> {status}: model {} said {:?} (usage {})",
        v["model"], v["choices"][0]["message"]["content"], v["usage"]
    );
    server.abort();
    Ok(())
}

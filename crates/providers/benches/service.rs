//! Chat completions through the service vs straight to a fake upstream, buffered and
//! streamed, plus the in-process mock. Numbers, not pass/fail.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use sandgate_providers::fake::{FakeConfig, FakeKind};
use sandgate_providers::{InferenceClient, InferenceService, ProviderKind, Route};
use serde_json::json;

fn body(stream: bool) -> String {
    json!({"model": "m", "stream": stream,
        "messages": [{"role": "user", "content": "benchmark this please"}]})
    .to_string()
}

async fn through_service(svc: &InferenceService, route: &Route, stream: bool) -> usize {
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(body(stream)))
        .unwrap();
    let resp = svc.handle(route, req).await;
    assert!(resp.status().is_success());
    resp.into_body().collect().await.unwrap().to_bytes().len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let svc = InferenceService::new(InferenceClient::new().unwrap());
    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut group = c.benchmark_group("chat_completions");
    for kind in [
        FakeKind::OpenAi,
        FakeKind::Ollama,
        FakeKind::Gemini,
        FakeKind::Anthropic,
    ] {
        let fake = rt
            .block_on(FakeConfig::new(kind).tokens(16).spawn())
            .unwrap();
        let route = fake.route("bench-model");
        for stream in [false, true] {
            let mode = if stream { "stream" } else { "buffered" };
            group.bench_function(format!("service/{kind}/{mode}"), |b| {
                b.to_async(&rt)
                    .iter(|| async { black_box(through_service(&svc, &route, stream).await) });
            });
        }
        if kind == FakeKind::OpenAi {
            let url = format!("{}/chat/completions", fake.base_url());
            for stream in [false, true] {
                let mode = if stream { "stream" } else { "buffered" };
                group.bench_function(format!("direct/{kind}/{mode}"), |b| {
                    b.to_async(&rt).iter(|| async {
                        let resp = direct
                            .post(&url)
                            .bearer_auth("fake-key")
                            .header("content-type", "application/json")
                            .body(body(stream))
                            .send()
                            .await
                            .unwrap();
                        black_box(resp.bytes().await.unwrap().len())
                    });
                });
            }
        }
    }
    let mock = Route::new(ProviderKind::Mock, "mock-model").with_endpoint("mock://?tokens=16");
    for stream in [false, true] {
        let mode = if stream { "stream" } else { "buffered" };
        group.bench_function(format!("service/mock/{mode}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(through_service(&svc, &mock, stream).await) });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The official OpenAI Python SDK, unmodified, against a sandbox: direct `/v1` with the
//! sandbox token, and `https://inference.local/v1` through the proxy with only `HTTPS_PROXY`
//! and `SSL_CERT_FILE` set. `.ci/run` installs the SDK into `.venv`.

mod common;

async fn run_sdk(args: &[&str], env: &[(&str, String)]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/openai_sdk_check.py");
    common::run_python(script, args, env).await
}

fn check(v: &serde_json::Value, model: &str) {
    assert_eq!(v["models"], serde_json::json!([model]), "{v}");
    assert!(v["completion"].as_str().unwrap().contains(model), "{v}");
    assert_eq!(v["completion_model"], model);
    assert!(v["stream_pieces"].as_u64().unwrap() > 1, "{v}");
    assert!(v["stream_usage_total"].as_u64().unwrap() > 0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_python_sdk_direct_and_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(dir.path()).await;
    let alpha = common::mock_sandbox(&gw, "alpha", "mock-sdk-model").await;
    let port = alpha.port.to_string();
    let direct = run_sdk(&["direct", &port, &alpha.token], &[]).await;
    check(&direct, "mock-sdk-model");
    let proxy = format!("http://127.0.0.1:{port}");
    let ca = gw.ca_bundle_path().display().to_string();
    let via_proxy = run_sdk(&["proxy"], &[("HTTPS_PROXY", proxy), ("SSL_CERT_FILE", ca)]).await;
    check(&via_proxy, "mock-sdk-model");
    gw.shutdown().await;
}

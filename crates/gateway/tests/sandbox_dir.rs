#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `<state>/sandboxes/<name>` has one owner: the gateway creates it with the sandbox, lends it
//! to embedders only while the sandbox exists, and removes it with the sandbox.

mod common;

use common::*;
use sandgate_gateway::GatewayError;
use sandgate_providers::ProviderKind;

#[tokio::test]
async fn the_sandbox_directory_lives_and_dies_with_its_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path()).await;
    let info = mock_sandbox(&gw, "alpha", "mock-model").await;
    assert!(info.device_dir.is_dir(), "created with the sandbox");
    let written = gw
        .with_sandbox_dir("alpha", |d| {
            std::fs::write(d.join("sandbox.json"), b"{}").map(|()| d.to_path_buf())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written, info.device_dir);

    gw.destroy_sandbox("alpha").await.unwrap();
    assert!(!info.device_dir.exists(), "removed with the sandbox");
    let late = gw
        .with_sandbox_dir("alpha", |d| std::fs::create_dir_all(d))
        .await;
    assert!(
        matches!(late, Err(GatewayError::UnknownSandbox(ref n)) if n == "alpha"),
        "{late:?}"
    );
    assert!(!info.device_dir.exists(), "a late write never recreates it");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stored_sandbox_reopens_with_its_typed_route() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path()).await;
    mock_sandbox(&gw, "beta", "mock-model").await;
    gw.shutdown().await;
    let gw = gateway(dir.path()).await;
    let info = gw.sandbox("beta").await.expect("stored sandbox reopened");
    assert_eq!(info.provider, ProviderKind::Mock);
    assert_eq!(info.model, "mock-model");
    gw.shutdown().await;
}

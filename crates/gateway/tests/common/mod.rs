#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
//! Shared test setup: a gateway on a temporary state dir with sandboxes on free ports.

use sandgate_gateway::client::{self, ClientOptions, Connection};
use sandgate_gateway::{Gateway, GatewayOptions, RouteSpec, SandboxInfo, SandboxSpec};
use sandgate_providers::ProviderKind;

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

/// The sandbox's own pre-approved CLI device, with the sandbox token.
pub async fn cli(info: &SandboxInfo) -> Connection {
    let mut opts = ClientOptions::new(info.url.clone());
    opts.token = Some(info.token.clone());
    opts.identity_dir = Some(info.device_dir.clone());
    client::connect(opts).await.unwrap()
}

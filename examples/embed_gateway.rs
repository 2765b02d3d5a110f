//! A tool hosting two sandboxes in-process on the `mock` provider and running one agent turn
//! in each with the gateway's client.
//!
//! Run: `cargo run --example embed_gateway`

use std::time::Duration;

use sandgate::gateway::client::{self, AgentTurn, ClientOptions};
use sandgate::gateway::{Gateway, GatewayOptions, RouteSpec, SandboxInfo, SandboxSpec};
use sandgate::providers::ProviderKind;

async fn turn(info: &SandboxInfo, message: &str) -> anyhow::Result<String> {
    let mut opts = ClientOptions::new(info.url.clone());
    opts.token = Some(info.token.clone());
    // The sandbox's own CLI device, paired when the sandbox was created.
    opts.identity_dir = Some(info.device_dir.clone());
    opts.timeout = Duration::from_secs(10);
    let mut conn = client::connect(opts).await?;
    let turn = AgentTurn {
        agent_id: "main".into(),
        message: message.into(),
        session_id: "example".into(),
    };
    let reply = conn.agent(turn, |_| {}).await?;
    Ok(format!(
        "{} / {}: {}",
        reply.provider, reply.model, reply.text
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::open(GatewayOptions::new(dir.path())).await?;
    for (name, model) in [("alpha", "mock-alpha"), ("beta", "mock-beta")] {
        let info = gw
            .create_sandbox(SandboxSpec {
                name: name.into(),
                route: RouteSpec {
                    provider: ProviderKind::Mock,
                    model: model.into(),
                    endpoint: None,
                    credential: None,
                    credential_env: None,
                },
                port: 0,
                egress: Default::default(),
            })
            .await?;
        println!("sandbox {name} listening on {}", info.url);
        let reply = turn(&info, &format!("hello from the {name} tool")).await?;
        println!("{name} answered by {reply}");
    }
    let usage = gw.usage("alpha").await?;
    println!(
        "alpha usage: {} requests, {} output tokens",
        usage.requests, usage.output_tokens
    );
    gw.shutdown().await;
    Ok(())
}

//! An agent turn with the gateway's client, streamed delta by delta, against a gateway this
//! example starts (one `mock` sandbox).
//!
//! Run: `cargo run --example gateway_client`

use std::io::Write;

use sandgate::gateway::client::{self, AgentTurn, ClientOptions};
use sandgate::gateway::{Gateway, GatewayOptions, RouteSpec, SandboxSpec};
use sandgate::providers::ProviderKind;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let gw = Gateway::open(GatewayOptions::new(dir.path())).await?;
    let info = gw
        .create_sandbox(SandboxSpec {
            name: "demo".into(),
            route: RouteSpec {
                provider: ProviderKind::Mock,
                model: "mock-demo".into(),
                endpoint: None,
                credential: None,
                credential_env: None,
            },
            port: 0,
            egress: Default::default(),
        })
        .await?;
    let mut opts = ClientOptions::new(info.url.clone());
    opts.token = Some(info.token.clone());
    opts.identity_dir = Some(info.device_dir.clone());
    let mut conn = client::connect(opts).await?;
    println!(
        "connected to {} with scopes [{}]",
        info.url,
        conn.granted_scopes()
    );
    print!("streamed:");
    let turn = AgentTurn {
        agent_id: "main".into(),
        message: "say something short".into(),
        session_id: "client-example".into(),
    };
    let reply = conn
        .agent(turn, |delta| {
            print!(" [{delta}]");
            let _ = std::io::stdout().flush();
        })
        .await?;
    println!();
    println!(
        "final reply from {} / {} (run {}): {}",
        reply.provider, reply.model, reply.run_id, reply.text
    );
    gw.shutdown().await;
    Ok(())
}

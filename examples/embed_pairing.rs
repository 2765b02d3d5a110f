//! Embedding the sandgate pairing authority without a gateway.
//!
//! Creates a sandbox policy, pairs a device within it (no human), provokes an upgrade beyond the
//! ceiling (partial grant + pending request), approves it as host admin while the client waits
//! for the resolution event, and shows the new scopes.
//!
//! Run: `cargo run --example embed_pairing`

use std::sync::Arc;
use std::time::Duration;

use sandgate::pairing::{
    Approver, ConnectAttempt, Credential, Decision, DeviceInfo, DeviceMetadata, Locality,
    PairingAuthority, SandboxPolicy,
};
use sandgate::proto::{Role, Scope};

fn describe(d: &Decision) -> String {
    match d {
        Decision::Approved {
            scopes,
            device_token,
            ..
        } => format!(
            "APPROVED scopes=[{scopes}] device_token={}",
            if device_token.is_some() {
                "issued"
            } else {
                "unchanged"
            }
        ),
        Decision::PartiallyGranted {
            granted, pending, ..
        } => format!(
            "PARTIALLY GRANTED scopes=[{granted}] pending={} missing=[{}]\n    remedy: {}",
            pending.request_id, pending.missing, pending.remedy
        ),
        Decision::PairingRequired { .. } => d.message().unwrap_or_default(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("sandgate.db");
    let auth = Arc::new(PairingAuthority::open_sqlite(&db).await?);
    println!("pairing store: {}", db.display());

    // 1. Policy: the sandbox's clients get read/write/approvals without a human.
    auth.set_policy("alpha", SandboxPolicy::default());
    println!(
        "policy alpha: ceiling=[{}] mode=grant-within-ceiling",
        auth.policy("alpha").ceiling
    );

    // The sandbox CLI's device, connecting on loopback with the sandbox token (already verified
    // by the gateway, as is the device signature).
    let device = DeviceInfo {
        device_id: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        public_key: "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg".into(),
        metadata: DeviceMetadata {
            platform: Some("linux".into()),
            client_id: Some("cli".into()),
            client_mode: Some("cli".into()),
            ..Default::default()
        },
    };
    let connect = |scopes: &[Scope]| ConnectAttempt {
        sandbox: "alpha".into(),
        device: Some(device.clone()),
        role: Role::Operator,
        scopes: scopes.to_vec(),
        locality: Locality::Loopback,
        credential: Credential::SandboxToken,
    };

    // 2. First connect: paired by policy in the same round trip.
    let d = auth.connect(&connect(&[Scope::Read])).await?;
    println!("connect [operator.read]            -> {}", describe(&d));

    // 3. Late upgrade to write (the #4263 case): still within the ceiling, granted at once.
    let d = auth.connect(&connect(&[Scope::Write])).await?;
    println!("connect [operator.write]           -> {}", describe(&d));

    // 4. Beyond the ceiling: admin. Partial grant now, a pending request for the rest.
    let mut events = auth.subscribe();
    let d = auth
        .connect(&connect(&[Scope::Admin, Scope::Pairing]))
        .await?;
    println!("connect [operator.admin,.pairing]  -> {}", describe(&d));
    if let Ok(ev) = events.try_recv() {
        println!("event {}: {}", ev.name(), ev.payload());
    }
    let request_id = d.request_id().map(str::to_owned).unwrap_or_default();

    // 5. The client waits on its own request (no polling) while the host admin approves it.
    let waiter = {
        let (auth, id) = (auth.clone(), request_id.clone());
        tokio::spawn(async move {
            auth.wait_for_resolution("alpha", &id, Duration::from_secs(60))
                .await
        })
    };
    let list = auth.list("alpha").await?;
    println!(
        "devices list: {} pending, {} paired",
        list.pending.len(),
        list.paired.len()
    );
    let approval = auth
        .approve("alpha", &request_id, &Approver::HostAdmin)
        .await?;
    println!(
        "host admin approved {} -> baseline now [{}]",
        approval.resolution.request_id, approval.device.scopes
    );
    let resolution = waiter.await??;
    println!("waiter woke: decision={:?}", resolution.decision);

    // 6. Reconnect: everything asked is now granted.
    let d = auth
        .connect(&connect(&[Scope::Admin, Scope::Pairing]))
        .await?;
    println!("connect [operator.admin,.pairing]  -> {}", describe(&d));
    Ok(())
}

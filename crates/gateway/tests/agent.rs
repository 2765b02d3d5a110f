#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Agent turns over real sockets: two sandboxes, each answered by its own route.

mod common;

use sandgate_gateway::client::AgentTurn;

fn turn(msg: &str) -> AgentTurn {
    AgentTurn {
        agent_id: "main".into(),
        message: msg.into(),
        session_id: "debug".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preapproved_cli_runs_a_turn_without_any_approval() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(dir.path()).await;
    let alpha = common::mock_sandbox(&gw, "alpha", "mock-alpha").await;
    let mut conn = common::cli(&alpha).await;
    assert!(
        conn.granted_scopes()
            .satisfies(&sandgate_core::Scope::Write)
    );
    let mut deltas = Vec::new();
    let reply = conn
        .agent(turn("hello there"), |d| deltas.push(d.to_owned()))
        .await
        .unwrap();
    assert!(reply.text.contains("mock-alpha"), "{}", reply.text);
    assert_eq!(reply.provider, "mock");
    assert!(deltas.len() > 1, "streamed in pieces: {deltas:?}");
    assert_eq!(deltas.concat(), reply.text);
    // History is kept per session and persisted.
    let hist = conn
        .call(
            "sessions.get",
            serde_json::json!({"sessionKey": reply.session_key}),
        )
        .await
        .unwrap();
    assert_eq!(hist["messages"].as_array().unwrap().len(), 2);
    conn.close().await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sandboxes_concurrent_turns_each_answered_by_its_own_route() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(dir.path()).await;
    let alpha = common::mock_sandbox(&gw, "alpha", "model-alpha").await;
    let beta = common::mock_sandbox(&gw, "beta", "model-beta").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        for (info, model) in [(alpha.clone(), "model-alpha"), (beta.clone(), "model-beta")] {
            tasks.push(tokio::spawn(async move {
                let mut conn = common::cli(&info).await;
                let reply = conn
                    .agent(turn(&format!("turn {i}")), |_| {})
                    .await
                    .unwrap();
                assert_eq!(reply.model, model);
                assert!(reply.text.contains(model), "{}", reply.text);
                conn.close().await;
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_waits_for_its_pending_request_and_reconnects_with_the_full_grant() {
    use sandgate_core::Scope;
    use sandgate_gateway::client::{self, ClientOptions};
    let dir = tempfile::tempdir().unwrap();
    let gw = std::sync::Arc::new(common::gateway(dir.path()).await);
    let alpha = common::mock_sandbox(&gw, "alpha", "m").await;
    let device_dir = tempfile::tempdir().unwrap();
    let mut opts = ClientOptions::new(alpha.url.clone());
    opts.token = Some(alpha.token.clone());
    opts.identity_dir = Some(device_dir.path().to_path_buf());
    opts.scopes = vec![Scope::Admin];
    opts.wait_for_approval = Some(std::time::Duration::from_secs(30));
    let mut events = gw.pairing_events();
    let waiter = tokio::spawn(client::connect(opts));
    // The host admin approves the request as soon as it is announced (bounded wait).
    let request_id = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            if let sandgate_pairing::PairingEvent::Requested(p) = events.recv().await.unwrap() {
                break p.request_id;
            }
        }
    })
    .await
    .expect("no pending request was announced");
    gw.devices_approve("alpha", &request_id).await.unwrap();
    let conn = waiter.await.unwrap().unwrap();
    assert!(
        conn.granted_scopes().contains(&Scope::Admin),
        "{:?}",
        conn.granted_scopes()
    );
    assert!(conn.pending_request().is_none());
    conn.close().await;
    std::sync::Arc::try_unwrap(gw).unwrap().shutdown().await;
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A listener handed to the gateway (as a sandbox's init hands over the one bound inside the
//! sandbox's network namespace) serves that sandbox like its host port; a new one replaces it.

mod common;

async fn models(addr: std::net::SocketAddr, token: &str) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .get(format!("http://{addr}/v1/models"))
        .bearer_auth(token)
        .send()
        .await
}

#[tokio::test]
async fn attached_listeners_serve_the_sandbox_and_replace_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::gateway(dir.path()).await;
    let a = common::mock_sandbox(&gw, "alpha", "mock-alpha").await;
    let b = common::mock_sandbox(&gw, "beta", "mock-beta").await;
    assert!(!a.sandboxed_listener);

    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let first_addr = gw.attach_listener("alpha", first).await.unwrap();
    let body = models(first_addr, &a.token)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("mock-alpha"), "{body}");
    // It is alpha's: beta's token is refused there.
    assert_eq!(models(first_addr, &b.token).await.unwrap().status(), 401);
    assert!(gw.sandbox("alpha").await.unwrap().sandboxed_listener);

    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second_addr = gw.attach_listener("alpha", second).await.unwrap();
    assert!(
        models(second_addr, &a.token)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(
        models(first_addr, &a.token).await.is_err(),
        "the replaced listener still serves"
    );

    assert!(gw.detach_listener("alpha").await.unwrap());
    assert!(models(second_addr, &a.token).await.is_err());
    assert!(!gw.detach_listener("alpha").await.unwrap());
    // The host-side port never stopped.
    assert!(
        models(
            std::net::SocketAddr::from(([127, 0, 0, 1], a.port)),
            &a.token
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );
    assert!(
        gw.attach_listener(
            "nobody",
            std::net::TcpListener::bind("127.0.0.1:0").unwrap()
        )
        .await
        .is_err()
    );
    gw.shutdown().await;
}

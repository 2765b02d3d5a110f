//! One test per bug of the "scope upgrade pending approval → embedded fallback" family
//! (nemoclaw-multi-sandbox.md §3). Each reaches "approved" with zero human steps when the request
//! is within policy, and with exactly one host-admin approval otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sandgate_pairing::{Approver, Decision, PairingAuthority, PairingError, PairingReason, Store};

const CLI_DEFAULT: &[&str] = &[
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
    "operator.talk.secrets",
];

fn approved_scopes(d: &Decision) -> String {
    match d {
        Decision::Approved { scopes, .. } => scopes.to_csv(),
        other => panic!("expected Approved, got {other:?}"),
    }
}

/// #4462: a CLI device paired with only `operator.pairing`; the agent needs `operator.write`.
/// Within policy the agent's connect is approved at once. Beyond policy the device cannot
/// approve its own upgrade (it would need the scopes it asks for), but the host admin can,
/// without holding or requesting anything.
async fn approver_deadlock<S: Store>(
    auth: &PairingAuthority<S>,
    _clock: &sandgate_pairing::ManualClock,
) {
    let sb = "alpha";
    let cli = device(4462);
    // The CLI device was first paired (remotely, by the admin) for operator.pairing only.
    let d = auth
        .connect(&remote(sb, &cli, &["operator.pairing"]))
        .await
        .unwrap();
    let id = d.request_id().unwrap().to_owned();
    auth.approve(sb, &id, &Approver::HostAdmin).await.unwrap();
    let rec = auth.device(sb, &cli.device_id).await.unwrap().unwrap();
    assert_eq!(rec.scopes.to_csv(), "operator.pairing");

    // Within policy: the agent turn (loopback + sandbox token) asking write: zero human steps.
    let d = auth
        .connect(&local(sb, &cli, &["operator.write"]))
        .await
        .unwrap();
    assert_eq!(approved_scopes(&d), "operator.read,operator.write");
    assert!(auth.list(sb).await.unwrap().pending.is_empty());

    // Beyond policy: the agent asks admin. The device's own pairing-only session cannot approve.
    let d = auth
        .connect(&local(sb, &cli, &["operator.admin"]))
        .await
        .unwrap();
    let Decision::PartiallyGranted {
        pending, granted, ..
    } = &d
    else {
        panic!("{d:?}")
    };
    // An admin request gets everything admin implies within baseline ∪ ceiling.
    assert_eq!(
        granted.to_csv(),
        "operator.approvals,operator.pairing,operator.read,operator.write"
    );
    assert!(pending.remedy.contains(&format!(
        "sandgate alpha devices approve {}",
        pending.request_id
    )));
    let own = Approver::Session {
        scopes: set(&["operator.pairing"]),
        device_id: Some(cli.device_id.clone()),
    };
    let before = auth.list(sb).await.unwrap();
    let err = auth
        .approve(sb, &pending.request_id, &own)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PairingError::ApproverMissingScope { .. }),
        "{err:?}"
    );
    assert_eq!(
        auth.list(sb).await.unwrap(),
        before,
        "a refused approval changes nothing"
    );

    // Exactly one host-admin approval, which needs no scopes and no gateway connect.
    auth.approve(sb, &pending.request_id, &Approver::HostAdmin)
        .await
        .unwrap();
    let d = auth
        .connect(&local(sb, &cli, &["operator.admin"]))
        .await
        .unwrap();
    assert_eq!(
        approved_scopes(&d),
        "operator.admin,operator.approvals,operator.pairing,operator.read,operator.write"
    );
}

#[tokio::test]
async fn issue_4462_approver_deadlock() {
    on_both_stores!(approver_deadlock);
}

/// #4263 / #5343: first connect asks read; a later agent turn asks write, in two sandboxes
/// sharing one gateway, concurrently.
async fn late_scope_upgrade<S: Store>(
    auth: &PairingAuthority<S>,
    _clock: &sandgate_pairing::ManualClock,
) {
    let (a, b) = (device(4263), device(5343));
    for (sb, dev) in [("ollama-resume", &a), ("prachi-gemini", &b)] {
        let d = auth
            .connect(&local(sb, dev, &["operator.read"]))
            .await
            .unwrap();
        assert_eq!(approved_scopes(&d), "operator.read");
        assert!(
            d.device_token().is_some(),
            "first pairing issues a device token"
        );
    }
    // Both sandboxes' first agent turns at the same time: write granted in the same round trip.
    let (ta, tb) = (
        local("ollama-resume", &a, &["operator.write"]),
        local("prachi-gemini", &b, &["operator.write"]),
    );
    let (da, db) = tokio::join!(auth.connect(&ta), auth.connect(&tb));
    assert_eq!(
        approved_scopes(&da.unwrap()),
        "operator.read,operator.write"
    );
    assert_eq!(
        approved_scopes(&db.unwrap()),
        "operator.read,operator.write"
    );
    assert!(auth.list("ollama-resume").await.unwrap().pending.is_empty());
    assert!(auth.list("prachi-gemini").await.unwrap().pending.is_empty());

    // Beyond policy (a remote device): one admin approval per upgrade, no more.
    let r = device(52);
    let d = auth
        .connect(&remote("ollama-resume", &r, &["operator.read"]))
        .await
        .unwrap();
    auth.approve(
        "ollama-resume",
        d.request_id().unwrap(),
        &Approver::HostAdmin,
    )
    .await
    .unwrap();
    let d = auth
        .connect(&remote("ollama-resume", &r, &["operator.read"]))
        .await
        .unwrap();
    assert_eq!(approved_scopes(&d), "operator.read");
    let d = auth
        .connect(&remote("ollama-resume", &r, &["operator.write"]))
        .await
        .unwrap();
    let Decision::PairingRequired {
        reason, request_id, ..
    } = &d
    else {
        panic!("{d:?}")
    };
    assert_eq!(*reason, PairingReason::ScopeUpgrade);
    auth.approve(
        "ollama-resume",
        request_id.as_deref().unwrap(),
        &Approver::HostAdmin,
    )
    .await
    .unwrap();
    let d = auth
        .connect(&remote("ollama-resume", &r, &["operator.write"]))
        .await
        .unwrap();
    assert_eq!(approved_scopes(&d), "operator.read,operator.write");
}

#[tokio::test]
async fn issue_4263_5343_late_scope_upgrade() {
    on_both_stores!(late_scope_upgrade);
}

/// #9264: fresh onboarding pairs the CLI, then two upgrades follow back to back.
async fn two_consecutive_upgrades<S: Store>(
    auth: &PairingAuthority<S>,
    _clock: &sandgate_pairing::ManualClock,
) {
    let sb = "beta";
    let cli = device(9264);
    for (ask, expect) in [
        (&["operator.read"][..], "operator.read"),
        (
            &["operator.read", "operator.write"][..],
            "operator.read,operator.write",
        ),
        (
            &["operator.approvals", "operator.write"][..],
            "operator.approvals,operator.read,operator.write",
        ),
    ] {
        let d = auth.connect(&local(sb, &cli, ask)).await.unwrap();
        assert_eq!(approved_scopes(&d), expect);
    }
    assert!(auth.list(sb).await.unwrap().pending.is_empty());

    // Two upgrades beyond the ceiling: the second supersedes the first (merged), and one admin
    // approval covers both.
    let d1 = auth
        .connect(&local(sb, &cli, &["operator.write", "operator.admin"]))
        .await
        .unwrap();
    let d2 = auth
        .connect(&local(sb, &cli, &["operator.pairing"]))
        .await
        .unwrap();
    let (id1, id2) = (
        d1.request_id().unwrap().to_owned(),
        d2.request_id().unwrap().to_owned(),
    );
    assert_ne!(id1, id2);
    let list = auth.list(sb).await.unwrap();
    assert_eq!(list.pending.len(), 1);
    assert_eq!(list.pending[0].request_id, id2);
    assert!(matches!(
        auth.approve(sb, &id1, &Approver::HostAdmin).await,
        Err(PairingError::Superseded { by }) if by == id2
    ));
    auth.approve(sb, &id2, &Approver::HostAdmin).await.unwrap();
    let d = auth
        .connect(&local(sb, &cli, &["operator.admin", "operator.pairing"]))
        .await
        .unwrap();
    assert_eq!(
        approved_scopes(&d),
        "operator.admin,operator.approvals,operator.pairing,operator.read,operator.write"
    );
}

#[tokio::test]
async fn issue_9264_two_consecutive_upgrades() {
    on_both_stores!(two_consecutive_upgrades);
}

/// #4504: the first agent turn after onboarding. The sandbox CLI device, pre-approved during
/// onboarding, asks write and gets it immediately; a device-less 2026.9 CLI with the sandbox
/// token gets it too. The CLI's full default set needs exactly one admin approval.
async fn first_agent_turn<S: Store>(
    auth: &PairingAuthority<S>,
    _clock: &sandgate_pairing::ManualClock,
) {
    let sb = "gamma";
    let cli = device(4504);
    // Onboarding pre-pairs the sandbox CLI device (e.g. a `devices list` with operator.pairing
    // approved by the host admin).
    let d = auth
        .connect(&local(sb, &cli, &["operator.pairing"]))
        .await
        .unwrap();
    let Decision::PartiallyGranted { pending, .. } = &d else {
        panic!("{d:?}")
    };
    auth.approve(sb, &pending.request_id, &Approver::HostAdmin)
        .await
        .unwrap();

    // First agent turn: write, granted at once, no pending request, no watcher.
    let d = auth
        .connect(&local(sb, &cli, &["operator.write"]))
        .await
        .unwrap();
    assert_eq!(approved_scopes(&d), "operator.read,operator.write");
    assert!(auth.list(sb).await.unwrap().pending.is_empty());

    // The 2026.9 CLI connects device-less with the sandbox token on loopback.
    let d = auth
        .connect(&attempt(
            sb,
            None,
            CLI_DEFAULT,
            sandgate_pairing::Locality::Loopback,
            sandgate_pairing::Credential::SandboxToken,
        ))
        .await
        .unwrap();
    let Decision::Approved {
        scopes,
        not_granted,
        device_token,
        ..
    } = &d
    else {
        panic!("{d:?}")
    };
    assert_eq!(
        scopes.to_csv(),
        "operator.approvals,operator.read,operator.write"
    );
    assert_eq!(
        not_granted.to_csv(),
        "operator.admin,operator.pairing,operator.talk.secrets"
    );
    assert!(device_token.is_none());

    // The full CLI default set: partial grant now, one admin approval for the rest.
    let d = auth.connect(&local(sb, &cli, CLI_DEFAULT)).await.unwrap();
    let Decision::PartiallyGranted {
        pending, granted, ..
    } = &d
    else {
        panic!("{d:?}")
    };
    assert_eq!(
        granted.to_csv(),
        "operator.approvals,operator.pairing,operator.read,operator.write"
    );
    assert_eq!(
        pending.missing.to_csv(),
        "operator.admin,operator.talk.secrets"
    );
    auth.approve(sb, &pending.request_id, &Approver::HostAdmin)
        .await
        .unwrap();
    let d = auth.connect(&local(sb, &cli, CLI_DEFAULT)).await.unwrap();
    assert!(matches!(d, Decision::Approved { .. }), "{d:?}");
}

#[tokio::test]
async fn issue_4504_first_agent_turn_after_onboarding() {
    on_both_stores!(first_agent_turn);
}

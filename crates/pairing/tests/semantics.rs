//! Decision semantics: device-less connects, strict mode, classification order, pending request
//! lifecycle, device tokens, sandbox isolation, events and waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use sandgate_pairing::{
    Approver, Credential, Decision, Locality, PairingError, PairingReason, ResolutionDecision,
    Role, SandboxPolicy, TokenFailure, WaitError,
};

#[tokio::test]
async fn deviceless_sandbox_token_gets_requested_within_ceiling_only_on_loopback() {
    let (auth, _) = memory();
    let a = attempt(
        "s1",
        None,
        &["operator.admin", "operator.read"],
        Locality::Loopback,
        Credential::SandboxToken,
    );
    let d = auth.connect(&a).await.unwrap();
    let Decision::Approved {
        scopes,
        not_granted,
        device_token,
        ..
    } = d
    else {
        panic!()
    };
    assert_eq!(
        scopes.to_csv(),
        "operator.approvals,operator.read,operator.write"
    );
    assert_eq!(not_granted.to_csv(), "operator.admin");
    assert!(device_token.is_none());
    assert_eq!(
        auth.list("s1").await.unwrap(),
        Default::default(),
        "no state for device-less"
    );

    for (loc, cred) in [
        (Locality::Remote, Credential::SandboxToken),
        (Locality::Loopback, Credential::None),
        (Locality::Loopback, Credential::DeviceToken("x".into())),
    ] {
        let a = attempt("s1", None, &["operator.read"], loc, cred);
        assert_eq!(
            auth.connect(&a).await.unwrap_err(),
            PairingError::DeviceIdentityRequired
        );
    }
    let mut node = attempt(
        "s1",
        None,
        &[],
        Locality::Loopback,
        Credential::SandboxToken,
    );
    node.role = Role::Node;
    assert_eq!(
        auth.connect(&node).await.unwrap_err(),
        PairingError::DeviceIdentityRequired
    );
}

#[tokio::test]
async fn strict_mode_refuses_beyond_ceiling_and_grants_within() {
    let (auth, _) = memory();
    auth.set_policy("s", SandboxPolicy::default().strict());
    let dev = device(1);
    let d = auth
        .connect(&local("s", &dev, &["operator.admin"]))
        .await
        .unwrap();
    let Decision::PairingRequired {
        reason,
        request_id,
        remedy,
        details,
    } = &d
    else {
        panic!("{d:?}")
    };
    assert_eq!(*reason, PairingReason::NotPaired);
    assert!(remedy.contains(&format!(
        "sandgate s devices approve {}",
        request_id.as_deref().unwrap()
    )));
    assert_eq!(
        details.requested_scopes.to_csv(),
        "operator.admin,operator.read,operator.write"
    );
    assert!(
        auth.device("s", &dev.device_id).await.unwrap().is_none(),
        "refusal pairs nothing"
    );
    assert!(
        d.message()
            .unwrap()
            .starts_with("pairing required: device is not approved yet (requestId: ")
    );

    let d = auth
        .connect(&local("s", &dev, &["operator.write"]))
        .await
        .unwrap();
    assert!(matches!(d, Decision::Approved { .. }));
    let d = auth
        .connect(&local("s", &dev, &["operator.pairing"]))
        .await
        .unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::ScopeUpgrade,
            ..
        }
    ));
}

#[tokio::test]
async fn remote_clients_never_get_silent_approval() {
    let (auth, _) = memory();
    let dev = device(2);
    let d = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::NotPaired,
            ..
        }
    ));
    // Remote with the sandbox token is still not eligible.
    let mut a = local("s", &dev, &["operator.read"]);
    a.locality = Locality::Remote;
    let d = auth.connect(&a).await.unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::NotPaired,
            ..
        }
    ));
    assert!(auth.device("s", &dev.device_id).await.unwrap().is_none());
}

#[tokio::test]
async fn pending_requests_refresh_supersede_and_expire() {
    let (auth, clock) = memory();
    let dev = device(3);
    let d1 = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    let id1 = d1.request_id().unwrap().to_owned();
    clock.advance(Duration::from_secs(60));
    let d2 = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert_eq!(
        d2.request_id().unwrap(),
        id1,
        "identical re-request keeps the id"
    );
    let list = auth.list("s").await.unwrap();
    assert_eq!(list.pending.len(), 1);
    assert_eq!(list.pending[0].ts, T0, "and keeps ts");

    let d3 = auth
        .connect(&remote("s", &dev, &["operator.approvals"]))
        .await
        .unwrap();
    let id3 = d3.request_id().unwrap().to_owned();
    assert_ne!(id3, id1);
    let list = auth.list("s").await.unwrap();
    assert_eq!(list.pending.len(), 1);
    assert_eq!(list.pending[0].request_id, id3);
    assert_eq!(list.pending[0].ts, T0 + 60_000);
    let strings: Vec<&str> = list.pending[0].scopes.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        strings,
        ["operator.read", "operator.approvals"],
        "merged, in order sent"
    );

    // A subset re-request does not churn the id.
    let d4 = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert_eq!(d4.request_id().unwrap(), id3);

    clock.advance(Duration::from_secs(301));
    assert!(auth.list("s").await.unwrap().pending.is_empty());
    assert_eq!(
        auth.approve("s", &id3, &Approver::HostAdmin)
            .await
            .unwrap_err(),
        PairingError::RequestExpired
    );
    // After expiry a new request gets a fresh id, and the old one stays expired.
    let d5 = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert_ne!(d5.request_id().unwrap(), id3);
    assert_eq!(
        auth.approve("s", &id3, &Approver::HostAdmin)
            .await
            .unwrap_err(),
        PairingError::RequestExpired
    );
    auth.approve("s", d5.request_id().unwrap(), &Approver::HostAdmin)
        .await
        .unwrap();
}

#[tokio::test]
async fn classification_order_key_change_metadata_role() {
    let (auth, _) = memory();
    let dev = device(4);
    auth.connect(&local("s", &dev, &["operator.read"]))
        .await
        .unwrap();

    // Changed public key: always not-paired, even for an eligible client; isRepair set.
    let mut rekeyed = dev.clone();
    rekeyed.public_key = "otherKeyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB".into();
    let d = auth
        .connect(&local("s", &rekeyed, &["operator.read"]))
        .await
        .unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::NotPaired,
            ..
        }
    ));
    assert!(auth.list("s").await.unwrap().pending[0].is_repair);
    auth.reject("s", d.request_id().unwrap(), &Approver::HostAdmin)
        .await
        .unwrap();

    // Platform change: remote → metadata-upgrade; eligible loopback → re-pinned by policy.
    let mut moved = dev.clone();
    moved.metadata.platform = Some("darwin".into());
    let d = auth
        .connect(&remote("s", &moved, &["operator.read"]))
        .await
        .unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::MetadataUpgrade,
            ..
        }
    ));
    // Case and whitespace do not count as a change.
    let mut same = dev.clone();
    same.metadata.platform = Some(" LINUX ".into());
    let d = auth
        .connect(&remote("s", &same, &["operator.read"]))
        .await
        .unwrap();
    assert!(d.is_accepted(), "{d:?}");
    let d = auth
        .connect(&local("s", &moved, &["operator.read"]))
        .await
        .unwrap();
    assert!(d.is_accepted());
    let rec = auth.device("s", &dev.device_id).await.unwrap().unwrap();
    assert_eq!(rec.metadata.platform.as_deref(), Some("darwin"));
    // The metadata-upgrade request is now covered and resolved.
    assert!(auth.list("s").await.unwrap().pending.is_empty());

    // Node role never granted by policy.
    let mut node = local("s", &moved, &[]);
    node.role = Role::Node;
    let d = auth.connect(&node).await.unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::RoleUpgrade,
            ..
        }
    ));
    let session = Approver::Session {
        scopes: set(&["operator.pairing", "operator.write"]),
        device_id: None,
    };
    assert!(matches!(
        auth.approve("s", d.request_id().unwrap(), &session).await,
        Err(PairingError::AdminRequired { role: Role::Node })
    ));
    auth.approve("s", d.request_id().unwrap(), &Approver::HostAdmin)
        .await
        .unwrap();
    let d = auth.connect(&node).await.unwrap();
    assert!(d.is_accepted(), "{d:?}");
}

#[tokio::test]
async fn device_tokens_issue_reuse_rotate_revoke() {
    let (auth, _) = memory();
    let dev = device(5);
    let d = auth
        .connect(&remote("s", &dev, &["operator.read", "operator.write"]))
        .await
        .unwrap();
    auth.approve("s", d.request_id().unwrap(), &Approver::HostAdmin)
        .await
        .unwrap();
    // The token minted at approval was never delivered: the next connect hands over a new one.
    let d = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    let tok = d.device_token().expect("token delivered").clone();
    assert_eq!(tok.token().len(), 43);
    assert_eq!(tok.scopes.to_csv(), "operator.read,operator.write");
    assert!(
        !format!("{d:?}").contains(tok.token()),
        "Debug never shows the token"
    );

    // Device-token reconnect: accepted, token reused (no new token), lastUsedAtMs recorded.
    let d = auth
        .connect(&with_token("s", &dev, &["operator.write"], tok.token()))
        .await
        .unwrap();
    assert!(
        matches!(
            &d,
            Decision::Approved {
                device_token: None,
                ..
            }
        ),
        "{d:?}"
    );
    let view = auth.device("s", &dev.device_id).await.unwrap().unwrap();
    assert_eq!(view.tokens[0].last_used_at_ms, Some(T0));
    // Another sandbox-less reconnect with a covered request keeps the token too.
    let d = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert!(d.device_token().is_none());

    // Wrong token / beyond token scopes.
    let e = auth
        .connect(&with_token("s", &dev, &["operator.read"], "AAAA"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::TokenMismatch)
    );
    assert_eq!(e.code(), "AUTH_DEVICE_TOKEN_MISMATCH");
    let e = auth
        .connect(&with_token("s", &dev, &["operator.admin"], tok.token()))
        .await
        .unwrap_err();
    assert_eq!(e, PairingError::ScopeMismatch);
    assert_eq!(e.code(), "AUTH_SCOPE_MISMATCH");
    let e = auth
        .connect(&with_token("other", &dev, &["operator.read"], tok.token()))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::DeviceNotPaired),
        "per-sandbox"
    );

    // Rotation: old token dies, new one works; returns the affected device/role.
    let rot = auth
        .rotate_token(
            "s",
            &dev.device_id,
            Role::Operator,
            Some(scopes(&["operator.read"])),
            &Approver::HostAdmin,
        )
        .await
        .unwrap();
    assert_eq!(
        (rot.device_id.as_str(), rot.role),
        (dev.device_id.as_str(), Role::Operator)
    );
    assert_eq!(rot.token.scopes.to_csv(), "operator.read");
    let e = auth
        .connect(&with_token("s", &dev, &["operator.read"], tok.token()))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::TokenMismatch)
    );
    auth.verify_device_token(
        "s",
        &dev.device_id,
        Role::Operator,
        rot.token.token(),
        &scopes(&["operator.read"]),
    )
    .await
    .unwrap();
    assert!(
        auth.connect(&with_token(
            "s",
            &dev,
            &["operator.read"],
            rot.token.token()
        ))
        .await
        .unwrap()
        .is_accepted()
    );
    // Rotation beyond the baseline is refused.
    let e = auth
        .rotate_token(
            "s",
            &dev.device_id,
            Role::Operator,
            Some(scopes(&["operator.admin"])),
            &Approver::HostAdmin,
        )
        .await
        .unwrap_err();
    assert_eq!(e, PairingError::ScopeOutsideBaseline);

    // Revocation: token refused, the next connect is a role upgrade.
    let rev = auth
        .revoke_token("s", &dev.device_id, Role::Operator, &Approver::HostAdmin)
        .await
        .unwrap();
    assert_eq!(rev.revoked_at_ms, T0);
    let e = auth
        .connect(&with_token(
            "s",
            &dev,
            &["operator.read"],
            rot.token.token(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::TokenRevoked)
    );
    let d = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::RoleUpgrade,
            ..
        }
    ));
}

#[tokio::test]
async fn sessions_approve_only_what_they_hold_and_manage_only_their_device() {
    let (auth, _) = memory();
    let dev = device(6);
    let d = auth
        .connect(&remote("s", &dev, &["operator.write"]))
        .await
        .unwrap();
    let id = d.request_id().unwrap().to_owned();
    let no_pairing = Approver::Session {
        scopes: set(&["operator.write"]),
        device_id: None,
    };
    assert!(matches!(
        auth.approve("s", &id, &no_pairing).await,
        Err(PairingError::ApproverMissingScope { .. })
    ));
    let reader = Approver::Session {
        scopes: set(&["operator.pairing", "operator.read"]),
        device_id: None,
    };
    assert_eq!(
        auth.approve("s", &id, &reader).await.unwrap_err(),
        PairingError::ApproverMissingScope {
            scope: "operator.write".into()
        }
    );
    let writer = Approver::Session {
        scopes: set(&["operator.pairing", "operator.write"]),
        device_id: None,
    };
    let ok = auth.approve("s", &id, &writer).await.unwrap();
    assert_eq!(ok.device.scopes.to_csv(), "operator.read,operator.write");
    assert_eq!(
        ok.device.approved_via,
        sandgate_pairing::ApprovedVia::Session
    );
    assert_eq!(
        auth.approve("s", &id, &writer).await.unwrap_err(),
        PairingError::AlreadyApproved
    );

    let other = Approver::Session {
        scopes: set(&["operator.pairing", "operator.write"]),
        device_id: Some(device(99).device_id),
    };
    assert_eq!(
        auth.remove_device("s", &dev.device_id, &other)
            .await
            .unwrap_err(),
        PairingError::NotOwnDevice
    );
    let own = Approver::Session {
        scopes: set(&["operator.pairing"]),
        device_id: Some(dev.device_id.clone()),
    };
    // Revoking a token needs the token's scopes too.
    assert!(matches!(
        auth.revoke_token("s", &dev.device_id, Role::Operator, &own)
            .await,
        Err(PairingError::ApproverMissingScope { .. })
    ));
    let removed = auth.remove_device("s", &dev.device_id, &own).await.unwrap();
    assert_eq!(removed.roles, vec![Role::Operator]);
    assert_eq!(
        auth.remove_device("s", &dev.device_id, &own)
            .await
            .unwrap_err(),
        PairingError::UnknownDevice
    );
}

#[tokio::test]
async fn sandboxes_are_isolated() {
    let (auth, _) = memory();
    let dev = device(7);
    auth.connect(&local("a", &dev, &["operator.write"]))
        .await
        .unwrap();
    auth.set_policy("b", SandboxPolicy::with_ceiling(set(&["operator.read"])));
    let d = auth
        .connect(&remote("b", &dev, &["operator.read"]))
        .await
        .unwrap();
    assert!(matches!(
        d,
        Decision::PairingRequired {
            reason: PairingReason::NotPaired,
            ..
        }
    ));
    let d = auth
        .connect(&local("b", &dev, &["operator.write"]))
        .await
        .unwrap();
    let Decision::PartiallyGranted {
        granted, pending, ..
    } = d
    else {
        panic!()
    };
    assert_eq!(granted.to_csv(), "operator.read");
    assert!(pending.remedy.starts_with("sandgate b devices approve "));
    assert!(
        auth.approve("a", &pending.request_id, &Approver::HostAdmin)
            .await
            .is_err()
    );
    assert_eq!(
        auth.list("a").await.unwrap().paired[0].scopes.to_csv(),
        "operator.read,operator.write"
    );
}

#[tokio::test]
async fn events_and_wire_shapes() {
    let (auth, _) = memory();
    let mut rx = auth.subscribe();
    let dev = device(8);
    let d = auth
        .connect(&remote("s", &dev, &["operator.write", "operator.read"]))
        .await
        .unwrap();
    let id = d.request_id().unwrap().to_owned();
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.name(), "device.pair.requested");
    assert_eq!(ev.sandbox(), "s");
    let v = ev.payload();
    for k in [
        "requestId",
        "deviceId",
        "publicKey",
        "platform",
        "clientId",
        "clientMode",
        "role",
        "roles",
        "scopes",
        "silent",
        "isRepair",
        "ts",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(
        v["scopes"],
        serde_json::json!(["operator.write", "operator.read"])
    );
    assert!(uuid::Uuid::parse_str(&id).is_ok_and(|u| u.get_version_num() == 4));
    // Refresh: no new event.
    auth.connect(&remote("s", &dev, &["operator.write", "operator.read"]))
        .await
        .unwrap();
    auth.approve("s", &id, &Approver::HostAdmin).await.unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.name(), "device.pair.resolved");
    assert_eq!(
        ev.payload(),
        serde_json::json!({"requestId": id, "deviceId": dev.device_id, "decision": "approved", "ts": T0})
    );
    // list is redacted: no token values or hashes.
    auth.connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    let json = serde_json::to_string(&auth.list("s").await.unwrap()).unwrap();
    assert!(
        !json.contains("hash") && !json.contains("\"token\""),
        "{json}"
    );
}

#[tokio::test]
async fn wait_for_resolution_wakes_on_approval_rejection_supersede_and_timeout() {
    let (auth, _) = memory();
    let auth = std::sync::Arc::new(auth);
    let dev = device(9);
    let d = auth
        .connect(&remote("s", &dev, &["operator.read"]))
        .await
        .unwrap();
    let id = d.request_id().unwrap().to_owned();
    let waiter = {
        let (auth, id) = (auth.clone(), id.clone());
        tokio::spawn(async move {
            auth.wait_for_resolution("s", &id, Duration::from_secs(30))
                .await
        })
    };
    tokio::task::yield_now().await;
    auth.approve("s", &id, &Approver::HostAdmin).await.unwrap();
    let r = waiter.await.unwrap().unwrap();
    assert_eq!(r.decision, ResolutionDecision::Approved);
    // Already resolved: answered from history.
    assert_eq!(
        auth.wait_for_resolution("s", &id, Duration::from_secs(1))
            .await
            .unwrap(),
        r
    );

    let other = device(10);
    let d = auth
        .connect(&remote("s", &other, &["operator.read"]))
        .await
        .unwrap();
    let id2 = d.request_id().unwrap().to_owned();
    let (w, _) = tokio::join!(
        auth.wait_for_resolution("s", &id2, Duration::from_secs(30)),
        async {
            tokio::task::yield_now().await;
            auth.reject("s", &id2, &Approver::HostAdmin).await.unwrap();
        }
    );
    assert_eq!(w.unwrap().decision, ResolutionDecision::Rejected);
    assert_eq!(
        auth.approve("s", &id2, &Approver::HostAdmin)
            .await
            .unwrap_err(),
        PairingError::AlreadyRejected
    );

    let d = auth
        .connect(&remote("s", &other, &["operator.read"]))
        .await
        .unwrap();
    let id3 = d.request_id().unwrap().to_owned();
    let (w, d4) = tokio::join!(
        auth.wait_for_resolution("s", &id3, Duration::from_secs(30)),
        async {
            tokio::task::yield_now().await;
            auth.connect(&remote("s", &other, &["operator.write"]))
                .await
                .unwrap()
        }
    );
    assert_eq!(
        w.unwrap_err(),
        WaitError::Superseded {
            by: d4.request_id().unwrap().to_owned()
        }
    );

    let e = auth
        .wait_for_resolution("s", d4.request_id().unwrap(), Duration::from_millis(20))
        .await;
    assert_eq!(e.unwrap_err(), WaitError::Timeout);
    assert_eq!(
        auth.wait_for_resolution("s", "nope", Duration::from_secs(1))
            .await
            .unwrap_err(),
        WaitError::UnknownRequest
    );
}

#[tokio::test]
async fn a_revoked_device_is_not_silently_regranted_by_policy() {
    let (auth, _) = memory();
    let dev = device(77);
    let d = auth
        .connect(&local("s1", &dev, &["operator.write"]))
        .await
        .unwrap();
    assert!(d.is_accepted());
    auth.revoke_token("s1", &dev.device_id, Role::Operator, &Approver::HostAdmin)
        .await
        .unwrap();
    // Same loopback client with the sandbox token: policy would grant, but a human revoked.
    let d = auth
        .connect(&local("s1", &dev, &["operator.write"]))
        .await
        .unwrap();
    let Decision::PairingRequired {
        reason,
        request_id,
        remedy,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert_eq!(reason, PairingReason::RoleUpgrade);
    let id = request_id.unwrap();
    assert!(remedy.contains(&id));
    // One host-admin approval restores it.
    auth.approve("s1", &id, &Approver::HostAdmin).await.unwrap();
    let d = auth
        .connect(&local("s1", &dev, &["operator.write"]))
        .await
        .unwrap();
    assert!(matches!(d, Decision::Approved { .. }), "{d:?}");
}

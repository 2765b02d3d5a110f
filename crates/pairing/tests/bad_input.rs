//! Bad input gets a typed error and leaves the state exactly as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use sandgate_pairing::{
    Approver, ConnectAttempt, Credential, Decision, Locality, PairingAuthority, PairingError, Role,
    Scope, Store, TokenFailure,
};

/// Builds a sandbox with a paired device, a live pending request, an approved request, a
/// rejected request and an expired request. Returns (paired device, live id, approved id,
/// rejected id, expired id).
async fn fixture<S: Store>(
    auth: &PairingAuthority<S>,
    clock: &sandgate_pairing::ManualClock,
) -> (sandgate_pairing::DeviceInfo, String, String, String, String) {
    let paired = device(1);
    let d = auth
        .connect(&remote("s", &paired, &["operator.read"]))
        .await
        .unwrap();
    let approved = d.request_id().unwrap().to_owned();
    auth.approve("s", &approved, &Approver::HostAdmin)
        .await
        .unwrap();
    auth.connect(&remote("s", &paired, &["operator.read"]))
        .await
        .unwrap();

    let d = auth
        .connect(&remote("s", &device(2), &["operator.read"]))
        .await
        .unwrap();
    let rejected = d.request_id().unwrap().to_owned();
    auth.reject("s", &rejected, &Approver::HostAdmin)
        .await
        .unwrap();

    let d = auth
        .connect(&remote("s", &device(3), &["operator.read"]))
        .await
        .unwrap();
    let expired = d.request_id().unwrap().to_owned();
    clock.advance(Duration::from_secs(301));

    let d = auth
        .connect(&remote("s", &paired, &["operator.write"]))
        .await
        .unwrap();
    let live = d.request_id().unwrap().to_owned();
    (paired, live, approved, rejected, expired)
}

async fn bad_inputs_change_nothing<S: Store>(
    auth: &PairingAuthority<S>,
    clock: &sandgate_pairing::ManualClock,
) {
    let (paired, live, approved, rejected, expired) = fixture(auth, clock).await;
    let before = auth.list("s").await.unwrap();
    assert_eq!(before.pending.len(), 1);
    let admin = Approver::HostAdmin;

    // Management errors.
    assert_eq!(
        auth.approve("s", "no-such-id", &admin).await.unwrap_err(),
        PairingError::UnknownRequest
    );
    assert_eq!(
        auth.approve("s", &approved, &admin).await.unwrap_err(),
        PairingError::AlreadyApproved
    );
    assert_eq!(
        auth.approve("s", &rejected, &admin).await.unwrap_err(),
        PairingError::AlreadyRejected
    );
    assert_eq!(
        auth.reject("s", &rejected, &admin).await.unwrap_err(),
        PairingError::AlreadyRejected
    );
    assert_eq!(
        auth.approve("s", &expired, &admin).await.unwrap_err(),
        PairingError::RequestExpired
    );
    assert_eq!(
        auth.approve("other", &live, &admin).await.unwrap_err(),
        PairingError::UnknownRequest
    );
    assert_eq!(
        auth.approve("bad sandbox!", &live, &admin)
            .await
            .unwrap_err()
            .code(),
        "INVALID_REQUEST"
    );
    let weak = Approver::Session {
        scopes: set(&["operator.pairing", "operator.read"]),
        device_id: None,
    };
    assert!(matches!(
        auth.approve("s", &live, &weak).await,
        Err(PairingError::ApproverMissingScope { .. })
    ));
    assert_eq!(
        auth.remove_device("s", &device(42).device_id, &admin)
            .await
            .unwrap_err(),
        PairingError::UnknownDevice
    );
    assert_eq!(
        auth.remove_device("s", "not-hex", &admin)
            .await
            .unwrap_err(),
        PairingError::UnknownDevice
    );
    assert_eq!(
        auth.revoke_token("s", &paired.device_id, Role::Node, &admin)
            .await
            .unwrap_err(),
        PairingError::UnknownDeviceRole { role: Role::Node }
    );
    assert_eq!(
        auth.rotate_token("s", &paired.device_id, Role::Node, None, &admin)
            .await
            .unwrap_err(),
        PairingError::UnknownDeviceRole { role: Role::Node }
    );
    assert_eq!(
        auth.rotate_token("s", &device(42).device_id, Role::Operator, None, &admin)
            .await
            .unwrap_err(),
        PairingError::UnknownDevice
    );
    let too_many: Vec<Scope> = (0..65).map(|_| Scope::Read).collect();
    assert!(matches!(
        auth.rotate_token(
            "s",
            &paired.device_id,
            Role::Operator,
            Some(too_many.clone()),
            &admin
        )
        .await,
        Err(PairingError::InvalidInput { .. })
    ));

    // Connect errors.
    let mut mismatched_key = paired.clone();
    mismatched_key.public_key = "someoneElseCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC".into();
    let e = auth
        .connect(&with_token(
            "s",
            &mismatched_key,
            &["operator.read"],
            "AAAA",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::DeviceNotPaired)
    );
    let e = auth
        .connect(&with_token("s", &device(77), &["operator.read"], "AAAA"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::DeviceNotPaired)
    );
    let e = auth
        .connect(&with_token("s", &paired, &["operator.read"], "AAAA"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PairingError::DeviceTokenMismatch(TokenFailure::TokenMismatch)
    );

    let base = local("s", &paired, &["operator.read"]);
    let huge = "x".repeat(10_000);
    let mut cases: Vec<(ConnectAttempt, &str)> = Vec::new();
    let mut a = base.clone();
    a.scopes = too_many;
    cases.push((a, "too many scopes"));
    let mut a = base.clone();
    a.scopes = vec![Scope::parse(&huge)];
    cases.push((a, "huge scope"));
    let mut a = base.clone();
    a.scopes = vec![Scope::parse("operator.frobnicate"), Scope::Read];
    cases.push((a, "unknown scope"));
    let mut a = base.clone();
    a.scopes = vec![Scope::parse("")];
    cases.push((a, "empty scope"));
    let mut a = base.clone();
    a.role = Role::Node;
    a.scopes = vec![Scope::Read];
    cases.push((a, "operator scope for node"));
    let mut a = base.clone();
    a.sandbox = huge.clone();
    cases.push((a, "huge sandbox"));
    let mut a = base.clone();
    a.sandbox = String::new();
    cases.push((a, "empty sandbox"));
    let mut a = base.clone();
    a.device.as_mut().unwrap().device_id = "ABC".into();
    cases.push((a, "bad device id"));
    let mut a = base.clone();
    a.device.as_mut().unwrap().device_id = "AB".repeat(32);
    cases.push((a, "uppercase device id"));
    let mut a = base.clone();
    a.device.as_mut().unwrap().public_key = huge.clone();
    cases.push((a, "huge key"));
    let mut a = base.clone();
    a.device.as_mut().unwrap().public_key = "not base64url!".into();
    cases.push((a, "bad key"));
    let mut a = base.clone();
    a.device.as_mut().unwrap().metadata.display_name = Some(huge.clone());
    cases.push((a, "huge display name"));
    let mut a = base.clone();
    a.device.as_mut().unwrap().metadata.platform = Some("linux\n".into());
    cases.push((a, "control char"));
    let mut a = base.clone();
    a.credential = Credential::DeviceToken(huge.clone());
    a.locality = Locality::Remote;
    cases.push((a, "huge token"));
    for (a, what) in cases {
        let e = auth.connect(&a).await.expect_err(what);
        assert!(
            matches!(
                e,
                PairingError::InvalidInput { .. }
                    | PairingError::UnknownScopes(_)
                    | PairingError::ScopeNotForRole { .. }
            ),
            "{what}: {e:?}"
        );
    }
    assert_eq!(
        auth.list("s").await.unwrap(),
        before,
        "state unchanged by every bad input"
    );

    // And the live request still works afterwards.
    auth.approve("s", &live, &admin).await.unwrap();
    let d = auth
        .connect(&remote("s", &paired, &["operator.write"]))
        .await
        .unwrap();
    assert!(matches!(d, Decision::Approved { .. }), "{d:?}");
}

#[tokio::test]
async fn bad_input_is_typed_and_changes_nothing() {
    on_both_stores!(bad_inputs_change_nothing);
}

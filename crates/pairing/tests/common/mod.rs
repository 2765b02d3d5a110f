//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use sandgate_pairing::{
    AuthorityConfig, ConnectAttempt, Credential, DeviceInfo, DeviceMetadata, Locality, ManualClock,
    MemoryStore, PairingAuthority, Role, Scope, SqliteStore,
};

pub const T0: u64 = 1_800_000_000_000;

/// A deterministic device: id = 64 hex chars, key = base64url-ish string.
pub fn device(n: u32) -> DeviceInfo {
    DeviceInfo {
        device_id: format!("{n:064x}"),
        public_key: format!("pk{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        metadata: DeviceMetadata {
            platform: Some("linux".into()),
            client_id: Some("cli".into()),
            client_mode: Some("cli".into()),
            ..Default::default()
        },
    }
}

pub fn scopes(list: &[&str]) -> Vec<Scope> {
    list.iter().map(|s| Scope::parse(s)).collect()
}

pub fn attempt(
    sandbox: &str,
    dev: Option<DeviceInfo>,
    list: &[&str],
    locality: Locality,
    credential: Credential,
) -> ConnectAttempt {
    ConnectAttempt {
        sandbox: sandbox.into(),
        device: dev,
        role: Role::Operator,
        scopes: scopes(list),
        locality,
        credential,
    }
}

/// Loopback + sandbox token: the eligible sandbox CLI.
pub fn local(sandbox: &str, dev: &DeviceInfo, list: &[&str]) -> ConnectAttempt {
    attempt(
        sandbox,
        Some(dev.clone()),
        list,
        Locality::Loopback,
        Credential::SandboxToken,
    )
}

/// A remote client with only its device signature.
pub fn remote(sandbox: &str, dev: &DeviceInfo, list: &[&str]) -> ConnectAttempt {
    attempt(
        sandbox,
        Some(dev.clone()),
        list,
        Locality::Remote,
        Credential::None,
    )
}

pub fn with_token(sandbox: &str, dev: &DeviceInfo, list: &[&str], token: &str) -> ConnectAttempt {
    attempt(
        sandbox,
        Some(dev.clone()),
        list,
        Locality::Remote,
        Credential::DeviceToken(token.to_owned()),
    )
}

pub fn config() -> AuthorityConfig {
    AuthorityConfig {
        pending_ttl: Duration::from_secs(300),
        ..Default::default()
    }
}

pub fn memory() -> (PairingAuthority<MemoryStore>, ManualClock) {
    let clock = ManualClock::new(T0);
    (
        PairingAuthority::with_config(MemoryStore::new(), Arc::new(clock.clone()), config()),
        clock,
    )
}

pub fn sqlite(path: &std::path::Path, clock: &ManualClock) -> PairingAuthority<SqliteStore> {
    let store = SqliteStore::open(path).unwrap();
    PairingAuthority::with_config(store, Arc::new(clock.clone()), config())
}

pub fn set(list: &[&str]) -> sandgate_pairing::ScopeSet {
    list.iter().copied().collect()
}

/// Runs a scenario on a fresh MemoryStore and a fresh SqliteStore.
#[macro_export]
macro_rules! on_both_stores {
    ($scenario:ident) => {{
        let (auth, clock) = common::memory();
        $scenario(&auth, &clock).await;
        let dir = tempfile::tempdir().unwrap();
        let clock = sandgate_pairing::ManualClock::new(common::T0);
        let auth = common::sqlite(&dir.path().join("pairing.db"), &clock);
        $scenario(&auth, &clock).await;
    }};
}

//! Concurrency: 64 tasks deciding at once, and two SQLite connections on one file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use sandgate_pairing::{
    Decision, IssuedToken, ManualClock, PairingAuthority, Role, ScopeSet, SqliteStore, Store,
};

const ASKS: [&[&str]; 4] = [
    &["operator.read"],
    &["operator.read", "operator.write"],
    &["operator.approvals"],
    &["operator.admin"],
];

async fn sixty_four_tasks<S: Store>(auth: Arc<PairingAuthority<S>>) {
    let mut handles = Vec::new();
    for i in 0..64u32 {
        let auth = auth.clone();
        handles.push(tokio::spawn(async move {
            // 16 devices, 4 tasks each; a quarter of the devices also live in a second sandbox.
            let dev = device(i % 16);
            let sandbox = if i % 16 < 4 && i >= 32 {
                "other"
            } else {
                "main"
            };
            let ask = ASKS[(i / 16) as usize % 4];
            let d = auth.connect(&local(sandbox, &dev, ask)).await.unwrap();
            (sandbox, dev.device_id, d)
        }));
    }
    let mut tokens: BTreeMap<(String, String), Vec<IssuedToken>> = BTreeMap::new();
    let mut granted: BTreeMap<(String, String), ScopeSet> = BTreeMap::new();
    for h in handles {
        let (sb, id, d) = h.await.unwrap();
        let key = (sb.to_owned(), id);
        assert!(d.is_accepted(), "{d:?}");
        let g = granted.entry(key.clone()).or_default();
        *g = g.union(d.granted_scopes().unwrap());
        if let Some(t) = d.device_token() {
            tokens.entry(key).or_default().push(t.clone());
        }
    }
    for sb in ["main", "other"] {
        let list = auth.list(sb).await.unwrap();
        let ids: BTreeSet<_> = list.paired.iter().map(|p| p.device_id.clone()).collect();
        assert_eq!(ids.len(), list.paired.len(), "one record per device");
        let pend: BTreeSet<_> = list.pending.iter().map(|p| p.device_id.clone()).collect();
        assert_eq!(
            pend.len(),
            list.pending.len(),
            "one live pending per device"
        );
        for p in &list.paired {
            let key = (sb.to_owned(), p.device_id.clone());
            assert!(p.scopes.allows(&granted[&key]), "no lost grant for {key:?}");
            // Exactly one of the tokens handed out for this device still verifies.
            let live = tokens[&key]
                .iter()
                .filter(|t| t.role == Role::Operator)
                .filter(|t| {
                    futures::executor::block_on(auth.verify_device_token(
                        sb,
                        &p.device_id,
                        Role::Operator,
                        t.token(),
                        &[],
                    ))
                    .is_ok()
                })
                .count();
            assert_eq!(live, 1, "{key:?}");
        }
    }
    assert_eq!(auth.list("main").await.unwrap().paired.len(), 16);
    assert_eq!(auth.list("other").await.unwrap().paired.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixty_four_concurrent_connects_memory() {
    let (auth, _) = memory();
    sixty_four_tasks(Arc::new(auth)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixty_four_concurrent_connects_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let auth = Arc::new(sqlite(&dir.path().join("p.db"), &clock));
    sixty_four_tasks(auth.clone()).await;
    assert_eq!(auth.store().integrity_check().await.unwrap(), "ok");
}

/// Two `SqliteStore`s (two connections, two threads, two runtimes) on one file, deciding for the
/// same devices at once: no corruption and no lost updates.
#[test]
fn two_sqlite_connections_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let clock = ManualClock::new(T0);
    let run = |which: u32, path: std::path::PathBuf, clock: ManualClock| {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let store = SqliteStore::open_async(&path).await.unwrap();
                let auth = Arc::new(PairingAuthority::with_config(
                    store,
                    Arc::new(clock),
                    config(),
                ));
                let mut hs = Vec::new();
                for i in 0..40u32 {
                    let auth = auth.clone();
                    hs.push(tokio::spawn(async move {
                        let dev = device(i % 10);
                        // Process 0 asks read / admin; process 1 asks approvals / pairing.
                        let ask: &[&str] = match (which, i / 10 % 2) {
                            (0, 0) => &["operator.read"],
                            (0, _) => &["operator.admin"],
                            (_, 0) => &["operator.approvals"],
                            _ => &["operator.pairing"],
                        };
                        auth.connect(&local("s", &dev, ask)).await.unwrap()
                    }));
                }
                let mut out = Vec::new();
                for h in hs {
                    out.push(h.await.unwrap());
                }
                out
            })
        })
    };
    let a = run(0, path.clone(), clock.clone());
    let b = run(1, path.clone(), clock.clone());
    let decisions: Vec<Decision> = a
        .join()
        .unwrap()
        .into_iter()
        .chain(b.join().unwrap())
        .collect();
    assert_eq!(decisions.len(), 80);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let auth = sqlite(&path, &clock);
        assert_eq!(auth.store().integrity_check().await.unwrap(), "ok");
        assert_eq!(auth.store().schema_version().await.unwrap(), 1);
        let list = auth.list("s").await.unwrap();
        assert_eq!(list.paired.len(), 10);
        for p in &list.paired {
            // Both processes' policy grants are in the baseline.
            assert_eq!(
                p.scopes.to_csv(),
                "operator.approvals,operator.read,operator.write"
            );
        }
        // Both processes' missing scopes are merged in one pending request per device.
        assert_eq!(list.pending.len(), 10);
        for p in &list.pending {
            let s = p.scope_set();
            assert!(s.contains(&sandgate_pairing::Scope::Admin), "{p:?}");
            assert!(s.contains(&sandgate_pairing::Scope::Pairing), "{p:?}");
        }
    });
}

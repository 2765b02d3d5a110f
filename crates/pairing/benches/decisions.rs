//! Decisions per second on the SQLite store: fresh connects (pair + mint) and reconnects.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sandgate_pairing::{
    ConnectAttempt, Credential, DeviceInfo, DeviceMetadata, Locality, PairingAuthority, Role,
    Scope, SqliteStore,
};

fn device(n: u64) -> DeviceInfo {
    DeviceInfo {
        device_id: format!("{n:064x}"),
        public_key: format!("pk{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        metadata: DeviceMetadata {
            platform: Some("linux".into()),
            ..Default::default()
        },
    }
}

fn attempt(dev: DeviceInfo, credential: Credential) -> ConnectAttempt {
    ConnectAttempt {
        sandbox: "bench".into(),
        device: Some(dev),
        role: Role::Operator,
        scopes: vec![Scope::Read, Scope::Write],
        locality: Locality::Loopback,
        credential,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    let auth = Arc::new(PairingAuthority::new(store));
    let next = AtomicU64::new(1);

    let mut g = c.benchmark_group("sqlite_decisions");
    g.throughput(Throughput::Elements(1));

    g.bench_function("fresh_connect_pair_and_mint", |b| {
        b.to_async(&rt).iter(|| {
            let auth = auth.clone();
            let n = next.fetch_add(1, Ordering::Relaxed);
            async move {
                let d = auth
                    .connect(&attempt(device(n), Credential::SandboxToken))
                    .await
                    .unwrap();
                assert!(d.device_token().is_some());
            }
        })
    });

    // One paired device with a known token.
    let dev = device(u64::MAX);
    let token = rt.block_on(async {
        let d = auth
            .connect(&attempt(dev.clone(), Credential::SandboxToken))
            .await
            .unwrap();
        d.device_token().unwrap().token().to_owned()
    });

    g.bench_function("reconnect_sandbox_token", |b| {
        b.to_async(&rt).iter(|| {
            let (auth, dev) = (auth.clone(), dev.clone());
            async move {
                let d = auth
                    .connect(&attempt(dev, Credential::SandboxToken))
                    .await
                    .unwrap();
                assert!(d.is_accepted());
            }
        })
    });

    g.bench_function("reconnect_device_token", |b| {
        b.to_async(&rt).iter(|| {
            let (auth, dev, token) = (auth.clone(), dev.clone(), token.clone());
            async move {
                let mut a = attempt(dev, Credential::DeviceToken(token));
                a.locality = Locality::Remote;
                let d = auth.connect(&a).await.unwrap();
                assert!(d.is_accepted());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

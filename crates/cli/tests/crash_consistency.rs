//! Crash consistency: SIGKILL the real `sandgated` at random moments while it carries out
//! onboards, destroys, approvals, rejections, device-token rotations and `inference set`,
//! restart it with `sandgate gateway start` each time, and check after every restart that
//! the database is intact, nothing acknowledged was lost, no sandbox is half there, and the CA
//! and the sandbox tokens never changed. Seeded (`SANDGATE_CRASH_SEED`), the seed is printed;
//! `SANDGATE_CRASH_KILLS` sets the number of kills (default 200).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod crash;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use common::{Out, Sg};
use crash::*;
use sandgate_core::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Onboard,
    Destroy,
    Approve,
    Reject,
    Rotate,
    InferenceSet,
}

/// What the test knows for certain: only acknowledged outcomes are recorded as facts.
#[derive(Default)]
struct Model {
    /// Transient sandboxes known to exist, with the token they were created with.
    present: BTreeMap<String, String>,
    /// Transient names whose fate is unknown (killed mid-onboard or mid-destroy).
    unknown: BTreeSet<String>,
    /// Transient names whose onboard was acknowledged since the last check.
    created: BTreeSet<String>,
    /// Device ids whose approval (operator.pairing) was acknowledged.
    approved: BTreeSet<String>,
    /// (request id, device id) whose rejection was acknowledged.
    rejected: Vec<(String, String)>,
    /// The model of alpha's route the last acknowledged `inference set` chose.
    alpha_model: String,
}

/// Counters for the report.
#[derive(Default, Debug)]
struct Figures {
    kills: u32,
    missed: u32,
    ops: BTreeMap<Op, (u32, u32)>,
}

const TRANSIENT: &[&str] = &["t0", "t1", "t2"];

fn seed() -> u64 {
    std::env::var("SANDGATE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

fn onboard_cmd(sg: &Sg, name: &str) -> Child {
    sg.spawn(&[
        "onboard",
        "--name",
        name,
        "--provider",
        "mock",
        "--model",
        &format!("mock-{name}"),
        "--non-interactive",
    ])
}

fn finish(child: Child) -> Out {
    Out::from(child.wait_with_output().expect("wait for the command"))
}

/// Sleeps a random part of `window` (the randomness is the point: this is not a wait for
/// anything), then SIGKILLs the daemon.
fn kill_after(sg: &Sg, rng: &mut Rng, window: Duration, f: &mut Figures) {
    let us = rng.below(window.as_micros().max(1) as u64);
    std::thread::sleep(Duration::from_micros(us));
    if kill_daemon(sg) {
        f.kills += 1;
    } else {
        f.missed += 1;
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let seed = seed();
    let kills: u32 = std::env::var("SANDGATE_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("crash_consistency seed={seed} kills={kills}");
    let mut rng = Rng::new(seed);
    // One worker, so that a spawned rotation runs while this thread sleeps before the kill.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sg = Sg::new();
    let devs = tempfile::tempdir().unwrap();
    let started = Instant::now();

    // Set-up, uninterrupted; each step is also timed to size the kill windows.
    let t = Instant::now();
    sg.onboard_mock("alpha", "mock-alpha");
    let onboard_window = t.elapsed();
    sg.onboard_mock("beta", "mock-beta");
    sg.onboard_mock("t0", "mock-t0");
    let t = Instant::now();
    let out = sg.run(&["t0", "destroy", "--yes"]);
    let destroy_window = t.elapsed();
    assert!(out.ok(), "{out}");
    let ca = std::fs::read(sg.state().join("tls/ca.pem")).unwrap();
    let (_, st) = sg.json(&["gateway", "status", "--json"]);
    let fingerprint = st["gateway"]["caFingerprint"].clone();
    assert!(fingerprint.as_str().is_some_and(|s| !s.is_empty()), "{st}");
    let tokens: BTreeMap<&str, String> = ["alpha", "beta"]
        .into_iter()
        .map(|n| (n, token_of(&sg, n)))
        .collect();
    let port = |name: &str| -> String {
        let (_, v) = sg.json(&["list", "--json"]);
        let s = v["sandboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap();
        format!("ws://127.0.0.1:{}", s["port"])
    };
    let url = port("alpha");
    let alpha_token = tokens["alpha"].trim().to_owned();
    let mut n_dev = 0usize;
    let mut new_pending = |rt: &tokio::runtime::Runtime, extra: Scope| {
        n_dev += 1;
        rt.block_on(pending_request(
            devs.path(),
            n_dev,
            &url,
            &alpha_token,
            extra,
        ))
    };
    // The rotator (approved for operator.pairing) and its victim (a paired device).
    let (rot_dir, rid) = new_pending(&rt, Scope::Admin);
    let t = Instant::now();
    let out = sg.run(&["alpha", "devices", "approve", &rid]);
    let approve_window = t.elapsed();
    assert!(out.ok(), "{out}");
    let (victim_dir, victim_rid) = new_pending(&rt, Scope::Pairing);
    let victim = device_id(&victim_dir);
    let out = sg.run(&["alpha", "devices", "approve", &victim_rid]);
    assert!(out.ok(), "{out}");
    let mut conn = rt.block_on(rotator(&url, &alpha_token, &rot_dir));
    let t = Instant::now();
    let token = rt.block_on(rotate(&mut conn, &victim)).unwrap();
    let rotate_window = t.elapsed();
    rt.block_on(conn.close());
    store_device_token(&victim_dir, &token);
    let t = Instant::now();
    let out = sg.run(&[
        "alpha",
        "inference",
        "set",
        "--provider",
        "mock",
        "--model",
        "m-0",
    ]);
    let set_window = t.elapsed();
    assert!(out.ok(), "{out}");
    println!(
        "windows: onboard {onboard_window:?}, destroy {destroy_window:?}, approve {approve_window:?}, rotate {rotate_window:?}, \
         inference set {set_window:?}"
    );

    let mut m = Model {
        alpha_model: "m-0".into(),
        ..Model::default()
    };
    let mut f = Figures::default();
    let mut i = 0u32;
    while f.kills < kills {
        i += 1;
        let op = match rng.below(6) {
            0 => Op::Onboard,
            1 => Op::Destroy,
            2 => Op::Approve,
            3 => Op::Reject,
            4 => Op::Rotate,
            _ => Op::InferenceSet,
        };
        // Onboard a name not known to exist, destroy one that may exist.
        let pick = |want_present: bool, rng: &mut Rng| -> Option<String> {
            let c: Vec<&str> = TRANSIENT
                .iter()
                .copied()
                .filter(|n| m.unknown.contains(*n) || m.present.contains_key(*n) == want_present)
                .collect();
            (!c.is_empty()).then(|| c[rng.below(c.len() as u64) as usize].to_owned())
        };
        let mut touched: Option<String> = None;
        let acked = match op {
            Op::Onboard | Op::Destroy => {
                let Some(name) = pick(op == Op::Destroy, &mut rng) else {
                    continue;
                };
                if op == Op::Onboard && m.unknown.contains(&name) {
                    // Fate unknown: it must be either usable or absent; the check below
                    // settles it, and a present one is destroyed first (name reuse).
                    continue;
                }
                let child = if op == Op::Onboard {
                    onboard_cmd(&sg, &name)
                } else {
                    sg.spawn(&[&name, "destroy", "--yes"])
                };
                let window = if op == Op::Onboard {
                    onboard_window
                } else {
                    destroy_window
                };
                kill_after(&sg, &mut rng, window, &mut f);
                let out = finish(child);
                m.present.remove(&name);
                m.unknown.insert(name.clone());
                touched = Some(name.clone());
                if out.ok() && op == Op::Destroy {
                    m.unknown.remove(&name);
                }
                if out.ok() && op == Op::Onboard {
                    m.created.insert(name.clone());
                }
                // An onboard is acknowledged once its sandbox is created; the verification
                // turn may then fail because of the kill, so success is not required.
                out.ok()
            }
            Op::Approve | Op::Reject => {
                let (dir, rid) = new_pending(&rt, Scope::Pairing);
                let verb = if op == Op::Approve {
                    "approve"
                } else {
                    "reject"
                };
                let child = sg.spawn(&["alpha", "devices", verb, &rid]);
                kill_after(&sg, &mut rng, approve_window, &mut f);
                let out = finish(child);
                if out.ok() {
                    if op == Op::Approve {
                        m.approved.insert(device_id(&dir));
                    } else {
                        m.rejected.push((rid, device_id(&dir)));
                    }
                }
                out.ok()
            }
            Op::Rotate => {
                let mut conn = rt.block_on(rotator(&url, &alpha_token, &rot_dir));
                let task = rt.spawn({
                    let victim = victim.clone();
                    async move {
                        let r = rotate(&mut conn, &victim).await;
                        conn.close().await;
                        r
                    }
                });
                kill_after(&sg, &mut rng, rotate_window, &mut f);
                let r = rt.block_on(task).unwrap();
                if let Ok(t) = &r {
                    store_device_token(&victim_dir, t);
                }
                r.is_ok()
            }
            Op::InferenceSet => {
                let model = format!("m-{i}");
                let child = sg.spawn(&[
                    "alpha",
                    "inference",
                    "set",
                    "--provider",
                    "mock",
                    "--model",
                    &model,
                ]);
                kill_after(&sg, &mut rng, set_window, &mut f);
                let out = finish(child);
                if out.ok() {
                    m.alpha_model = model;
                }
                out.ok()
            }
        };
        let e = f.ops.entry(op).or_default();
        e.0 += 1;
        e.1 += u32::from(acked);
        restart(&sg);
        check(
            &sg,
            &rt,
            &mut m,
            touched.as_deref(),
            &ca,
            &fingerprint,
            &tokens,
        );
        if op == Op::Rotate {
            // Whatever happened, the victim must hold a token that works afterwards: a
            // rotation the caller never saw may have replaced it, so rotate again, uninterrupted.
            if !acked || !rt.block_on(device_token_works(&url, &victim_dir)) {
                assert!(!acked, "an acknowledged rotated device token does not work");
                let mut conn = rt.block_on(rotator(&url, &alpha_token, &rot_dir));
                let t = rt.block_on(rotate(&mut conn, &victim)).unwrap();
                rt.block_on(conn.close());
                store_device_token(&victim_dir, &t);
            }
            assert!(rt.block_on(device_token_works(&url, &victim_dir)));
        }
    }

    // Every transient name is reusable: destroy what is there, onboard it again, destroy.
    for name in TRANSIENT {
        if registry(&sg).contains(*name) {
            let out = sg.run(&[name, "destroy", "--yes"]);
            assert!(out.ok(), "{out}");
        }
        let out = finish(onboard_cmd(&sg, name));
        assert!(out.ok(), "the name {name} is not reusable:\n{out}");
        agent_turn(&sg, name, "reused");
    }
    agent_turn(&sg, "alpha", "hello from alpha at the end");
    agent_turn(&sg, "beta", "hello from beta at the end");
    println!(
        "crash_consistency: seed={seed} kills={} (daemon already gone: {}) iterations={i} \
         ops(total, acknowledged)={:?} duration={:?}",
        f.kills,
        f.missed,
        f.ops,
        started.elapsed()
    );
}

/// The invariants that must hold after every restart.
fn check(
    sg: &Sg,
    rt: &tokio::runtime::Runtime,
    m: &mut Model,
    touched: Option<&str>,
    ca: &[u8],
    fingerprint: &serde_json::Value,
    tokens: &BTreeMap<&str, String>,
) {
    let _ = rt;
    assert_eq!(integrity(sg.state()), "ok", "sandgate.db integrity_check");
    assert_eq!(
        std::fs::read(sg.state().join("tls/ca.pem")).unwrap(),
        ca,
        "the CA certificate changed"
    );
    let (_, st) = sg.json(&["gateway", "status", "--json"]);
    assert_eq!(&st["gateway"]["caFingerprint"], fingerprint, "{st}");
    let listed = registry(sg);
    let disk = on_disk(sg);
    assert_eq!(
        listed, disk,
        "registry and disk disagree (half-created or half-destroyed sandbox)"
    );
    for name in &listed {
        for file in SANDBOX_FILES {
            let p: PathBuf = sg.sandbox_dir(name).join(file);
            assert!(
                p.exists(),
                "{name} is listed but {} is missing",
                p.display()
            );
        }
    }
    for (name, token) in tokens {
        assert!(listed.contains(*name), "{name} vanished");
        assert_eq!(&token_of(sg, name), token, "the token of {name} changed");
    }
    for (name, token) in &m.present {
        assert!(
            listed.contains(name),
            "acknowledged sandbox {name} vanished"
        );
        assert_eq!(&token_of(sg, name), token, "the token of {name} changed");
    }
    // Settle the unknown: present ones must be usable (and become known), absent ones gone.
    for name in std::mem::take(&mut m.unknown) {
        if listed.contains(&name) {
            if touched == Some(name.as_str()) {
                agent_turn(sg, &name, "after a crash");
            }
            m.present.insert(name.clone(), token_of(sg, &name));
        } else {
            assert!(
                !m.created.contains(&name),
                "acknowledged onboard of {name} lost"
            );
        }
    }
    m.created.clear();
    for name in TRANSIENT {
        assert!(
            !listed.contains(*name) || m.present.contains_key(*name),
            "{name} was destroyed (acknowledged) but is back"
        );
    }
    let (pending, paired) = devices(sg, "alpha");
    for d in &m.approved {
        let scopes = paired.get(d).unwrap_or_else(|| panic!("approved {d} lost"));
        assert!(
            scopes.contains("operator.pairing"),
            "approved {d} lost its scope: {scopes:?}"
        );
    }
    for (rid, d) in &m.rejected {
        assert!(!pending.contains(rid), "rejected {rid} is pending again");
        assert!(
            paired
                .get(d)
                .is_none_or(|s| !s.contains("operator.pairing")),
            "rejected {d} holds the scope"
        );
    }
    let (_, list) = sg.json(&["list", "--json"]);
    let alpha = list["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "alpha")
        .cloned()
        .unwrap();
    // Not acknowledged: the old or the new model; acknowledged: the new one. Either way the
    // next acknowledged set must stick, so only the acknowledged value is a hard fact.
    if alpha["model"] != m.alpha_model.as_str() {
        let model = alpha["model"].as_str().unwrap_or_default();
        assert!(
            model.starts_with("m-")
                && model[2..].parse::<u32>().unwrap_or(0)
                    > m.alpha_model[2..].parse::<u32>().unwrap_or(0),
            "alpha's acknowledged route {} was lost (now {model})",
            m.alpha_model
        );
        m.alpha_model = model.to_owned();
    }
}

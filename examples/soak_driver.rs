//! Load driver of `scripts/soak` (loopback only, bounded in time): M concurrent connections
//! spread over the given sandboxes, half WebSocket sessions running agent turns, half `/v1`
//! chat streams, until the duration ends. Prints errors, latency percentiles and the daemon's
//! RSS and open fds at start, every twentieth of the run under load (growth is measured from
//! the end of warm-up, a tenth of the run, to the last sample under load) and after the
//! connections close, as one JSON object.
//!
//! ```text
//! cargo run --release --example soak_driver -- --state-dir DIR --pid PID \
//!     --sandboxes a,b,c --connections 1000 --duration-secs 600
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use sandgate::gateway::client::{self, AgentTurn, ClientOptions};
use tokio::sync::Mutex;

struct Args {
    state: PathBuf,
    pid: u32,
    sandboxes: Vec<String>,
    connections: usize,
    duration: Duration,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        state: PathBuf::new(),
        pid: 0,
        sandboxes: Vec::new(),
        connections: 1000,
        duration: Duration::from_secs(600),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--state-dir" => a.state = v.into(),
            "--pid" => a.pid = v.parse()?,
            "--sandboxes" => a.sandboxes = v.split(',').map(str::to_owned).collect(),
            "--connections" => a.connections = v.parse()?,
            "--duration-secs" => a.duration = Duration::from_secs(v.parse()?),
            other => bail!("unknown option {other}"),
        }
    }
    if a.sandboxes.is_empty() || a.pid == 0 {
        bail!("--sandboxes and --pid are required");
    }
    Ok(a)
}

/// (RSS in KiB, open fds) of a process.
fn usage(pid: u32) -> (u64, usize) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

struct Target {
    name: String,
    port: u16,
    token: String,
}

fn target(state: &std::path::Path, name: &str) -> anyhow::Result<Target> {
    let dir = state.join("sandboxes").join(name);
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sandbox.json"))?)?;
    let port = rec["port"].as_u64().context("port")? as u16;
    let token = std::fs::read_to_string(dir.join("gateway-token"))?
        .trim()
        .to_owned();
    Ok(Target {
        name: name.to_owned(),
        port,
        token,
    })
}

#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    errors: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_errors: Mutex<Vec<String>>,
}

impl Stats {
    async fn record(&self, started: Instant, r: anyhow::Result<()>) {
        match r {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.latencies_us
                    .lock()
                    .await
                    .push(started.elapsed().as_micros() as u64);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut f = self.first_errors.lock().await;
                if f.len() < 5 {
                    f.push(format!("{e:#}"));
                }
            }
        }
    }
}

async fn ws_session(t: Arc<Target>, deadline: Instant, stats: Arc<Stats>, n: usize) {
    let mut opts = ClientOptions::new(format!("ws://127.0.0.1:{}", t.port));
    opts.token = Some(t.token.clone());
    let mut conn = match client::connect(opts).await {
        Ok(c) => c,
        Err(e) => return stats.record(Instant::now(), Err(e.into())).await,
    };
    let mut i = 0;
    while Instant::now() < deadline {
        i += 1;
        let started = Instant::now();
        let turn = AgentTurn {
            agent_id: "main".into(),
            message: format!("soak {n} turn {i}"),
            session_id: format!("soak-{n}"),
        };
        let r = conn
            .agent(turn, |_| {})
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from);
        let failed = r.is_err();
        stats.record(started, r).await;
        if failed {
            return;
        }
    }
    conn.close().await;
}

async fn http_streams(t: Arc<Target>, deadline: Instant, stats: Arc<Stats>) {
    let Ok(http) = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
    else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/v1/chat/completions", t.port);
    while Instant::now() < deadline {
        let started = Instant::now();
        let r = async {
            let resp = http
                .post(&url)
                .bearer_auth(&t.token)
                .json(&serde_json::json!({"model": "any", "stream": true,
                    "messages": [{"role": "user", "content": format!("soak on {}", t.name)}]}))
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("status {}", resp.status());
            }
            let mut body = Vec::new();
            let mut s = resp.bytes_stream();
            while let Some(b) = s.next().await {
                body.extend_from_slice(&b?);
            }
            if !body.ends_with(b"data: [DONE]\n\n") || body.windows(8).any(|w| w == b"\"error\":") {
                bail!("stream did not end cleanly");
            }
            Ok(())
        }
        .await;
        stats.record(started, r).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let targets: Vec<Arc<Target>> = a
        .sandboxes
        .iter()
        .map(|n| target(&a.state, n).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    let stats = Arc::new(Stats::default());
    let start_usage = usage(a.pid);
    let t0 = Instant::now();
    let deadline = t0 + a.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.connections {
        let t = targets[i % targets.len()].clone();
        let s = stats.clone();
        if i % 2 == 0 {
            tasks.spawn(ws_session(t, deadline, s, i));
        } else {
            tasks.spawn(http_streams(t, deadline, s));
        }
    }
    // Usage under load every twentieth of the run; warm-up is the first tenth, so growth is
    // from the second sample to the last one taken under load (19/20 of the run). After the
    // connections close it is sampled once more (descriptors must be back at the start).
    let mut samples = Vec::new();
    for k in 1..20u32 {
        tokio::time::sleep_until((t0 + a.duration * k / 20).into()).await;
        samples.push(usage(a.pid));
    }
    let (warm_usage, end_usage) = (samples[1], samples[samples.len() - 1]);
    while tasks.join_next().await.is_some() {}
    // The daemon closes its side of each connection once it reads the client's close; give
    // it up to 10 s to get back to its starting descriptors, and report how long it took.
    let drain_start = Instant::now();
    let mut drained = usage(a.pid);
    while drained.1 > start_usage.1 && drain_start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drained = usage(a.pid);
    }
    let drain_secs = drain_start.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *stats.latencies_us.lock().await);
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let growth = |a: u64, b: u64| {
        if a == 0 {
            0.0
        } else {
            (b as f64 - a as f64) * 100.0 / a as f64
        }
    };
    let report = serde_json::json!({
        "sandboxes": targets.len(),
        "connections": a.connections,
        "durationSecs": t0.elapsed().as_secs_f64(),
        "ok": stats.ok.load(Ordering::Relaxed),
        "errors": stats.errors.load(Ordering::Relaxed),
        "firstErrors": *stats.first_errors.lock().await,
        "latencyMs": {"p50": pct(0.50) as f64 / 1000.0, "p99": pct(0.99) as f64 / 1000.0, "max": lat.last().copied().unwrap_or(0) as f64 / 1000.0},
        "rssKiB": {"start": start_usage.0, "afterWarmup": warm_usage.0, "endUnderLoad": end_usage.0,
                   "afterDrain": drained.0, "growthAfterWarmupPct": growth(warm_usage.0, end_usage.0),
                   "underLoad": samples.iter().map(|u| u.0).collect::<Vec<_>>()},
        "fds": {"start": start_usage.1, "afterWarmup": warm_usage.1, "endUnderLoad": end_usage.1,
                "afterDrain": drained.1, "drainSecs": drain_secs, "growthAfterWarmupPct": growth(warm_usage.1 as u64, end_usage.1 as u64),
                "underLoad": samples.iter().map(|u| u.1).collect::<Vec<_>>()},
    });
    println!("{report:#}");
    if stats.errors.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
    Ok(())
}

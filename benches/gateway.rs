//! The sandgate benchmark suite: one run, numbers side by side (not pass/fail).
//!
//! `cargo bench --bench gateway` (options: `-- --quick` for a short run).
//!
//! The gateway runs in a child process (this binary re-executed with `--serve-gateway`), as
//! `sandgated` would, so its RSS is measured alone; the load generator and the fake upstream
//! (test equipment speaking the OpenAI wire format) run in this process.
//!
//! Measures: added latency (p50/p99) and throughput of `/v1/chat/completions` through the
//! gateway vs the same fake called directly, non-stream and stream, at concurrency 1/16/64;
//! time to first streamed token; handshakes per second and handshake p99; 10 sandboxes x 50
//! concurrent streaming agent turns (errors, gateway peak and idle RSS).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sandgate::gateway::client::{self, AgentTurn, ClientOptions};
use sandgate::gateway::{Gateway, GatewayOptions, RouteSpec, SandboxSpec};
use sandgate::providers::ProviderKind;
use sandgate::providers::fake::{FakeConfig, FakeKind, FakeUpstream};
use serde_json::json;

mod proxy;

#[derive(Clone, serde::Deserialize, serde::Serialize)]
struct Sb {
    name: String,
    port: u16,
    token: String,
    device_dir: String,
}

/// The allocator `sandgated` uses, so the child gateway measures as the daemon runs.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-gateway") {
        serve_child(&args[i + 1], args[i + 2].parse().unwrap(), &args[i + 3]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--proxy-bench") {
        let secs = args.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(3);
        proxy::main(&args[i + 1], secs, |upstream| {
            let gw = ChildGw::start(1, upstream);
            let (pid, port, token) = (
                gw.child.id(),
                gw.sandboxes[0].port,
                gw.sandboxes[0].token.clone(),
            );
            (Box::new(gw) as Box<dyn std::any::Any>, pid, port, token)
        });
        return;
    }
    // The load generator's runtime: two workers, like the machine's two cores.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--handshakes") {
        let n = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(200);
        rt.block_on(handshakes_only(n));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    rt.block_on(run(quick));
}

/// `--handshakes N`: only N sequential handshakes against a one-sandbox child gateway, for
/// profiling the connection path (e.g. under `valgrind --tool=callgrind --trace-children=yes`).
async fn handshakes_only(n: usize) {
    let upstream = FakeUpstream::spawn(FakeConfig::new(FakeKind::OpenAi))
        .await
        .unwrap();
    let gw = ChildGw::start(1, &upstream.base_url());
    let sb = &gw.sandboxes[0];
    let mut opts = ClientOptions::new(format!("ws://127.0.0.1:{}", sb.port));
    opts.token = Some(sb.token.clone());
    opts.identity_dir = Some(sb.device_dir.clone().into());
    let start = Instant::now();
    for _ in 0..n {
        client::connect(opts.clone()).await.unwrap().close().await;
    }
    let el = start.elapsed();
    println!(
        "{n} handshakes in {:.3} s = {:.0}/s",
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64()
    );
}

/// Child: a gateway with `n` sandboxes routed to `upstream` (OpenAI-compatible).
fn serve_child(dir: &str, n: usize, upstream: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let gw = Gateway::open(GatewayOptions::new(dir)).await.unwrap();
        let mut out = Vec::new();
        for i in 0..n {
            let route = RouteSpec {
                provider: ProviderKind::CompatibleEndpoint,
                model: format!("bench-model-{i}"),
                endpoint: Some(upstream.to_owned()),
                credential: None,
                credential_env: None,
            };
            let spec = SandboxSpec {
                name: format!("sb{i}"),
                route,
                port: 0,
                egress: Default::default(),
            };
            let info = gw.create_sandbox(spec).await.unwrap();
            out.push(Sb {
                name: info.name,
                port: info.port,
                token: info.token,
                device_dir: info.device_dir.display().to_string(),
            });
        }
        println!("{}", serde_json::to_string(&out).unwrap());
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin()
                .read_line(&mut s)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                s.clear();
            }
        })
        .await
        .unwrap();
        gw.shutdown().await;
    });
}

struct ChildGw {
    child: Child,
    sandboxes: Vec<Sb>,
    _dir: tempfile::TempDir,
}

impl ChildGw {
    fn start(n: usize, upstream: &str) -> ChildGw {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--serve-gateway",
                &dir.path().display().to_string(),
                &n.to_string(),
                upstream,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let sandboxes = serde_json::from_str(&line).unwrap();
        ChildGw {
            child,
            sandboxes,
            _dir: dir,
        }
    }

    /// (VmRSS, VmHWM) in KiB.
    fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ChildGw {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.wait();
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

struct Run {
    lat: Vec<Duration>,
    ttft: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Run {
    fn rps(&self) -> f64 {
        self.lat.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// `total` chat completions over `conc` workers against `url`.
async fn load(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    stream: bool,
    conc: usize,
    total: usize,
) -> Run {
    let body = json!({"model": "x", "messages": [{"role": "user", "content": "benchmark"}], "stream": stream});
    let per = total / conc;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (http, url, body, token) = (
            http.clone(),
            url.to_owned(),
            body.clone(),
            token.map(str::to_owned),
        );
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut ttft, mut errors) = (Vec::with_capacity(per), Vec::new(), 0);
            for _ in 0..per {
                let t0 = Instant::now();
                let mut req = http.post(&url).json(&body);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let ok = match req.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let mut s = resp.bytes_stream();
                        let mut first = true;
                        let mut good = true;
                        while let Some(chunk) = s.next().await {
                            if chunk.is_err() {
                                good = false;
                                break;
                            }
                            if first && stream {
                                ttft.push(t0.elapsed());
                                first = false;
                            }
                        }
                        good
                    }
                    _ => false,
                };
                if ok {
                    lat.push(t0.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, ttft, errors)
        }));
    }
    let mut run = Run {
        lat: Vec::new(),
        ttft: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (l, f, e) = t.await.unwrap();
        run.lat.extend(l);
        run.ttft.extend(f);
        run.errors += e;
    }
    run.elapsed = start.elapsed();
    run.lat.sort();
    run.ttft.sort();
    run
}

async fn run(quick: bool) {
    let scale = if quick { 1 } else { 4 };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!("# sandgate benchmarks");
    println!(
        "machine: {} cores ({cpu}), {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::env::consts::OS
    );

    // 1. Added latency and throughput: gateway /v1 vs the same fake called directly.
    let fake = FakeUpstream::spawn(FakeConfig::new(FakeKind::OpenAi).label("bench").tokens(8))
        .await
        .unwrap();
    let gw = ChildGw::start(1, &fake.base_url());
    let sb = gw.sandboxes[0].clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();
    let direct_url = format!("{}/chat/completions", fake.base_url());
    let gw_url = format!("http://127.0.0.1:{}/v1/chat/completions", sb.port);
    load(&http, &gw_url, Some(&sb.token), false, 4, 200).await; // warm-up
    load(&http, &direct_url, None, false, 4, 200).await;
    println!("\n## /v1/chat/completions: direct vs through the gateway");
    println!(
        "| mode | conc | direct p50 ms | direct p99 ms | gateway p50 ms | gateway p99 ms | added p50 ms | added p99 ms | direct req/s | gateway req/s | gateway/direct | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for stream in [false, true] {
        for conc in [1usize, 16, 64] {
            let total = conc.max(1) * 25 * scale + 200 * scale;
            let total = total - total % conc;
            let d = load(&http, &direct_url, None, stream, conc, total).await;
            let g = load(&http, &gw_url, Some(&sb.token), stream, conc, total).await;
            let add = |p| pct(&g.lat, p).saturating_sub(pct(&d.lat, p));
            println!(
                "| {} | {conc} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0}% | {} |",
                if stream { "stream" } else { "non-stream" },
                ms(pct(&d.lat, 0.5)),
                ms(pct(&d.lat, 0.99)),
                ms(pct(&g.lat, 0.5)),
                ms(pct(&g.lat, 0.99)),
                ms(add(0.5)),
                ms(add(0.99)),
                d.rps(),
                g.rps(),
                100.0 * g.rps() / d.rps().max(1e-9),
                d.errors + g.errors,
            );
            if stream && conc == 1 {
                println!(
                    "|   time to first token (conc 1) | | direct p50 {} / p99 {} | | gateway p50 {} / p99 {} | | | | | | | |",
                    ms(pct(&d.ttft, 0.5)),
                    ms(pct(&d.ttft, 0.99)),
                    ms(pct(&g.ttft, 0.5)),
                    ms(pct(&g.ttft, 0.99))
                );
            }
        }
    }

    // 2. Handshakes: the sandbox's pre-approved device reconnecting with the sandbox token.
    println!(
        "\n## WebSocket handshakes (challenge, signed device proof, pairing decision, hello-ok)"
    );
    let url = format!("ws://127.0.0.1:{}", sb.port);
    let opts = {
        let mut o = ClientOptions::new(url);
        o.token = Some(sb.token.clone());
        o.identity_dir = Some(sb.device_dir.clone().into());
        o
    };
    for conc in [1usize, 8] {
        let n = 100 * scale * conc.min(4);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..conc {
            let opts = opts.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                for _ in 0..n / conc {
                    let t0 = Instant::now();
                    match client::connect(opts.clone()).await {
                        Ok(c) => {
                            lat.push(t0.elapsed());
                            c.close().await;
                        }
                        Err(_) => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let (mut lat, mut errors) = (Vec::new(), 0);
        for t in tasks {
            let (l, e) = t.await.unwrap();
            lat.extend(l);
            errors += e;
        }
        let el = start.elapsed();
        lat.sort();
        println!(
            "- concurrency {conc}: {} handshakes in {:.2} s = {:.0}/s, p50 {} ms, p99 {} ms, errors {errors}",
            lat.len(),
            el.as_secs_f64(),
            lat.len() as f64 / el.as_secs_f64(),
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99))
        );
    }
    drop(gw);

    // 3. 10 sandboxes x 50 concurrent streaming agent turns.
    println!("\n## 10 sandboxes x 50 concurrent streaming agent turns");
    let slow = FakeUpstream::spawn(
        FakeConfig::new(FakeKind::OpenAi)
            .label("load")
            .tokens(16)
            .latency(Duration::from_millis(2)),
    )
    .await
    .unwrap();
    let gw = ChildGw::start(10, &slow.base_url());
    let (idle_rss, _) = gw.rss();
    let start = Instant::now();
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for sb in &gw.sandboxes {
        for i in 0..50 {
            let (sb, errors) = (sb.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut o = ClientOptions::new(format!("ws://127.0.0.1:{}", sb.port));
                o.token = Some(sb.token.clone());
                o.timeout = Duration::from_secs(60);
                let turn = AgentTurn {
                    agent_id: "main".into(),
                    message: format!("load {i}"),
                    session_id: format!("s{i}"),
                };
                let ok = match client::connect(o).await {
                    Ok(mut c) => {
                        let r = c.agent(turn, |_| {}).await;
                        c.close().await;
                        matches!(r, Ok(ref reply) if reply.text.contains("[fake-openai:load]"))
                    }
                    Err(_) => false,
                };
                if !ok {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let el = start.elapsed();
    let (_, peak) = gw.rss();
    println!(
        "- 500 turns in {:.2} s, errors {}, gateway idle RSS {:.1} MiB, peak RSS {:.1} MiB",
        el.as_secs_f64(),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(gw);
    std::io::stdout().flush().unwrap();
}

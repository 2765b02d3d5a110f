//! `--proxy-bench`: sandgate's `/v1` side by side with nginx and with calling the upstream
//! directly, in one run on the same cores. The same fake OpenAI upstream (its own process)
//! serves all three; nginx proxies with upstream keepalive and `proxy_buffering off`;
//! sandgate runs as a child gateway (this binary with `--serve-gateway`). CPU per request
//! is read from `/proc/<pid>/stat` of each server. Prints Markdown tables.

mod load;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use load::{Outcome, Target};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // TERM, not KILL: nginx's master then stops its workers too.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    line.trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// utime + stime of `pid` and its direct children, in clock ticks (100 Hz).
fn cpu_ticks(pid: u32) -> u64 {
    let ticks = |p: &str| -> (u64, u32) {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let n = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        (n(11) + n(12), u32::try_from(n(1)).unwrap_or(0))
    };
    let mut total = ticks(&pid.to_string()).0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.chars().all(|c| c.is_ascii_digit()) {
            let (t, ppid) = ticks(&name);
            if ppid == pid {
                total += t;
            }
        }
    }
    total
}

async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on port {port}");
}

fn nginx(dir: &std::path::Path, upstream_port: u16, port: u16) -> Proc {
    let d = dir.display();
    let conf = format!(
        "worker_processes 2;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         upstream fake {{ server 127.0.0.1:{upstream_port}; keepalive 256; keepalive_requests 10000000; }}\n keepalive_requests 10000000;\n\
         server {{\n  listen 127.0.0.1:{port};\n  location / {{\n   proxy_pass http://fake;\n\
         proxy_http_version 1.1;\n   proxy_set_header Connection \"\";\n   proxy_buffering off;\n  }}\n }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .spawn()
        .expect("nginx (apt-get install nginx-light or nginx)");
    Proc(child)
}

struct Server {
    name: &'static str,
    pid: u32,
    port: u16,
    path: String,
    auth: Option<String>,
}

fn target(s: &Server, stream: bool) -> Target {
    let body = format!(
        r#"{{"model":"bench-model-0","messages":[{{"role":"user","content":"hello"}}]{}}}"#,
        if stream { r#","stream":true"# } else { "" }
    );
    Target {
        addr: format!("127.0.0.1:{}", s.port),
        host: format!("127.0.0.1:{}", s.port),
        path: s.path.clone(),
        auth: s.auth.clone(),
        body: Bytes::from(body),
        stream,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Runs the whole comparison; `fake_bin` is the `fake_upstream` example binary.
pub fn main(
    fake_bin: &str,
    secs: u64,
    serve: impl Fn(&str) -> (Box<dyn std::any::Any>, u32, u16, String),
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut fake = Command::new(fake_bin)
        .args(["--kind", "openai", "--tokens", "16", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("fake_upstream");
    let base = first_line(&mut fake);
    let fake = Proc(fake);
    let up_port: u16 = base
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/v1")
        .parse()
        .expect("fake upstream port");
    let ng_port = free_port();
    let ng = nginx(dir.path(), up_port, ng_port);
    // The gateway lives as long as its guard.
    let (_gw, gw_pid, gw_port, token) = serve(&base);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        wait_listening(ng_port).await;
        wait_listening(gw_port).await;
        let servers = [
            Server { name: "direct", pid: fake.0.id(), port: up_port, path: "/v1/chat/completions".into(), auth: None },
            Server { name: "nginx", pid: ng.0.id(), port: ng_port, path: "/v1/chat/completions".into(), auth: None },
            Server { name: "sandgate", pid: gw_pid, port: gw_port, path: "/v1/chat/completions".into(), auth: Some(format!("Bearer {token}")) },
        ];
        let dur = Duration::from_secs(secs);
        println!("| mode | c | server | req/s | % of nginx | p50 ms | p99 ms | TTFB p50 ms | TTFB p99 ms | server CPU µs/req | upstream CPU µs/req | failed |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for stream in [false, true] {
            for c in [1usize, 16, 64] {
                let mut nginx_rps = 0.0;
                for s in &servers {
                    let t = target(s, stream);
                    load::closed(&t, c, Duration::from_millis(500)).await;
                    let (cpu0, up0) = (cpu_ticks(s.pid), cpu_ticks(servers[0].pid));
                    let o = load::closed(&t, c, dur).await;
                    let (cpu1, up1) = (cpu_ticks(s.pid), cpu_ticks(servers[0].pid));
                    let per = |a: u64, b: u64| (b - a) as f64 * 10_000.0 / o.ok.max(1) as f64;
                    let (srv, up) = (per(cpu0, cpu1), per(up0, up1));
                    if s.name == "nginx" {
                        nginx_rps = o.rps();
                    }
                    let share = if s.name == "direct" || nginx_rps == 0.0 {
                        "-".to_string()
                    } else {
                        format!("{:.0}%", 100.0 * o.rps() / nginx_rps)
                    };
                    let srv = if s.name == "direct" { "-".to_string() } else { format!("{srv:.0}") };
                    println!(
                        "| {} | {c} | {} | {:.0} | {share} | {} | {} | {} | {} | {srv} | {up:.0} | {} |",
                        if stream { "stream" } else { "non-stream" },
                        s.name,
                        o.rps(),
                        ms(Outcome::pct(&o.latency, 0.5)),
                        ms(Outcome::pct(&o.latency, 0.99)),
                        ms(Outcome::pct(&o.ttfb, 0.5)),
                        ms(Outcome::pct(&o.ttfb, 0.99)),
                        o.failed
                    );
                }
            }
        }
        println!();
        println!("| open loop 2000 req/s, 16 conns | server | achieved req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | failed |");
        println!("|---|---|---|---|---|---|---|---|");
        for stream in [false, true] {
            let mut base = (Duration::ZERO, Duration::ZERO);
            for s in &servers {
                let t = target(s, stream);
                let o = load::open(&t, 16, 2000.0, dur + Duration::from_secs(2)).await;
                let (p50, p99) = (Outcome::pct(&o.latency, 0.5), Outcome::pct(&o.latency, 0.99));
                if s.name == "direct" {
                    base = (p50, p99);
                }
                let added = |a: Duration, b: Duration| format!("{:+.3}", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0);
                println!(
                    "| {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                    if stream { "stream" } else { "non-stream" },
                    s.name,
                    o.rps(),
                    ms(p50),
                    ms(p99),
                    added(p50, base.0),
                    added(p99, base.1),
                    o.failed
                );
            }
        }
    });
}

//! A small HTTP/1.1 load client: keep-alive connections, closed loop (c connections as fast
//! as they go) or open loop (a fixed rate), latency from the scheduled start. A stream
//! counts only when its body ends in `data: [DONE]`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One target: address, path, extra headers, body.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: String,
    pub host: String,
    pub path: String,
    pub auth: Option<String>,
    pub body: Bytes,
    pub stream: bool,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub latency: Vec<Duration>,
    pub ttfb: Vec<Duration>,
}

impl Outcome {
    /// Counts one request begun at `start`; returns whether it was good.
    fn record(&mut self, (ok, ttfb): (bool, Duration), start: Instant) -> bool {
        if ok {
            self.ok += 1;
            self.latency.push(start.elapsed());
            self.ttfb.push(ttfb);
        } else {
            self.failed += 1;
        }
        ok
    }

    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn pct(v: &[Duration], p: f64) -> Duration {
        let mut s = v.to_vec();
        s.sort();
        if s.is_empty() {
            return Duration::ZERO;
        }
        let i = ((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1;
        s[i]
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(t: &Target) -> Option<Sender> {
    let tcp = TcpStream::connect(&t.addr).await.ok()?;
    tcp.set_nodelay(true).ok()?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(send)
}

/// One request; returns (ok, ttfb).
async fn once(send: &mut Sender, t: &Target, start: Instant) -> (bool, Duration) {
    if send.ready().await.is_err() {
        return (false, Duration::ZERO);
    }
    let mut rb = Request::post(&t.path)
        .header("host", &t.host)
        .header("content-type", "application/json");
    if let Some(a) = &t.auth {
        rb = rb.header("authorization", a);
    }
    let Ok(req) = rb.body(Full::new(t.body.clone())) else {
        return (false, Duration::ZERO);
    };
    let Ok(resp) = send.send_request(req).await else {
        return (false, Duration::ZERO);
    };
    let good_status = resp.status() == 200;
    let mut body = resp.into_body();
    let mut ttfb = None;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return (false, ttfb.unwrap_or_default());
        };
        if let Some(data) = frame.data_ref() {
            ttfb.get_or_insert_with(|| start.elapsed());
            tail.extend_from_slice(&data[data.len().saturating_sub(32)..]);
            let keep = tail.len().saturating_sub(32);
            tail.drain(..keep);
        }
    }
    let done = !t.stream || tail.ends_with(b"data: [DONE]\n\n");
    (good_status && done, ttfb.unwrap_or_default())
}

/// `conns` connections, each sending back to back for `dur`.
pub async fn closed(t: &Target, conns: usize, dur: Duration) -> Outcome {
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let Some(mut send) = connect(&t).await else {
                out.failed += 1;
                return out;
            };
            while begin.elapsed() < dur {
                let start = Instant::now();
                if !out.record(once(&mut send, &t, start).await, start) {
                    match connect(&t).await {
                        Some(s) => send = s,
                        None => break,
                    }
                }
            }
            out
        }));
    }
    merge(tasks, begin).await
}

/// A fixed `rate` per second spread over `conns` connections for `dur`; latency counts
/// from each request's scheduled time, so a stall is not hidden.
pub async fn open(t: &Target, conns: usize, rate: f64, dur: Duration) -> Outcome {
    let begin = Instant::now();
    let per_conn = Duration::from_secs_f64(conns as f64 / rate);
    let mut tasks = Vec::new();
    for i in 0..conns {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let Some(mut send) = connect(&t).await else {
                out.failed += 1;
                return out;
            };
            let offset = per_conn.mul_f64(i as f64 / conns as f64);
            let mut next = begin + offset;
            while next.duration_since(begin) < dur {
                tokio::time::sleep_until(next.into()).await;
                out.record(once(&mut send, &t, next).await, next);
                next += per_conn;
            }
            out
        }));
    }
    merge(tasks, begin).await
}

async fn merge(tasks: Vec<tokio::task::JoinHandle<Outcome>>, begin: Instant) -> Outcome {
    let mut all = Outcome::default();
    for t in tasks {
        if let Ok(o) = t.await {
            all.ok += o.ok;
            all.failed += o.failed;
            all.latency.extend(o.latency);
            all.ttfb.extend(o.ttfb);
        }
    }
    all.elapsed = begin.elapsed();
    all
}

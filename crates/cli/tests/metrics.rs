//! `/metrics` of a real daemon after a known number of `/v1` requests, agent turns and one
//! egress refusal in two mock sandboxes: the counters are exact, `sandgate <name> status`
//! reports the same usage, and `promtool check metrics` accepts the exposition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::Sg;
use serde_json::{Value, json};

/// One HTTP/1.1 exchange (`Connection: close`); returns the status and the body.
fn http(addr: &str, head: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

fn chat(port: u16, token: &str, text: &str) -> (u16, Value) {
    let body = json!({"model": "x", "messages": [{"role": "user", "content": text}]}).to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json"
    );
    let (status, body) = http(&format!("127.0.0.1:{port}"), &head, &body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `name{labels}` → value, labels in name order.
fn parse(exposition: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let pairs: BTreeMap<&str, &str> = rest
                    .trim_end_matches('}')
                    .split(',')
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k, v.trim_matches('"')))
                    .collect();
                let l: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (n, l.join(","))
            }
            None => (series, String::new()),
        };
        out.insert(
            format!("{name}{{{labels}}}"),
            value.parse().unwrap_or(f64::NAN),
        );
    }
    out
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key).unwrap_or_else(|| {
        let mut keys: Vec<_> = m.keys().filter(|k| k.starts_with("sandgate")).collect();
        keys.sort();
        panic!("no series {key}; have {keys:#?}")
    })
}

#[test]
fn metrics_count_requests_turns_and_egress_exactly() {
    let sg = Sg::new();
    // Onboarding runs one verification turn per sandbox (an agent turn over `ws`).
    let (_, port_a) = sg.onboard_mock("alpha", "mock-a");
    let (_, port_b) = sg.onboard_mock("beta", "mock-b");
    let token = |n: &str| {
        std::fs::read_to_string(sg.sandbox_dir(n).join("gateway-token"))
            .expect("token")
            .trim()
            .to_owned()
    };
    let (ta, tb) = (token("alpha"), token("beta"));

    // Where the metrics are: gateway.json and `gateway status --json` agree.
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(sg.state().join("gateway.json")).expect("gateway.json"),
    )
    .expect("json");
    let addr = file["metricsAddr"]
        .as_str()
        .expect("metricsAddr")
        .to_owned();
    let (_, st) = sg.json(&["gateway", "status", "--json"]);
    assert_eq!(st["gateway"]["metricsAddr"], addr.as_str());

    let (mut input_a, mut output_a) = (0, 0);
    for i in 0..3 {
        let (status, v) = chat(port_a, &ta, &format!("hello number {i} from alpha"));
        assert_eq!(status, 200, "{v}");
        input_a += v["usage"]["prompt_tokens"].as_u64().expect("usage");
        output_a += v["usage"]["completion_tokens"].as_u64().expect("usage");
    }
    let (status, _) = chat(port_a, "not-the-token", "hi");
    assert_eq!(status, 401);
    for _ in 0..2 {
        let (status, v) = chat(port_b, &tb, "hi from beta");
        assert_eq!(status, 200, "{v}");
    }
    for msg in ["one", "two"] {
        assert!(sg.run(&["alpha", "agent", "-m", msg]).ok());
    }
    assert!(sg.run(&["beta", "agent", "-m", "three"]).ok());
    // A refused egress target: 403, never connected.
    let (status, _) = http(
        &format!("127.0.0.1:{port_a}"),
        "CONNECT blocked.example:443 HTTP/1.1",
        "",
    );
    assert_eq!(status, 403);

    let (status, text) = http(&addr, "GET /metrics HTTP/1.1", "");
    assert_eq!(status, 200);
    let m = parse(&text);
    let req = |sb: &str, surface: &str, class: &str| {
        get(
            &m,
            &format!(
                "sandgate_requests_total{{code_class={class},sandbox={sb},surface={surface}}}"
            ),
        )
    };
    assert_eq!(req("alpha", "v1", "2xx"), 3.0);
    assert_eq!(req("alpha", "v1", "4xx"), 1.0);
    assert_eq!(req("beta", "v1", "2xx"), 2.0);
    assert_eq!(req("alpha", "ws", "2xx"), 3.0);
    assert_eq!(req("beta", "ws", "2xx"), 2.0);
    let tokens = |sb: &str, surface: &str, dir: &str| {
        get(
            &m,
            &format!("sandgate_tokens_total{{direction={dir},sandbox={sb},surface={surface}}}"),
        )
    };
    assert_eq!(tokens("alpha", "v1", "input"), input_a as f64);
    assert_eq!(tokens("alpha", "v1", "output"), output_a as f64);
    assert!(tokens("beta", "ws", "output") > 0.0);
    assert_eq!(
        get(
            &m,
            "sandgate_upstream_latency_seconds_count{sandbox=alpha,surface=v1}"
        ),
        4.0
    );
    assert_eq!(
        get(
            &m,
            "sandgate_time_to_first_token_seconds_count{sandbox=alpha,surface=ws}"
        ),
        3.0
    );
    assert_eq!(
        get(
            &m,
            "sandgate_egress_decisions_total{decision=denied,sandbox=alpha}"
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "sandgate_pairing_decisions_total{outcome=approved,sandbox=alpha}"
        ),
        3.0
    );
    assert!(
        !m.keys()
            .any(|k| k.starts_with("sandgate_egress") && k.contains("beta"))
    );
    assert!(get(&m, "process_resident_memory_bytes{}") > 0.0);
    assert!(get(&m, "process_open_fds{}") > 0.0);
    assert!(get(&m, "process_start_time_seconds{}") > 0.0);
    assert!(m.contains_key("sandgate_uptime_seconds{}"));

    // `status` carries the same counters.
    let (_, v) = sg.json(&["alpha", "status", "--json"]);
    let u = &v["usage"];
    assert_eq!(u["requests"], 7, "{v}");
    assert_eq!(u["errors"], 1, "{v}");
    assert!(
        u["inputTokens"].as_u64().expect("inputTokens") > input_a,
        "{v}"
    );
    let last = u["lastError"]["message"].as_str().expect("lastError");
    assert!(last.contains("401") && last.contains("v1"), "{last}");
    assert!(u["lastError"]["atMs"].as_u64().is_some_and(|t| t > 0));
    let out = sg.run(&["alpha", "status"]);
    assert!(out.stdout.contains("7 requests, 1 errors"), "{out}");
    assert!(out.stdout.contains("Last error:"), "{out}");

    promtool_accepts(&text);
}

fn promtool_accepts(exposition: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("NOTE: promtool not found (Debian package `prometheus`); exposition not linted");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics refused the exposition:\n{}{}\n{exposition}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

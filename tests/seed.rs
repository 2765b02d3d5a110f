//! The acceptance test of the whole product: the seed bug report
//! (`shared/seed/multi-sandbox-bug-report.txt`) played exactly, with real `sandgated` and
//! `sandgate` processes on a temporary state directory, two fake upstreams speaking the
//! Ollama and Gemini native wire formats, free loopback ports and no internet.
//!
//! Every assertion names the promise of DESIGN.md it protects ("condition 1 (gateway reuse)",
//! "condition 2 (concurrent inference)", "condition 3 (status)"), so a failure says which one
//! broke; "beyond the seed" covers admin escalation and a gateway restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod seed_support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use sandgate::gateway::client::{self, ClientOptions};
use sandgate::proto::Scope;
use sandgate::providers::fake::{FakeConfig, FakeKind, FakeUpstream};
use seed_support::{Out, Sg, alive, free_ports, inference_client, parse_env, parse_sse};
use serde_json::{Value, json};

const ALPHA: &str = "ollama-resume";
const ALPHA_PROVIDER: &str = "ollama-local";
const ALPHA_MODEL: &str = "qwen2.5:32b";
const ALPHA_MARK: &str = "[fake-ollama:ollama-resume]";
const BETA: &str = "prachi-gemini";
const BETA_PROVIDER: &str = "gemini-api";
const BETA_MODEL: &str = "gemini-2.5-flash-lite";
const BETA_MARK: &str = "[fake-gemini:prachi-gemini]";
const GEMINI_KEY: &str = "seed-gemini-key-7f3a";
/// Agent turns and streaming requests per sandbox in condition 2.
const TURNS: usize = 20;
/// How many of one sandbox's turns (or streams) are in flight at once.
const PER_SANDBOX_PARALLEL: usize = 4;

/// What a sandbox looks like from inside (`sandgate <name> exec -- env`).
#[derive(Debug, Clone)]
struct SandboxEnv {
    port: u16,
    token: String,
    ca_path: String,
    ca_pem: Vec<u8>,
}

async fn sandbox_env(sg: &Sg, name: &str) -> SandboxEnv {
    // From inside the sandbox: its environment, then the two CA files it names (the paths are
    // the sandbox's own view, not the host's).
    let script = "env; echo ---gateway-ca---; cat \"$NODE_EXTRA_CA_CERTS\"; echo ---bundle---; cat \"$SSL_CERT_FILE\"";
    let out = sg
        .run(&[name, "exec", "--no-workspace", "--", "sh", "-c", script])
        .await;
    assert!(out.ok(), "`{name} exec -- env` failed:\n{out}");
    let (env_text, rest) = out
        .stdout
        .split_once("---gateway-ca---\n")
        .unwrap_or((&out.stdout, ""));
    let (gateway_ca, bundle) = rest.split_once("---bundle---\n").unwrap_or((rest, ""));
    let vars = parse_env(env_text);
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} is not set inside sandbox `{name}`:\n{out}"))
    };
    let port: u16 = get("OPENCLAW_GATEWAY_PORT").parse().unwrap();
    assert_eq!(
        get("HTTPS_PROXY"),
        format!("http://127.0.0.1:{port}"),
        "sandbox `{name}` env: HTTPS_PROXY is not its own port"
    );
    // NODE_EXTRA_CA_CERTS is the gateway CA; SSL_CERT_FILE the system roots plus that CA.
    assert!(
        gateway_ca.contains("BEGIN CERTIFICATE") && bundle.contains(gateway_ca.trim()),
        "sandbox `{name}` env: SSL_CERT_FILE does not hold the gateway CA:\n{out}"
    );
    for key in ["GEMINI_API_KEY", "GOOGLE_API_KEY"] {
        assert!(
            vars.iter().all(|(n, _)| n != key),
            "sandbox `{name}` env leaks the provider credential variable {key}"
        );
    }
    let ca_path = get("NODE_EXTRA_CA_CERTS");
    let ca_pem = gateway_ca.as_bytes().to_vec();
    SandboxEnv {
        port,
        token: get("OPENCLAW_GATEWAY_TOKEN"),
        ca_path,
        ca_pem,
    }
}

/// `status --json`'s gateway as (pid, id, caFingerprint).
fn gateway_identity(status: &Value) -> (u64, String, String) {
    let g = &status["gateway"];
    (
        g["pid"].as_u64().unwrap_or_default(),
        g["id"].as_str().unwrap_or_default().to_string(),
        g["caFingerprint"].as_str().unwrap_or_default().to_string(),
    )
}

async fn onboard(sg: &Sg, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut full = vec!["onboard"];
    full.extend_from_slice(args);
    sg.run_env(&full, env).await
}

/// Onboarding ends with a gateway agent turn (step 8): when that turn is what failed, the
/// promise broken is condition 2, whatever step of the scenario the onboard belongs to.
fn onboard_failure_label(out: &Out, otherwise: &'static str) -> &'static str {
    if out.stderr.contains("verification turn failed") || out.stdout.contains("Verification failed")
    {
        "condition 2 (concurrent inference): the onboarding verification turn through the gateway failed"
    } else {
        otherwise
    }
}

/// One agent turn as a real process; returns its JSON or what went wrong.
async fn agent_turn(sg: &Sg, name: &str, message: &str) -> Result<Value, String> {
    let out = sg
        .run(&[
            name,
            "agent",
            "--agent",
            "main",
            "-m",
            message,
            "--session-id",
            "debug",
            "--json",
        ])
        .await;
    if !out.ok() {
        return Err(format!("agent turn failed:\n{out}"));
    }
    serde_json::from_str(&out.stdout)
        .map_err(|e| format!("agent turn printed no JSON ({e}):\n{out}"))
}

/// Checks one agent turn's JSON for sandbox `name`; `Err` says what is wrong.
fn check_turn(v: &Value, name: &str, provider: &str, model: &str) -> Result<(), String> {
    let (own, other) = marks(name);
    let reply = v["reply"].as_str().unwrap_or_default();
    let problems: Vec<String> = [
        (v["transport"] != "gateway").then(|| format!("transport is {}", v["transport"])),
        (v["sandbox"] != name).then(|| format!("sandbox is {}", v["sandbox"])),
        (v["provider"] != provider).then(|| format!("provider is {}", v["provider"])),
        (v["model"] != model).then(|| format!("model is {}", v["model"])),
        (v["sessionId"] != "debug").then(|| format!("sessionId is {}", v["sessionId"])),
        (!reply.contains(own)).then(|| format!("reply lacks {own}")),
        reply
            .contains(other)
            .then(|| format!("reply came from the other sandbox's upstream ({other})")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {v}", problems.join("; ")))
    }
}

fn marks(name: &str) -> (&'static str, &'static str) {
    if name == ALPHA {
        (ALPHA_MARK, BETA_MARK)
    } else {
        (BETA_MARK, ALPHA_MARK)
    }
}

/// `TURNS` agent turns in sandbox `name`, `PER_SANDBOX_PARALLEL` at a time.
async fn agent_turns(sg: &Sg, name: &str, provider: &str, model: &str) -> Vec<String> {
    futures::stream::iter(1..=TURNS)
        .map(|i| async move {
            let msg = format!("Test from {name} #{i}");
            match agent_turn(sg, name, &msg).await {
                Ok(v) => check_turn(&v, name, provider, model)
                    .err()
                    .map(|e| format!("{name} turn #{i}: {e}")),
                Err(e) => Some(format!("{name} turn #{i}: {e}")),
            }
        })
        .buffer_unordered(PER_SANDBOX_PARALLEL)
        .filter_map(|r| async move { r })
        .collect()
        .await
}

/// One streaming chat completion to `https://inference.local` through the sandbox's proxy.
async fn stream_once(http: &reqwest::Client, name: &str, i: usize) -> Result<(), String> {
    let (own, other) = marks(name);
    let body = json!({
        "model": "whatever-the-caller-says",
        "messages": [{"role": "user", "content": format!("Stream from {name} #{i}")}],
        "stream": true,
    });
    let resp = http
        .post("https://inference.local/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e:?}"))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("reading the stream failed: {e:?}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {text}"));
    }
    let (content, _) = parse_sse(&text).map_err(|e| format!("malformed SSE ({e}):\n{text}"))?;
    if !content.contains(own) {
        return Err(format!("streamed reply lacks {own}: {content:?}"));
    }
    if content.contains(other) {
        return Err(format!(
            "streamed reply came from the other sandbox's upstream: {content:?}"
        ));
    }
    Ok(())
}

async fn streams(http: &reqwest::Client, name: &str) -> Vec<String> {
    futures::stream::iter(1..=TURNS)
        .map(|i| async move {
            stream_once(http, name, i)
                .await
                .err()
                .map(|e| format!("{name} stream #{i}: {e}"))
        })
        .buffer_unordered(PER_SANDBOX_PARALLEL)
        .filter_map(|r| async move { r })
        .collect()
        .await
}

async fn pending_requests(sg: &Sg, name: &str) -> Vec<Value> {
    let (out, v) = sg.json(&[name, "devices", "list", "--json"]).await;
    assert!(out.ok(), "`{name} devices list --json` failed:\n{out}");
    v["result"]["pending"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("`{name} devices list --json` has no pending list:\n{out}"))
}

async fn models_through_proxy(port: u16, ca_pem: &[u8]) -> Result<Value, String> {
    let http = inference_client(port, ca_pem);
    let resp = http
        .get("https://inference.local/v1/models")
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{e:?}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))
}

fn scope_names(set: &sandgate::proto::ScopeSet) -> Vec<String> {
    let mut v: Vec<String> = set.iter().map(|s| s.as_str().to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_two_sandboxes_share_one_gateway() {
    let started = Instant::now();
    let ollama = FakeUpstream::spawn(FakeConfig::new(FakeKind::Ollama).label(ALPHA))
        .await
        .expect("start the fake Ollama");
    let gemini = FakeUpstream::spawn(
        FakeConfig::new(FakeKind::Gemini)
            .label(BETA)
            .credential(GEMINI_KEY),
    )
    .await
    .expect("start the fake Gemini");
    let sg = Sg::new();
    let ports = free_ports(2);
    let (port1, port2) = (ports[0], ports[1]);
    let (p1, p2) = (port1.to_string(), port2.to_string());
    let (ollama_url, gemini_url) = (ollama.base_url(), gemini.base_url());

    // ── 1. The first sandbox, as in the report's preconditions.
    let first = onboard(
        &sg,
        &[
            "--name",
            ALPHA,
            "--provider",
            ALPHA_PROVIDER,
            "--model",
            ALPHA_MODEL,
            "--policy",
            "npm,pypi,huggingface,brew,brave,local-inference",
            "--endpoint",
            &ollama_url,
            "--port",
            &p1,
            "--non-interactive",
        ],
        &[],
    )
    .await;
    assert!(
        first.ok(),
        "{}: onboarding {ALPHA} failed:\n{first}",
        onboard_failure_label(&first, "setup")
    );
    assert!(
        !first.stdout.contains("[reuse]"),
        "setup: the first onboard claims to reuse a gateway in an empty state dir:\n{first}"
    );
    let (out, status0) = sg.json(&["status", "--json"]).await;
    assert!(
        out.ok(),
        "setup: status after the first onboard is not healthy:\n{out}"
    );
    let (pid0, id0, fp0) = gateway_identity(&status0);
    assert!(
        pid0 > 0 && !id0.is_empty() && !fp0.is_empty(),
        "setup: the gateway has no pid/id/caFingerprint:\n{out}"
    );
    let alpha_env = sandbox_env(&sg, ALPHA).await;
    assert_eq!(
        alpha_env.port, port1,
        "setup: {ALPHA} is not on --port {port1}"
    );
    models_through_proxy(port1, &alpha_env.ca_pem)
        .await
        .unwrap_or_else(|e| {
            panic!("setup: inference.local does not answer {ALPHA} before the second onboard: {e}")
        });

    // ── 2. The second sandbox, on the same host and state dir; its key only in its env.
    let second = onboard(
        &sg,
        &[
            "--name",
            BETA,
            "--provider",
            BETA_PROVIDER,
            "--model",
            BETA_MODEL,
            "--endpoint",
            &gemini_url,
            "--port",
            &p2,
        ],
        &[("GEMINI_API_KEY", GEMINI_KEY)],
    )
    .await;

    // ── 3. Condition 1: the second onboard reuses the gateway and breaks nothing of the first.
    assert!(
        second.ok(),
        "{}: the second onboard ({BETA}) failed:\n{second}",
        onboard_failure_label(&second, "condition 1 (gateway reuse)")
    );
    for line in [
        "[reuse] Skipping gateway (running)",
        "Reusing healthy gateway.",
    ] {
        assert!(
            second.stdout.contains(line),
            "condition 1 (gateway reuse): the second onboard does not print `{line}`:\n{second}"
        );
    }
    let (out, status1) = sg.json(&["status", "--json"]).await;
    let (pid1, id1, fp1) = gateway_identity(&status1);
    assert_eq!(
        pid1, pid0,
        "condition 1 (gateway reuse): gateway pid changed across the second onboard ({pid0} → {pid1}):\n{out}"
    );
    assert!(
        alive(u32::try_from(pid0).unwrap()),
        "condition 1 (gateway reuse): the original gateway process {pid0} is gone"
    );
    assert_eq!(
        id1, id0,
        "condition 1 (gateway reuse): gateway id changed across the second onboard:\n{out}"
    );
    assert_eq!(
        fp1, fp0,
        "condition 1 (gateway reuse): CA fingerprint changed across the second onboard:\n{out}"
    );
    assert_eq!(
        sg.daemons(),
        vec![u32::try_from(pid0).unwrap()],
        "condition 1 (gateway reuse): not exactly one sandgated serves the state dir"
    );
    let ca_now = sandbox_env(&sg, ALPHA).await.ca_pem;
    assert!(
        ca_now == alpha_env.ca_pem,
        "condition 1 (gateway reuse): {ALPHA}'s CA bundle {} was rewritten by the second onboard",
        alpha_env.ca_path
    );
    let models = models_through_proxy(port1, &alpha_env.ca_pem)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "condition 1 (gateway reuse): {ALPHA}'s inference.local certificate no longer verifies against the CA bundle it held before the second onboard (or the route is gone): {e}"
            )
        });
    assert!(
        models["data"].is_array(),
        "condition 1 (gateway reuse): /v1/models through {ALPHA}'s proxy is not a model list: {models}"
    );
    let beta_env = sandbox_env(&sg, BETA).await;
    assert_eq!(
        beta_env.port, port2,
        "setup: {BETA} is not on --port {port2}"
    );
    assert_eq!(
        beta_env.ca_pem, alpha_env.ca_pem,
        "condition 1 (gateway reuse): the two sandboxes were given different CA bundles"
    );
    assert_ne!(
        beta_env.token, alpha_env.token,
        "setup: both sandboxes got the same sandbox token"
    );

    // ── 4. Condition 2: both sandboxes at once, agent turns and streams, each on its own upstream.
    let before = (ollama.request_count(), gemini.request_count());
    let (http_a, http_b) = (
        inference_client(port1, &alpha_env.ca_pem),
        inference_client(port2, &beta_env.ca_pem),
    );
    let phase = Instant::now();
    let (turns_a, turns_b, streams_a, streams_b) = tokio::join!(
        agent_turns(&sg, ALPHA, ALPHA_PROVIDER, ALPHA_MODEL),
        agent_turns(&sg, BETA, BETA_PROVIDER, BETA_MODEL),
        streams(&http_a, ALPHA),
        streams(&http_b, BETA),
    );
    let phase = phase.elapsed();
    let failures: Vec<String> = [turns_a, turns_b, streams_a, streams_b]
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "condition 2 (concurrent inference): {} of {} calls failed; first ones:\n{}",
        failures.len(),
        4 * TURNS,
        failures
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    let after = (ollama.request_count(), gemini.request_count());
    assert_eq!(
        after.0 - before.0,
        2 * TURNS,
        "condition 2 (concurrent inference): the {ALPHA} upstream got {} requests for {} calls from {ALPHA} (something crossed over or was retried)",
        after.0 - before.0,
        2 * TURNS
    );
    assert_eq!(
        after.1 - before.1,
        2 * TURNS,
        "condition 2 (concurrent inference): the {BETA} upstream got {} requests for {} calls from {BETA} (something crossed over or was retried)",
        after.1 - before.1,
        2 * TURNS
    );
    for name in [ALPHA, BETA] {
        let pending = pending_requests(&sg, name).await;
        assert!(
            pending.is_empty(),
            "condition 2 (concurrent inference): {name} has pending approvals after its turns: {pending:?}"
        );
    }
    eprintln!(
        "condition 2: {} agent turns and {} streams in {phase:?}",
        2 * TURNS,
        2 * TURNS
    );

    // ── 5. Condition 3: status tells the truth.
    let (out, status) = sg.json(&["status", "--json"]).await;
    assert!(
        out.ok(),
        "condition 3 (status): `status --json` exits non-zero with two healthy sandboxes:\n{out}"
    );
    assert_eq!(
        status["schemaVersion"], 1,
        "condition 3 (status): schemaVersion is not 1:\n{out}"
    );
    let g = &status["gateway"];
    assert!(
        g.is_object() && g["running"] == true,
        "condition 3 (status): the gateway is not reported running:\n{out}"
    );
    assert_eq!(
        gateway_identity(&status),
        (pid0, id0.clone(), fp0.clone()),
        "condition 3 (status): the gateway reported is not the one gateway (pid, id, caFingerprint):\n{out}"
    );
    let sandboxes = status["sandboxes"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        sandboxes.len(),
        2,
        "condition 3 (status): expected both sandboxes in status, got {}:\n{out}",
        sandboxes.len()
    );
    for (name, provider, model, port) in [
        (ALPHA, ALPHA_PROVIDER, ALPHA_MODEL, port1),
        (BETA, BETA_PROVIDER, BETA_MODEL, port2),
    ] {
        let s = sandboxes
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("condition 3 (status): sandbox {name} is missing:\n{out}"));
        assert_eq!(
            s["ready"], true,
            "condition 3 (status): sandbox {name} is not ready: {s}"
        );
        assert_eq!(
            (&s["provider"], &s["model"], &s["port"]),
            (&json!(provider), &json!(model), &json!(port)),
            "condition 3 (status): sandbox {name} does not show its onboarded provider/model/port: {s}"
        );
    }
    assert_eq!(
        sg.daemons(),
        vec![u32::try_from(pid0).unwrap()],
        "condition 3 (status): not exactly one sandgated runs for the state dir"
    );

    // ── 6. Beyond the seed: escalation is granted within the policy and resolved in one step.
    let identity = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = ClientOptions::new(format!("ws://127.0.0.1:{port1}"));
        o.token = Some(alpha_env.token.clone());
        o.identity_dir = Some(identity.path().to_path_buf());
        o.scopes = vec![Scope::Admin];
        o.timeout = Duration::from_secs(15);
        o
    };
    let conn = client::connect(opts()).await.unwrap_or_else(|e| {
        panic!(
            "beyond the seed (escalation): a new device asking for operator.admin was refused: {e}"
        )
    });
    assert_eq!(
        scope_names(conn.granted_scopes()),
        ["operator.approvals", "operator.read", "operator.write"],
        "beyond the seed (escalation): granted scopes are not the policy ceiling"
    );
    let request_id = conn
        .pending_request()
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "beyond the seed (escalation): no pending request for operator.admin; hello: {}",
                conn.hello().to_value()
            )
        });
    let remedy = conn.pending_remedy().unwrap_or_default().to_owned();
    assert!(
        remedy.contains(&format!("sandgate {ALPHA} devices approve {request_id}")),
        "beyond the seed (escalation): the pending request does not name its remedy: {remedy:?}"
    );
    let pending = pending_requests(&sg, ALPHA).await;
    let entry = pending
        .iter()
        .find(|p| p["requestId"] == request_id.as_str())
        .unwrap_or_else(|| {
            panic!("beyond the seed (escalation): `devices list` does not show request {request_id}: {pending:?}")
        });
    assert!(
        entry["scopes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s == "operator.admin")),
        "beyond the seed (escalation): pending request {request_id} does not ask for operator.admin: {entry}"
    );
    conn.close().await;
    let out = sg.run(&[ALPHA, "devices", "approve", &request_id]).await;
    assert!(
        out.ok(),
        "beyond the seed (escalation): approving {request_id} failed:\n{out}"
    );
    let conn = client::connect(opts()).await.unwrap_or_else(|e| {
        panic!("beyond the seed (escalation): reconnect after approval failed: {e}")
    });
    assert!(
        conn.granted_scopes().contains(&Scope::Admin) && conn.pending_request().is_none(),
        "beyond the seed (escalation): after approval the device has {:?}, pending {:?}",
        scope_names(conn.granted_scopes()),
        conn.pending_request()
    );
    conn.close().await;
    assert!(
        pending_requests(&sg, ALPHA).await.is_empty(),
        "beyond the seed (escalation): a pending request is left after approval"
    );

    // ── 6b. Beyond the seed: a restart keeps the CA, the pairings and both routes.
    let out = sg.run(&["gateway", "stop"]).await;
    assert!(
        out.ok(),
        "beyond the seed (restart): gateway stop failed:\n{out}"
    );
    assert!(
        !alive(u32::try_from(pid0).unwrap()),
        "beyond the seed (restart): gateway {pid0} still runs after stop"
    );
    let out = sg.run(&["gateway", "start"]).await;
    assert!(
        out.ok(),
        "beyond the seed (restart): gateway start failed:\n{out}"
    );
    let (out, status2) = sg.json(&["status", "--json"]).await;
    assert!(
        out.ok(),
        "beyond the seed (restart): status after restart is not healthy:\n{out}"
    );
    let (pid2, id2, fp2) = gateway_identity(&status2);
    assert!(
        pid2 > 0 && pid2 != pid0,
        "beyond the seed (restart): no new gateway pid after restart:\n{out}"
    );
    assert_eq!(
        fp2, fp0,
        "beyond the seed (restart): CA fingerprint changed across a restart:\n{out}"
    );
    assert_eq!(
        id2, id0,
        "beyond the seed (restart): gateway id changed across a restart:\n{out}"
    );
    models_through_proxy(port1, &alpha_env.ca_pem)
        .await
        .unwrap_or_else(|e| panic!("beyond the seed (restart): {ALPHA}'s original CA bundle no longer verifies inference.local: {e}"));
    let (after_a, after_b) = tokio::join!(
        agent_turn(&sg, ALPHA, "Test from ollama-resume after restart"),
        agent_turn(&sg, BETA, "Test from prachi-gemini after restart"),
    );
    for (name, provider, model, turn) in [
        (ALPHA, ALPHA_PROVIDER, ALPHA_MODEL, after_a),
        (BETA, BETA_PROVIDER, BETA_MODEL, after_b),
    ] {
        let v = turn.unwrap_or_else(|e| panic!("beyond the seed (restart): {name}: {e}"));
        if let Err(e) = check_turn(&v, name, provider, model) {
            panic!("beyond the seed (restart): {name}: {e}");
        }
        let pending = pending_requests(&sg, name).await;
        assert!(
            pending.is_empty(),
            "beyond the seed (restart): {name} needed new pairing after restart: {pending:?}"
        );
    }
    let conn = client::connect(opts()).await.unwrap_or_else(|e| {
        panic!("beyond the seed (restart): the approved device cannot reconnect: {e}")
    });
    assert!(
        conn.granted_scopes().contains(&Scope::Admin) && conn.pending_request().is_none(),
        "beyond the seed (restart): the approved device lost operator.admin across a restart: {:?}",
        scope_names(conn.granted_scopes())
    );
    conn.close().await;
    eprintln!("seed scenario passed in {:?}", started.elapsed());
}

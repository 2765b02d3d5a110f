#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The NemoClaw layout: a real OpenClaw 2026.9.6 gateway started inside a sandbox, with the
//! configuration onboarding wrote in the sandbox's `OPENCLAW_STATE_DIR` and nothing else,
//! and `openclaw agent` through it. Its embedded agent calls `https://inference.local` via
//! the sandbox's proxy and gets its reply from the sandbox's own route: `openai-completions`
//! on an Ollama and a Gemini route, `anthropic-messages` on an Anthropic route (fakes),
//! after a tool round trip (the fake calls OpenClaw's first tool, then answers its result).
//!
//! Needs `SANDGATE_TEST_NODE` and `SANDGATE_TEST_OPENCLAW_DIR` (`scripts/test` sets them);
//! without them it prints that it did not run and passes.

mod common;

use common::Sg;
use common::fakes::{self, Fakes};
use sandgate_providers::fake::FakeKind;
use serde_json::Value;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/openclaw-gateway-turn.sh"
);

#[test]
fn openclaw_gateway_inside_the_sandbox_replies_from_the_sandbox_route() {
    let Some((node, cli)) = common::openclaw_cli("2026.9.6") else {
        return;
    };
    let fakes = Fakes::new();
    let sg = Sg::new();
    let routes = [
        (FakeKind::Ollama, "openai-completions", "qwen-test:8b"),
        (FakeKind::Gemini, "openai-completions", "gemini-test-flash"),
        (FakeKind::Anthropic, "anthropic-messages", "claude-test"),
    ];
    let mut upstreams = Vec::new();
    for (kind, api, model) in routes {
        let name = format!("oc-{kind}");
        let fake = fakes.spawn(kind, "oc");
        sg.onboard_fake(&name, &fake, model);
        let written = std::fs::read(sg.sandbox_dir(&name).join("openclaw/openclaw.json")).unwrap();
        let config: Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(
            config["models"]["providers"]["sandgate"]["api"], api,
            "{config}"
        );
        let text = String::from_utf8_lossy(&written);
        assert!(
            !text.contains(&fakes::route_key(kind)),
            "a secret in {text}"
        );
        upstreams.push(fake);
    }

    // One OpenClaw gateway per sandbox, all at once, each on a port of its own.
    let runs: Vec<_> = routes
        .iter()
        .map(|(kind, _, _)| {
            let port = common::free_port().to_string();
            let msg = format!("Hello from the {kind} sandbox");
            let argv = ["sh", SCRIPT, &node, &cli, &port, &msg];
            (format!("oc-{kind}"), argv.map(String::from).to_vec())
        })
        .collect();
    let outs = sg.exec_concurrently(&runs);
    for (((kind, api, model), out), fake) in routes.iter().zip(outs).zip(&upstreams) {
        eprintln!(
            "--- {kind} ({api}): openclaw agent printed:\n{}",
            out.stdout
        );
        if let Some(last) = fake.last_request() {
            // Shown on failure (the test harness captures it): the end of the conversation.
            let body = String::from_utf8_lossy(&last.body);
            let tail = body.get(body.len().saturating_sub(3000)..).unwrap_or(&body);
            eprintln!(
                "--- {kind}: the upstream's last request: {} {}\n…{tail}",
                last.method, last.path
            );
        }
        assert!(
            out.ok(),
            "openclaw agent via the sandbox's OpenClaw gateway failed on {kind}: {out}"
        );
        let v: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{kind}: not JSON ({e}): {out}"));
        assert_eq!(v["status"], "ok", "{kind}: {v}");
        let reply = v["result"]["payloads"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reply.contains(&fakes::marker(*kind, "oc")),
            "{kind}: the reply is not the sandbox route's: {v}"
        );
        // OpenClaw's own agent ran the turn on the provider onboarding configured.
        let trace = &v["result"]["meta"]["executionTrace"];
        assert_eq!(trace["winnerProvider"], "sandgate", "{kind}: {v}");
        assert_eq!(trace["winnerModel"], *model, "{kind}: {v}");
        // A tool round trip through the translation: the fake calls OpenClaw's first tool,
        // then answers the tool's result in text.
        assert_eq!(
            v["result"]["meta"]["toolSummary"]["calls"], 1,
            "{kind}: no tool round trip: {v}"
        );
        // The route's model reached the route's upstream, with the route's key only.
        let last = fake.last_request().unwrap();
        assert!(
            format!("{} {}", last.path, last.json()).contains(model),
            "{kind}: the upstream did not see {model}"
        );
        fakes::assert_route_credential_only(kind.as_str(), fake);
    }
}

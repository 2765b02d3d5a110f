#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The official OpenAI (`responses.create`, streaming, a tool round trip) and Anthropic
//! (`messages.create`, `messages.stream`, a tool round trip, a bad block) Python SDKs,
//! unmodified, inside real sandboxes (`sandgate <name> exec`), against
//! `https://inference.local` with only the environment the sandbox gets (its proxy and CA
//! bundle): one sandbox per route, on each native adapter's fake (OpenAI-compatible,
//! Ollama, Gemini, Anthropic) and the mock, one Python process per route running every call.
//! The script and its expectations are the gateway-level test's (`apis_sdk.rs`).

mod common;
#[path = "../../gateway/tests/py/apis_sdk_expect.rs"]
mod expect;

use common::Sg;
use common::fakes::{self, Fakes};

#[test]
fn official_sdks_speak_responses_and_messages_inside_sandboxes_on_every_route() {
    let Ok(python) = std::env::var("SANDGATE_TEST_PYTHON") else {
        eprintln!(
            "NOTE: in-sandbox SDK test not run: set SANDGATE_TEST_PYTHON (scripts/test does)"
        );
        return;
    };
    let fakes = Fakes::new();
    let sg = Sg::new();
    let mut routes = Vec::new();
    for kind in fakes::ALL {
        let fake = fakes.spawn(kind, "sdk");
        sg.onboard_fake(&format!("sdk-{kind}"), &fake, "route-model");
        routes.push((
            format!("sdk-{kind}"),
            fakes::marker(kind, "sdk"),
            "0",
            Some(fake),
        ));
    }
    sg.onboard_mock("sdk-mock", "mock-model");
    // The mock calls a tool only when the caller requires one.
    routes.push(("sdk-mock".into(), "mock reply to".into(), "1", None));

    let runs: Vec<_> = routes
        .iter()
        .map(|(name, marker, force, _)| {
            let argv = [python.as_str(), expect::SCRIPT, marker, force];
            (name.clone(), argv.map(String::from).to_vec())
        })
        .collect();
    let outs = sg.exec_concurrently(&runs);
    for ((name, marker, _, fake), out) in routes.iter().zip(outs) {
        assert!(out.ok(), "the SDKs failed in {name}: {out}");
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {out}"));
        expect::check(&v, marker, name);
        let Some(fake) = fake else { continue };
        fakes::assert_route_credential_only(name, fake);
    }
}

//! `sandgate demo`: the seed scenario on the built-in mock provider — one gateway, two
//! sandboxes on different models, concurrent agent turns, then cleanup.

use std::path::Path;
use std::time::Instant;

use crate::args::{AgentArgs, OnboardArgs};
use crate::error::CliResult;
use crate::gateway_cmd::{self, Started};
use crate::paths::StateDir;
use crate::ui::{self, Steps};
use crate::{agent, env, onboard};

const SANDBOXES: [(&str, &str); 2] = [("alpha", "mock-alpha"), ("beta", "mock-beta")];

/// Runs the demo in `state_dir`, or in a temporary directory that is removed afterwards.
pub async fn run(state_dir: Option<&Path>) -> CliResult<u8> {
    let temporary = state_dir.is_none();
    let state = match state_dir {
        Some(d) => StateDir::resolve(Some(d))?,
        None => StateDir::new(std::env::temp_dir().join(format!(
            "sandgate-demo-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))),
    };
    println!(
        "sandgate demo: one gateway, two sandboxes, concurrent agent turns (state: {})",
        state.root().display()
    );
    let t0 = Instant::now();
    let mut started_child = None;
    let result = scenario(&state, &mut started_child).await;
    if temporary {
        if started_child.is_some() {
            match gateway_cmd::stop(&state).await {
                Ok(_) => println!("Stopped the demo gateway."),
                Err(e) => eprintln!("{}", e.render()),
            }
            if let Some(mut c) = started_child {
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(state.root());
    } else if started_child.is_some() {
        println!(
            "The gateway keeps running for {}; stop it with `{}`.",
            state.root().display(),
            state.cmd("gateway stop")
        );
    }
    result?;
    println!("Demo finished in {:.1}s.", t0.elapsed().as_secs_f64());
    println!();
    println!("Onboard a real provider next, e.g.:");
    println!("  export GEMINI_API_KEY=<your key>");
    println!(
        "  sandgate onboard --name my-gemini --provider gemini-api --model gemini-2.5-flash-lite"
    );
    println!("  sandgate my-gemini agent --agent main -m \"hello\"");
    Ok(0)
}

async fn scenario(
    state: &StateDir,
    started_child: &mut Option<std::process::Child>,
) -> CliResult<()> {
    let mut gateway_ids = Vec::new();
    for (name, model) in SANDBOXES {
        if env::read_record(state, name).is_some() {
            let g = gateway_cmd::ensure_running(state, &mut |l| println!("{l}")).await?;
            if let Started::Spawned(_, child) = g {
                *started_child = child;
            }
            println!("[reuse] Sandbox `{name}` already exists; keeping it.");
            continue;
        }
        println!();
        println!("Onboarding `{name}` (mock / {model})");
        let t = Instant::now();
        let args = OnboardArgs {
            name: name.into(),
            provider: "mock".into(),
            model: model.into(),
            endpoint: None,
            credential_env: None,
            port: None,
            policy: vec!["npm".into(), "pypi".into()],
            isolation: None,
            non_interactive: true,
        };
        let mut steps = Steps::new(onboard::STEPS, false);
        let done = onboard::onboard(state, &args, &mut steps).await;
        drop(steps);
        let done = done?;
        gateway_ids.push((
            done.gateway.health().pid,
            done.gateway.health().ca_fingerprint.clone(),
        ));
        if let Started::Spawned(_, child) = done.gateway {
            *started_child = child;
        }
        println!(
            "  onboarded `{name}` on port {} in {} ms",
            done.sandbox.port,
            t.elapsed().as_millis()
        );
    }
    if let [(pid_a, ca_a), (pid_b, ca_b)] = gateway_ids.as_slice() {
        let same = pid_a == pid_b && ca_a == ca_b;
        println!();
        println!(
            "Second onboard reused the gateway: {} (pid {pid_a} → {pid_b}, CA unchanged: {})",
            if same { ui::ok("yes") } else { ui::bad("no") },
            ca_a == ca_b
        );
    }
    println!();
    println!("Running one agent turn in each sandbox at the same time…");
    let turn = |m: &str| AgentArgs {
        agent: "main".into(),
        message: m.into(),
        session_id: Some("demo".into()),
    };
    let (a_args, b_args) = (turn("Test from alpha"), turn("Test from beta"));
    let t = Instant::now();
    let (a, b) = tokio::join!(
        agent::run_turn(state, SANDBOXES[0].0, &a_args, false),
        agent::run_turn(state, SANDBOXES[1].0, &b_args, false)
    );
    let wall = t.elapsed().as_millis();
    for r in [a?, b?] {
        println!(
            "  {} → {} / {} ({} ms, transport {}): {}",
            r.sandbox,
            r.provider,
            r.model,
            r.elapsed_ms,
            r.transport,
            r.reply.trim()
        );
    }
    println!(
        "Both turns went through the shared gateway in {wall} ms (no fallback, no approval wait)."
    );
    Ok(())
}

//! Runs one fake inference upstream (test equipment) until Ctrl-C.
//!
//! ```text
//! cargo run --example fake_upstream -- --kind ollama --label alpha --port 0 --latency-ms 5 --tokens 16
//! ```
//!
//! Options: `--kind openai|ollama|gemini|anthropic` (default openai), `--label L`,
//! `--port N` (0 = any free port), `--latency-ms N` (per streamed chunk), `--tokens N`,
//! `--credential KEY` (required in the provider's auth header), `--fail MODE` with MODE one of
//! `503` (any status), `timeout`, `cut:N`, `stall:N`.
//!
//! It prints the base URL to use as a route endpoint, e.g. `http://127.0.0.1:40123` for
//! Ollama or `http://127.0.0.1:40123/v1` for OpenAI.

use std::time::Duration;

use anyhow::{Context, bail};
use sandgate::providers::fake::{Failure, FakeConfig, FakeKind};

fn parse_failure(s: &str) -> anyhow::Result<Failure> {
    let count = |n: &str| {
        n.parse::<usize>()
            .context("--fail cut:N / stall:N needs a number")
    };
    Ok(match s.split_once(':') {
        Some(("cut", n)) => Failure::CutStream(count(n)?),
        Some(("stall", n)) => Failure::Stall(count(n)?),
        None if s == "timeout" => Failure::Timeout,
        None if s == "none" => Failure::None,
        None => Failure::Status5xx(
            s.parse()
                .context("--fail takes a status, timeout, cut:N or stall:N")?,
        ),
        Some(_) => bail!("--fail takes a status, timeout, cut:N or stall:N"),
    })
}

fn parse_args() -> anyhow::Result<FakeConfig> {
    let mut args = std::env::args().skip(1);
    let mut cfg = FakeConfig::new(FakeKind::OpenAi);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!(
                "usage: fake_upstream [--kind openai|ollama|gemini|anthropic] [--label L] [--port N] \
                 [--latency-ms N] [--tokens N] [--credential KEY] [--fail 503|timeout|cut:N|stall:N]"
            );
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--kind" => cfg.kind = value.parse::<FakeKind>().map_err(anyhow::Error::msg)?,
            "--label" => cfg.label = value,
            "--port" => cfg.port = value.parse().context("--port needs a number")?,
            "--latency-ms" => {
                cfg.latency =
                    Duration::from_millis(value.parse().context("--latency-ms needs a number")?);
            }
            "--tokens" => cfg.tokens = value.parse().context("--tokens needs a number")?,
            "--credential" => cfg.credential = Some(value),
            "--fail" => cfg.failure = parse_failure(&value)?,
            other => bail!("unknown option {other} (try --help)"),
        }
    }
    Ok(cfg)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = parse_args()?;
    let kind = cfg.kind;
    let label = cfg.label.clone();
    let fake = cfg.spawn().await.context("binding the fake upstream")?;
    println!("{}", fake.base_url());
    eprintln!(
        "fake {kind} upstream `{label}` listening on {} (provider {}); Ctrl-C to stop",
        fake.addr(),
        kind.provider_kind()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("served {} request(s)", fake.request_count());
    fake.shutdown();
    Ok(())
}

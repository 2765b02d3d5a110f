//! Command-line grammar for `sandgate` and `sandgated` (see DESIGN.md, "CLI contract").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `sandgate`: one gateway for many agent sandboxes.
#[derive(Debug, Parser)]
#[command(name = "sandgate", version, about, long_about = None)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// State directory (default `~/.sandgate`).
    #[arg(long, global = true, env = "SANDGATE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Machine-readable output (read commands).
    #[arg(long, global = true)]
    pub json: bool,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole seed scenario on the built-in mock provider.
    Demo,
    /// List sandboxes.
    List,
    /// Show the gateway and every sandbox.
    Status,
}

/// `sandgated`: the daemon that hosts every sandbox's gateway.
#[derive(Debug, Parser)]
#[command(name = "sandgated", version, about, long_about = None)]
pub struct DaemonArgs {
    /// State directory (default `~/.sandgate`).
    #[arg(long, env = "SANDGATE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

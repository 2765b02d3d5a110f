//! Command-line grammar for `sandgate` and `sandgated` (see DESIGN.md, "CLI contract").
//!
//! `sandgate <name> <action>` is parsed in two stages: the top-level parser sees an unknown
//! first word as an external subcommand, and [`SandboxCli`] parses the rest.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `sandgate`: one gateway for many agent sandboxes.
#[derive(Debug, Parser)]
#[command(
    name = "sandgate",
    version,
    about,
    long_about = None,
    after_help = "Sandbox commands: sandgate <name> status | connect | exec -- CMD | agent -m MSG | \
                  devices list|approve ID|reject ID|revoke DEVICE | inference get|set | logs | destroy"
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// State directory (default `~/.sandgate`).
    #[arg(long, global = true, env = "SANDGATE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Machine-readable output (read commands).
    #[arg(long, global = true)]
    pub json: bool,
}

impl GlobalArgs {
    /// Combines options given before the sandbox name with those given after it.
    pub fn merged(&self, later: &GlobalArgs) -> GlobalArgs {
        GlobalArgs {
            state_dir: later.state_dir.clone().or_else(|| self.state_dir.clone()),
            json: self.json || later.json,
        }
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop or inspect the shared gateway daemon.
    Gateway {
        /// What to do with the gateway.
        #[command(subcommand)]
        action: GatewayAction,
    },
    /// Create a sandbox: route, token, scope policy and a pre-approved CLI device.
    Onboard(OnboardArgs),
    /// List sandboxes.
    List,
    /// Show the gateway and every sandbox; exits non-zero when something is degraded.
    Status,
    /// Run one agent turn through a sandbox's gateway (no fallback).
    Agent(AgentTopArgs),
    /// Run the whole seed scenario on the built-in mock provider.
    Demo,
    /// Show gateway log lines (all sandboxes and the gateway itself).
    Logs(LogsArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
    /// `sandgate <name> …`: commands for one sandbox.
    #[command(external_subcommand)]
    Sandbox(Vec<String>),
}

/// `sandgate [<name>] logs …`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Number of lines to show (before following).
    #[arg(short = 'n', long, default_value_t = 200)]
    pub tail: usize,
    /// Keep printing new lines as the gateway writes them (until Ctrl-C).
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines at or after this time: a duration ago (`90s`, `10m`, `2h`, `1d`) or an
    /// RFC 3339 time (`2026-01-31T12:00:00Z`).
    #[arg(long)]
    pub since: Option<String>,
}

/// `sandgate gateway …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum GatewayAction {
    /// Start the gateway, or reuse the healthy one that is running.
    Start,
    /// Stop the gateway (SIGTERM) and wait for it to exit.
    Stop,
    /// Show whether the gateway runs and is healthy.
    Status,
}

/// `sandgate onboard …`.
#[derive(Debug, Clone, Args)]
pub struct OnboardArgs {
    /// Sandbox name: lowercase letters, digits and `-`, 1–63 characters.
    #[arg(long)]
    pub name: String,
    /// Provider id (ollama-local, gemini-api, openai-api, anthropic-prod, nvidia-prod,
    /// vllm-local, compatible-endpoint, mock).
    #[arg(long)]
    pub provider: String,
    /// Model the route forces.
    #[arg(long)]
    pub model: String,
    /// Provider endpoint (base URL); defaults to the provider's.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Environment variable holding the provider credential (default: the provider's).
    #[arg(long, value_name = "VAR")]
    pub credential_env: Option<String>,
    /// Sandbox port (default: the first free port from 18789).
    #[arg(long)]
    pub port: Option<u16>,
    /// Network policy presets (npm,pypi,huggingface,brew,brave,local-inference).
    #[arg(long, value_delimiter = ',')]
    pub policy: Vec<String>,
    /// Isolation of the sandbox's `connect`/`exec` sessions (default auto).
    #[arg(long, value_enum)]
    pub isolation: Option<Isolation>,
    /// Never prompt (sandgate never prompts; accepted for NemoClaw compatibility).
    #[arg(long)]
    pub non_interactive: bool,
}

/// Options of one agent turn.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Agent id.
    #[arg(long, default_value = "main")]
    pub agent: String,
    /// The message to send.
    #[arg(short = 'm', long)]
    pub message: String,
    /// Session id (default: a new one).
    #[arg(long)]
    pub session_id: Option<String>,
}

/// `sandgate agent --sandbox N …`.
#[derive(Debug, Clone, Args)]
pub struct AgentTopArgs {
    /// Sandbox to run in (default: `$SANDGATE_SANDBOX`, set inside `sandgate <name> connect`).
    #[arg(long, env = "SANDGATE_SANDBOX")]
    pub sandbox: Option<String>,
    /// The turn.
    #[command(flatten)]
    pub turn: AgentArgs,
}

/// `sandgate <name> …`, parsed from the words after the sandbox name.
#[derive(Debug, Parser)]
#[command(name = "sandgate <name>", no_binary_name = true)]
pub struct SandboxCli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do with the sandbox.
    #[command(subcommand)]
    pub action: SandboxAction,
}

/// Actions on one sandbox.
#[derive(Debug, Subcommand)]
pub enum SandboxAction {
    /// Show the sandbox (route, port, health); exits non-zero when degraded.
    Status,
    /// Open `$SHELL` inside the sandbox (a pty inside it when the terminal is one).
    Connect(RunArgs),
    /// Run one command inside the sandbox and exit with its code.
    Exec {
        /// Isolation and mounts.
        #[command(flatten)]
        run: RunArgs,
        /// Keep the command running in the sandbox after this call returns (until `stop`).
        #[arg(long)]
        detach: bool,
        /// The command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Stop the sandbox's processes (detached services included); the sandbox stays onboarded.
    Stop,
    /// Run one agent turn through this sandbox's gateway.
    Agent(AgentArgs),
    /// Manage paired devices and pending pairing requests.
    Devices {
        /// What to do.
        #[command(subcommand)]
        action: DevicesAction,
    },
    /// Show or change the sandbox's inference route.
    Inference {
        /// What to do.
        #[command(subcommand)]
        action: InferenceAction,
    },
    /// Show or change the sandbox's egress policy (what its proxy lets out).
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Show gateway log lines about this sandbox.
    Logs(LogsArgs),
    /// Remove this sandbox; the gateway and other sandboxes are untouched.
    Destroy {
        /// Do not ask (sandgate never asks; accepted for NemoClaw compatibility).
        #[arg(short, long)]
        yes: bool,
    },
}

/// How `connect`/`exec` isolate the process.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// The best the kernel allows, said out loud when it is less than full.
    Auto,
    /// Full isolation or an error.
    Require,
    /// A host process with the sandbox environment (no isolation), with a warning.
    None,
}

/// Isolation and mounts of `connect` and `exec`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// auto (default: the sandbox's setting from onboarding), require or none.
    #[arg(long, value_enum)]
    pub isolation: Option<Isolation>,
    /// Read-write workspace mounted at its own path (default: the current directory).
    #[arg(long, value_name = "DIR", conflicts_with = "no_workspace")]
    pub workspace: Option<std::path::PathBuf>,
    /// No workspace: the session starts in the sandbox's home.
    #[arg(long)]
    pub no_workspace: bool,
    /// Extra read-only path, visible at its own path (repeatable).
    #[arg(long = "ro", value_name = "PATH")]
    pub ro: Vec<std::path::PathBuf>,
    /// Extra read-write path, visible at its own path (repeatable).
    #[arg(long = "rw", value_name = "PATH")]
    pub rw: Vec<std::path::PathBuf>,
    /// Print the isolation level achieved (always printed by `connect`).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `sandgate <name> devices …`.
#[derive(Debug, Clone, Subcommand)]
pub enum DevicesAction {
    /// Pending requests and paired devices.
    List,
    /// Approve a pending request.
    Approve {
        /// The request id.
        request_id: String,
    },
    /// Reject a pending request.
    Reject {
        /// The request id.
        request_id: String,
    },
    /// Revoke a paired device.
    Revoke {
        /// The device id.
        device_id: String,
    },
}

/// A preset or an explicit host, for `policy add|remove`.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyTarget {
    /// Preset name (npm, pypi, huggingface, brew, brave, local-inference).
    #[arg(required_unless_present = "host", conflicts_with = "host")]
    pub preset: Option<String>,
    /// An explicit host instead of a preset: `HOST[:PORT]` (port 443 by default) or `*.suffix[:PORT]`.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Option<String>,
}

/// `sandgate <name> policy …`.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyAction {
    /// The presets and hosts the sandbox's proxy lets through, and refusals since start.
    List,
    /// Allow a preset or a host (effective on the next connection, persisted).
    Add(PolicyTarget),
    /// Remove a preset or a host.
    Remove(PolicyTarget),
}

/// `sandgate <name> inference …`.
#[derive(Debug, Clone, Subcommand)]
pub enum InferenceAction {
    /// Show the route.
    Get,
    /// Replace the route.
    Set {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// Model.
        #[arg(long)]
        model: String,
        /// Provider endpoint.
        #[arg(long)]
        endpoint: Option<String>,
        /// Environment variable holding the provider credential.
        #[arg(long, value_name = "VAR")]
        credential_env: Option<String>,
    },
}

/// `sandgated`: the daemon that hosts every sandbox's gateway.
#[derive(Debug, Parser)]
#[command(name = "sandgated", version, about, long_about = None)]
pub struct DaemonArgs {
    /// State directory (default `~/.sandgate`).
    #[arg(long, env = "SANDGATE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where to serve Prometheus `/metrics` (host only; port 0 picks a free port, recorded
    /// in `gateway.json` and shown by `sandgate gateway status`).
    #[arg(long, env = "SANDGATE_METRICS_ADDR", default_value = "127.0.0.1:0")]
    pub metrics_addr: std::net::SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
        SandboxCli::command().debug_assert();
    }

    #[test]
    fn unknown_first_word_is_a_sandbox() {
        let cli =
            Cli::try_parse_from(["sandgate", "--state-dir", "/x", "alpha", "status", "--json"])
                .map_err(|e| e.to_string());
        let Ok(Cli {
            command: Command::Sandbox(words),
            global,
        }) = cli
        else {
            panic!("not a sandbox command: {cli:?}");
        };
        assert_eq!(words, ["alpha", "status", "--json"]);
        let sb = SandboxCli::try_parse_from(&words[1..]).map_err(|e| e.to_string());
        let Ok(sb) = sb else { panic!("{sb:?}") };
        assert!(matches!(sb.action, SandboxAction::Status));
        let g = global.merged(&sb.global);
        assert!(g.json);
        assert_eq!(g.state_dir, Some(PathBuf::from("/x")));
    }

    #[test]
    fn exec_keeps_everything_after_double_dash() {
        let sb = SandboxCli::try_parse_from(["exec", "--", "sh", "-c", "exit 3"]);
        let Ok(SandboxCli {
            action: SandboxAction::Exec { command, .. },
            ..
        }) = sb
        else {
            panic!("exec did not parse");
        };
        assert_eq!(command, ["sh", "-c", "exit 3"]);
    }

    #[test]
    fn agent_and_onboard_parse() {
        let sb = SandboxCli::try_parse_from([
            "agent",
            "--agent",
            "main",
            "-m",
            "hi",
            "--session-id",
            "debug",
        ]);
        let Ok(SandboxCli {
            action: SandboxAction::Agent(a),
            ..
        }) = sb
        else {
            panic!("agent did not parse");
        };
        assert_eq!((a.agent.as_str(), a.message.as_str()), ("main", "hi"));
        assert_eq!(a.session_id.as_deref(), Some("debug"));
        let cli = Cli::try_parse_from([
            "sandgate",
            "onboard",
            "--name",
            "a",
            "--provider",
            "mock",
            "--model",
            "m",
            "--policy",
            "npm,pypi",
            "--non-interactive",
        ]);
        let Ok(Cli {
            command: Command::Onboard(o),
            ..
        }) = cli
        else {
            panic!("onboard did not parse");
        };
        assert_eq!(o.policy, ["npm", "pypi"]);
    }
}

//! sandgate-cli: the `sandgate` command-line tool and the `sandgated` daemon.
//!
//! The binaries' `main` functions only call [`cli_main`] and [`daemon_main`].

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

pub mod admin;
pub mod agent;
pub mod args;
pub mod daemon;
pub mod demo;
pub mod env;
pub mod error;
pub mod gateway_cmd;
pub mod logs;
pub mod onboard;
pub mod openclaw_config;
pub mod paths;
pub mod pidfile;
pub mod policy_cmd;
pub mod ports;
pub mod providers;
pub mod sandbox_cmd;
pub mod sandbox_run;
pub mod status;
pub mod sys;
pub mod ui;
pub mod validate;

use args::{Cli, Command, GlobalArgs, SandboxAction, SandboxCli};
use error::{CliError, CliResult, ErrorKind};
use paths::StateDir;

/// Entry point of the `sandgate` binary.
pub fn cli_main() -> ExitCode {
    // The hidden helper that becomes a sandbox's init is this same binary.
    sandgate_sandbox::run_helper_if_requested();
    sys::reset_sigpipe();
    let cli = Cli::parse();
    let mut global = cli.global.clone();
    // `sandgate <name> …`: parse the words after the name with the sandbox grammar.
    let command = match cli.command {
        Command::Sandbox(words) => {
            let Some((name, rest)) = words.split_first() else {
                return ExitCode::from(2);
            };
            let parsed = SandboxCli::command()
                .bin_name(format!("sandgate {name}"))
                .try_get_matches_from(rest)
                .and_then(|m| SandboxCli::from_arg_matches(&m));
            let sb = match parsed {
                Ok(sb) => sb,
                Err(e) => {
                    let _ = e.print();
                    return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
                }
            };
            global = global.merged(&sb.global);
            Dispatch::Sandbox(name.clone(), sb.action)
        }
        other => Dispatch::Top(other),
    };
    let json = global.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(&global, command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                ui::print_json(&e.to_json());
            } else {
                eprintln!("{}", ui::bad(&e.render()));
            }
            ExitCode::from(1)
        }
    }
}

#[derive(Debug)]
enum Dispatch {
    Top(Command),
    Sandbox(String, SandboxAction),
}

async fn dispatch(global: &GlobalArgs, command: Dispatch) -> CliResult<u8> {
    let state = || StateDir::resolve(global.state_dir.as_deref());
    let json = global.json;
    match command {
        Dispatch::Top(Command::Gateway { action }) => {
            gateway_cmd::run(&state()?, action, json).await
        }
        Dispatch::Top(Command::Onboard(a)) => onboard::command(&state()?, &a, json).await,
        Dispatch::Top(Command::List) => status::list(&state()?, json).await,
        Dispatch::Top(Command::Status) => status::status(&state()?, json).await,
        Dispatch::Top(Command::Agent(a)) => {
            let st = state()?;
            let name = a.sandbox.clone().ok_or_else(|| {
                CliError::new(
                    ErrorKind::Usage,
                    "which sandbox? no --sandbox given and $SANDGATE_SANDBOX is not set",
                    "pass --sandbox NAME, run `sandgate NAME agent …`, or run it inside `sandgate NAME connect`",
                )
            })?;
            agent::command(&st, &name, &a.turn, json).await
        }
        Dispatch::Top(Command::Logs(a)) => logs::command(&state()?, None, &a, json).await,
        Dispatch::Top(Command::Demo) => demo::run(global.state_dir.as_deref()).await,
        Dispatch::Top(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "sandgate",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Dispatch::Top(Command::Sandbox(_)) => Ok(2),
        Dispatch::Sandbox(name, action) => {
            let st = state()?;
            validate::sandbox_name(&name).map_err(|e| {
                CliError::new(
                    ErrorKind::UnknownCommand,
                    format!(
                        "`{name}` is neither a command nor a sandbox name ({})",
                        e.message
                    ),
                    "run `sandgate --help` for commands, or `sandgate list` for sandboxes",
                )
            })?;
            match action {
                SandboxAction::Status => status::sandbox_status(&st, &name, json).await,
                SandboxAction::Connect(run) => {
                    sandbox_run::run(&st, &name, &run, sandbox_run::What::Shell, false).await
                }
                SandboxAction::Exec {
                    run,
                    detach,
                    command,
                } => {
                    let what = sandbox_run::What::Command(command);
                    sandbox_run::run(&st, &name, &run, what, detach).await
                }
                SandboxAction::Stop => sandbox_run::stop(&st, &name, json).await,
                SandboxAction::Agent(a) => agent::command(&st, &name, &a, json).await,
                SandboxAction::Devices { action } => {
                    sandbox_cmd::devices(&st, &name, &action, json).await
                }
                SandboxAction::Inference { action } => {
                    sandbox_cmd::inference(&st, &name, &action, json).await
                }
                SandboxAction::Policy { action } => {
                    policy_cmd::command(&st, &name, &action, json).await
                }
                SandboxAction::Logs(a) => logs::command(&st, Some(&name), &a, json).await,
                SandboxAction::Destroy { yes: _ } => sandbox_cmd::destroy(&st, &name, json).await,
            }
        }
    }
}

/// Entry point of the `sandgated` binary.
pub fn daemon_main() -> ExitCode {
    let args = args::DaemonArgs::parse();
    match daemon::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandgated: {}", e.render());
            ExitCode::from(1)
        }
    }
}

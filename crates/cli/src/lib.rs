//! sandgate-cli: the `sandgate` command-line tool and the `sandgated` daemon.
//!
//! The binaries' `main` functions only call [`cli_main`] and [`daemon_main`].

use std::process::ExitCode;

use clap::Parser;

pub mod args;

/// Entry point of the `sandgate` binary.
pub fn cli_main() -> ExitCode {
    let cli = args::Cli::parse();
    eprintln!(
        "sandgate: `{:?}` is not implemented yet (see the README's Status section)",
        cli.command
    );
    ExitCode::from(2)
}

/// Entry point of the `sandgated` binary.
pub fn daemon_main() -> ExitCode {
    let _args = args::DaemonArgs::parse();
    eprintln!("sandgated: the daemon is not implemented yet (see the README's Status section)");
    ExitCode::from(2)
}

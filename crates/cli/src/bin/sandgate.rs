//! The `sandgate` CLI. All logic lives in the `sandgate_cli` library.

fn main() -> std::process::ExitCode {
    sandgate_cli::cli_main()
}

//! A standalone helper binary: `sandgate-sandbox-helper __sandgate-sandbox-init` (used by tests
//! and by embedders that prefer a separate helper to their own executable).

fn main() {
    sandgate_sandbox::run_helper_if_requested();
    eprintln!("sandgate-sandbox-helper: run by sandgate-sandbox's ensure_running, not by hand");
    std::process::exit(2);
}

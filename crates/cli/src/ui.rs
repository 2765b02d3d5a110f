//! Terminal output: numbered steps with a spinner on a terminal, plain lines otherwise;
//! colour only on a terminal and never when `NO_COLOR` is set.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether colour may be used on stdout.
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Wraps `s` in an ANSI colour when colour is on.
pub fn paint(s: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Green.
pub fn ok(s: &str) -> String {
    paint(s, "32")
}
/// Red.
pub fn bad(s: &str) -> String {
    paint(s, "31")
}
/// Yellow.
pub fn warn(s: &str) -> String {
    paint(s, "33")
}

/// Prints pretty JSON on stdout.
pub fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// The last `n` lines of a file, formatted for an error message (empty if unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let body: Vec<String> = lines[start..]
        .iter()
        .map(|l| format!("\n    {l}"))
        .collect();
    if body.is_empty() {
        String::new()
    } else {
        format!("; last log lines:{}", body.concat())
    }
}

/// `1h 2m 3s` since `started_at_ms`.
pub fn uptime(started_at_ms: u64) -> String {
    duration(crate::pidfile::now_ms().saturating_sub(started_at_ms) / 1000)
}

/// `1h 2m 3s` for a number of seconds.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Numbered onboarding steps: `[k/N] Title`.
#[derive(Debug)]
pub struct Steps {
    total: u8,
    spinner: Option<ProgressBar>,
    tty: bool,
    quiet: bool,
}

impl Steps {
    /// Steps printed to stdout (`quiet` prints nothing, for `--json`).
    pub fn new(total: u8, quiet: bool) -> Steps {
        Steps {
            total,
            spinner: None,
            tty: std::io::stdout().is_terminal(),
            quiet,
        }
    }

    /// Starts step `k`.
    pub fn start(&mut self, k: u8, title: &str) {
        self.finish();
        if self.quiet {
            return;
        }
        println!("{}", paint(&format!("[{k}/{}] {title}", self.total), "1"));
        if self.tty {
            let pb = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg}") {
                pb.set_style(style);
            }
            pb.set_message(title.to_string());
            pb.enable_steady_tick(Duration::from_millis(100));
            self.spinner = Some(pb);
        }
    }

    /// A detail line under the current step.
    pub fn note(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.spinner {
            Some(pb) => pb.println(format!("  {line}")),
            None => println!("  {line}"),
        }
    }

    /// Ends the current step's spinner.
    pub fn finish(&mut self) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m 5s");
        assert_eq!(duration(3725), "1h 2m 5s");
    }
}

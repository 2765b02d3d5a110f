//! The CLI's error type: every error names its cause and the next step.

use std::fmt;

/// An error the CLI reports to the user: a stable kind, what happened, what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// Stable machine-readable cause (`gateway_unreachable`, `invalid_name`, …).
    pub kind: String,
    /// What went wrong.
    pub message: String,
    /// The next step.
    pub remedy: String,
}

impl CliError {
    /// Builds an error.
    pub fn new(
        kind: impl Into<String>,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        CliError {
            kind: kind.into(),
            message: message.into(),
            remedy: remedy.into(),
        }
    }

    /// An I/O failure on a path, with a generic remedy.
    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Self {
        CliError::new(
            "io_error",
            format!("{what}: {err}"),
            "check the permissions of the state directory (--state-dir / SANDGATE_STATE_DIR)",
        )
    }

    /// The JSON form printed by `--json` commands: `{"ok":false,"error":{type,message,remedy}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": false,
            "error": { "type": self.kind, "message": self.message, "remedy": self.remedy },
        })
    }

    /// The human form: the message, then the next step.
    pub fn render(&self) -> String {
        format!(
            "error [{}]: {}\n  next step: {}",
            self.kind, self.message, self.remedy
        )
    }
}

/// Result alias for CLI code.
pub type CliResult<T> = Result<T, CliError>;

//! Typed errors; every message says what to do next.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong when starting or talking to a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel or its configuration does not allow the isolation needed.
    #[error("sandbox isolation unsupported here: {why}; {remedy}")]
    Unsupported { why: String, remedy: String },
    /// A setup step of the helper or init failed (nothing was left behind).
    #[error("sandbox setup failed at step `{step}`: {source}; fix the cause above and run again")]
    Setup {
        step: String,
        #[source]
        source: io::Error,
    },
    /// No init answers on this control socket.
    #[error("no sandbox is running at {}: start it with ensure_running", control.display())]
    NotRunning { control: PathBuf },
    /// The sandbox runs without a net namespace (Landlock mode), so there is no in-sandbox listener.
    #[error(
        "sandbox has no in-namespace listener (isolation mode {mode}); serve the gateway on the host port instead"
    )]
    NoListener { mode: &'static str },
    /// The peer sent something this side does not accept.
    #[error(
        "sandbox control protocol error: {0}; make sure caller and init are the same version (restart the sandbox with stop)"
    )]
    Protocol(String),
    /// The init refused a request and said why.
    #[error("sandbox init refused the request: {0}")]
    Refused(String),
    /// An I/O error talking to the init.
    #[error("sandbox control I/O error: {0}; check the init is still running (ensure_running)")]
    Io(#[from] io::Error),
}

impl SandboxError {
    pub(crate) fn setup(step: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Self::Setup {
            step: step.into(),
            source: source.into(),
        }
    }
}

/// Turns a rustix errno into a std error with a step label.
pub(crate) fn step<T>(step: &str, r: rustix::io::Result<T>) -> Result<T, SandboxError> {
    r.map_err(|e| SandboxError::setup(step, io::Error::from(e)))
}

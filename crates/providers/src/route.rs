//! Resolved routes and the secrets they carry.

use std::fmt;
use std::time::Duration;

use crate::kind::{ProviderKind, ProviderProfile};

/// Default total timeout for a buffered upstream call, and for receiving the response head
/// of a streaming call. Generous because large prompts on local models take a while.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Default idle timeout between two pieces of a stream. Reasoning models can pause for a
/// minute between their thinking and output phases, so this is not short.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A provider credential. `Debug` and `Display` never print the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; only for building the upstream request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential([REDACTED])")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A resolved inference route for one sandbox: where its requests go and with what.
///
/// The gateway resolves it (from its stored route and credential reference) and hands it
/// to [`crate::InferenceClient`] or [`crate::InferenceService`] per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The provider.
    pub kind: ProviderKind,
    /// The model every request is forced to.
    pub model: String,
    /// Base URL of the upstream (see the profile's `default_endpoint` for the shape), or a
    /// `mock://?latency_ms=N&tokens=N` string for the mock provider.
    pub endpoint: String,
    /// The credential injected per the profile's auth style.
    pub credential: Option<Credential>,
    /// Total timeout of a buffered call; also bounds the wait for a stream's response head.
    pub timeout: Duration,
    /// Longest silence allowed between two pieces of a streaming response.
    pub idle_timeout: Duration,
}

impl Route {
    /// A route on the provider's default endpoint, no credential, default timeouts.
    pub fn new(kind: ProviderKind, model: impl Into<String>) -> Self {
        Self {
            kind,
            model: model.into(),
            endpoint: kind.profile().default_endpoint.to_string(),
            credential: None,
            timeout: DEFAULT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// Replaces the endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Sets the credential.
    pub fn with_credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Sets the buffered/head timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the streaming idle timeout.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// The provider's static profile.
    pub fn profile(&self) -> &'static ProviderProfile {
        self.kind.profile()
    }

    /// The endpoint without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.endpoint.trim_end_matches('/')
    }
}

/// Process-wide limits of the inference client and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body the service accepts (larger → 413).
    pub max_request_body: usize,
    /// Largest buffered upstream body, and longest single line of a stream (larger → 502).
    pub max_response_body: usize,
    /// TCP/TLS connect timeout to upstreams.
    pub connect_timeout: Duration,
    /// Honour `HTTP(S)_PROXY` from the environment for upstream calls. Off by default: the
    /// gateway talks to its upstreams directly, and loopback upstreams must never be proxied.
    pub use_system_proxy: bool,
}

/// 4 MiB: far above any chat request an agent sends, small enough to refuse abuse early.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;
/// 8 MiB: a long completion or a batch of embeddings fits; a runaway upstream does not.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 8 * 1024 * 1024;
/// 10 s: connecting is fast or it is not happening.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body: DEFAULT_MAX_REQUEST_BODY,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            use_system_proxy: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_never_printed() {
        let route = Route::new(ProviderKind::OpenAiApi, "gpt")
            .with_credential(Credential::new("sk-very-secret"));
        let dbg = format!("{route:?}");
        assert!(!dbg.contains("sk-very-secret"), "{dbg}");
        assert!(dbg.contains("REDACTED"));
        let shown = format!("{}", Credential::new("sk-very-secret"));
        assert!(!shown.contains("sk-very-secret"));
    }

    #[test]
    fn new_route_uses_profile_endpoint() {
        let route = Route::new(ProviderKind::OllamaLocal, "llama3.2");
        assert_eq!(route.endpoint, "http://127.0.0.1:11434");
        assert_eq!(route.with_endpoint("http://x/v1/").base(), "http://x/v1");
    }
}

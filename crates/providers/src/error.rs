//! Errors of the provider layer and their OpenAI-style HTTP rendering.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::kind::ProviderKind;

/// Everything that can go wrong between a caller's request and an upstream's answer.
///
/// [`ProviderError::status`] and [`ProviderError::to_body`] turn it into the HTTP status and
/// OpenAI-style error JSON the caller sees; messages are client-safe (no credentials, no
/// internal addresses beyond the provider id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The caller's request is malformed or violates a constraint (→ 400).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request uses something the provider's mapping cannot express (→ 400).
    #[error("{what} is not supported by the {provider} provider")]
    Unsupported {
        /// The provider of the route.
        provider: ProviderKind,
        /// What could not be mapped.
        what: String,
    },
    /// No inference route is configured for the caller (→ 503).
    #[error("no inference route is configured for this sandbox")]
    NoRoute,
    /// The route's provider has no embeddings endpoint (→ 404).
    #[error("the {0} provider has no embeddings endpoint")]
    NoEmbeddings(ProviderKind),
    /// The request body exceeds the service's cap (→ 413).
    #[error("request body exceeds {limit} bytes")]
    RequestTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// No such path on the inference API (→ 404).
    #[error("unknown inference path {0}")]
    NotFound(String),
    /// A known path with the wrong method (→ 405).
    #[error("method {method} not allowed on {path}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
    },
    /// The route needs a credential and has none (→ 502, nothing sent upstream).
    #[error("the {provider} route has no credential{}", env_hint(*.env))]
    MissingCredential {
        /// The provider.
        provider: ProviderKind,
        /// The conventional env var for it.
        env: Option<&'static str>,
    },
    /// The route itself is unusable, e.g. a malformed endpoint (→ 502).
    #[error("invalid route: {0}")]
    InvalidRoute(String),
    /// The upstream answered with an error status.
    #[error("upstream {provider} answered {status}: {message}")]
    UpstreamStatus {
        /// The provider.
        provider: ProviderKind,
        /// The upstream's status code.
        status: u16,
        /// The upstream's message (extracted from its error JSON, truncated).
        message: String,
        /// Whether the upstream rejected the gateway's credential.
        auth: bool,
        /// The upstream's `Retry-After` in seconds (429/503), passed on to the caller.
        retry_after: Option<u64>,
    },
    /// The upstream did not answer within the route's timeout (→ 504).
    #[error("upstream {0} did not answer in time")]
    Timeout(ProviderKind),
    /// The upstream stream was silent longer than the idle timeout (→ 504).
    #[error("upstream {provider} sent nothing for {idle:?}")]
    IdleTimeout {
        /// The provider.
        provider: ProviderKind,
        /// The idle timeout that elapsed.
        idle: Duration,
    },
    /// The upstream could not be reached (→ 502).
    #[error("upstream {provider} unreachable: {detail}")]
    Unreachable {
        /// The provider.
        provider: ProviderKind,
        /// What failed.
        detail: String,
    },
    /// The upstream body exceeded the buffered cap (→ 502).
    #[error("upstream response exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The upstream said something we could not understand, or broke off (→ 502).
    #[error("upstream {provider} protocol error: {detail}")]
    Protocol {
        /// The provider.
        provider: ProviderKind,
        /// What was wrong.
        detail: String,
    },
    /// Building the HTTP client failed (→ 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProviderError {
    /// The upstream's `Retry-After` (seconds), when it sent one with its error status.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::UpstreamStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn env_hint(env: Option<&'static str>) -> String {
    env.map(|e| format!(" (set {e} when onboarding)"))
        .unwrap_or_default()
}

/// The OpenAI error envelope: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error object.
    pub error: ErrorDetail,
}

/// The inner OpenAI error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Human-readable message.
    pub message: String,
    /// Error family (`invalid_request_error`, `api_error`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending parameter, if known.
    pub param: Option<String>,
    /// A stable machine-readable code.
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error body; the family follows from `status` as for [`ProviderError::kind`].
    pub fn new(status: StatusCode, message: impl Into<String>, code: &str) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: family(status).to_string(),
                param: None,
                code: Some(code.to_string()),
            },
        }
    }

    /// The one OpenAI-style error renderer: `status` plus this body as JSON. Every refusal of
    /// the inference path (the gateway's token checks included) is rendered here.
    pub fn render(&self, status: StatusCode) -> Response {
        render_json(status, self)
    }
}

/// Whose error envelope a caller expects: the surface it called decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorShape {
    /// `{"error": {"message", "type", "param", "code"}}` (chat completions, Responses, …).
    #[default]
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}` (Anthropic Messages callers).
    Anthropic,
}

/// Anthropic's error envelope: `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicErrorBody {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The error object.
    pub error: AnthropicErrorDetail,
}

/// The inner Anthropic error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `not_found_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable message.
    pub message: String,
}

impl AnthropicErrorBody {
    /// An Anthropic error body; its type follows from `status` as Anthropic's API does.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = match status.as_u16() {
            400 | 405 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        };
        Self {
            kind: "error".to_string(),
            error: AnthropicErrorDetail {
                kind: kind.to_string(),
                message: message.into(),
            },
        }
    }
}

/// `status` plus `body` as JSON: what every error renderer ends in.
fn render_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl IntoResponse for ProviderError {
    fn into_response(self) -> Response {
        self.render_as(ErrorShape::OpenAi)
    }
}

impl ProviderError {
    /// The error as the caller of `shape`'s API expects it (status, body, `Retry-After`).
    pub fn render_as(&self, shape: ErrorShape) -> Response {
        let status = self.status();
        let mut resp = match shape {
            ErrorShape::OpenAi => self.to_body().render(status),
            ErrorShape::Anthropic => render_json(
                status,
                &AnthropicErrorBody::new(status, self.client_message()),
            ),
        };
        // An upstream's back-off reaches the caller (429/503 `Retry-After`, delta-seconds).
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

fn family(status: StatusCode) -> &'static str {
    if status == StatusCode::TOO_MANY_REQUESTS {
        "rate_limit_error"
    } else if status.is_client_error() {
        "invalid_request_error"
    } else {
        "api_error"
    }
}

impl ProviderError {
    /// Shorthand for an [`ProviderError::Unsupported`].
    pub fn unsupported(provider: ProviderKind, what: impl Into<String>) -> Self {
        Self::Unsupported {
            provider,
            what: what.into(),
        }
    }

    /// Shorthand for a [`ProviderError::Protocol`].
    pub fn protocol(provider: ProviderKind, detail: impl Into<String>) -> Self {
        Self::Protocol {
            provider,
            detail: detail.into(),
        }
    }

    /// The HTTP status the caller sees.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::Unsupported { .. } => StatusCode::BAD_REQUEST,
            Self::NoEmbeddings(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UpstreamStatus { status, auth, .. } => upstream_status(*status, *auth),
            Self::Timeout(_) | Self::IdleTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::MissingCredential { .. }
            | Self::InvalidRoute(_)
            | Self::Unreachable { .. }
            | Self::ResponseTooLarge { .. }
            | Self::Protocol { .. } => StatusCode::BAD_GATEWAY,
            Self::NoRoute => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code in the OpenAI body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unsupported { .. } => "unsupported_parameter",
            Self::NoEmbeddings(_) => "embeddings_unavailable",
            Self::RequestTooLarge { .. } => "request_too_large",
            Self::NotFound(_) => "unknown_path",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::MissingCredential { .. } => "missing_credential",
            Self::InvalidRoute(_) => "invalid_route",
            Self::UpstreamStatus { status, auth, .. } => match (*status, *auth) {
                (_, true) => "upstream_auth_failed",
                (404, _) => "model_not_found",
                (429, _) => "rate_limit_exceeded",
                (400..=499, _) => "upstream_rejected_request",
                _ => "upstream_error",
            },
            Self::Timeout(_) => "upstream_timeout",
            Self::IdleTimeout { .. } => "upstream_idle_timeout",
            Self::Unreachable { .. } => "upstream_unreachable",
            Self::ResponseTooLarge { .. } => "upstream_response_too_large",
            Self::Protocol { .. } => "upstream_protocol_error",
            Self::NoRoute => "no_route",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The error family in the OpenAI body.
    pub fn kind(&self) -> &'static str {
        family(self.status())
    }

    /// The caller-facing message. Upstream auth failures are not echoed verbatim: the
    /// caller cannot fix the gateway's credential, and the text may describe it.
    pub fn client_message(&self) -> String {
        match self {
            Self::UpstreamStatus {
                provider,
                status,
                auth: true,
                ..
            } => format!(
                "upstream {provider} rejected the gateway's credential (status {status}); \
                 the route's credential must be fixed by the host admin"
            ),
            other => other.to_string(),
        }
    }

    /// The OpenAI-style error JSON.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody::new(self.status(), self.client_message(), self.code())
    }
}

fn upstream_status(status: u16, auth: bool) -> StatusCode {
    if auth {
        return StatusCode::BAD_GATEWAY;
    }
    match status {
        400 | 422 => StatusCode::BAD_REQUEST,
        404 => StatusCode::NOT_FOUND,
        413 => StatusCode::PAYLOAD_TOO_LARGE,
        429 => StatusCode::TOO_MANY_REQUESTS,
        408 | 504 => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(status: u16, auth: bool) -> ProviderError {
        ProviderError::UpstreamStatus {
            provider: ProviderKind::OpenAiApi,
            status,
            message: "m".into(),
            auth,
            retry_after: None,
        }
    }

    #[test]
    fn upstream_statuses_map_sensibly() {
        assert_eq!(up(401, true).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(up(429, false).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(up(503, false).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(up(404, false).status(), StatusCode::NOT_FOUND);
        assert_eq!(up(400, false).status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ProviderError::Timeout(ProviderKind::Mock).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(up(429, false).to_body().error.kind, "rate_limit_error");
    }

    #[test]
    fn auth_failure_message_is_generic() {
        let err = ProviderError::UpstreamStatus {
            provider: ProviderKind::GeminiApi,
            status: 400,
            message: "API key not valid: AIzaSECRET".into(),
            auth: true,
            retry_after: None,
        };
        assert!(!err.client_message().contains("AIzaSECRET"));
        assert_eq!(
            err.to_body().error.code.as_deref(),
            Some("upstream_auth_failed")
        );
    }
}

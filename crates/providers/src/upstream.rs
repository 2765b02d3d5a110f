//! The HTTP side shared by all network adapters: building requests with the route's
//! credential, buffered calls with a total timeout and a body cap, streaming calls with an
//! idle timeout, and upstream error classification.
//!
//! Requests are built from scratch: no header of the caller's request is ever forwarded, so
//! a sandbox's own `Authorization` or `x-api-key` cannot reach an upstream.

use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ProviderError;
use crate::kind::AuthStyle;
use crate::route::{Limits, Route};
use crate::stream::{ByteStream, with_idle_timeout};

/// How much of an upstream error body is read to extract its message.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// How much of an upstream error message is passed on.
const ERROR_MESSAGE_CAP: usize = 500;

/// A shared HTTP client plus limits.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    client: reqwest::Client,
    limits: Limits,
}

impl Upstream {
    pub(crate) fn new(limits: Limits) -> Result<Self, ProviderError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .user_agent(concat!("sandgate/", env!("CARGO_PKG_VERSION")));
        if !limits.use_system_proxy {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| ProviderError::Internal(format!("http client: {e}")))?;
        Ok(Self { client, limits })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `base + path` after checking the route's endpoint is an http(s) URL.
    pub(crate) fn url(route: &Route, path: &str) -> Result<String, ProviderError> {
        let base = route.base();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::InvalidRoute(format!(
                "endpoint of the {} route must be an http(s) URL",
                route.kind
            )));
        }
        Ok(format!("{base}{path}"))
    }

    fn build(
        &self,
        route: &Route,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let profile = route.profile();
        let mut rb = self.client.request(method, url);
        match (&route.credential, profile.auth) {
            (Some(cred), AuthStyle::Bearer) => rb = rb.bearer_auth(cred.expose()),
            (Some(cred), AuthStyle::XGoogApiKey | AuthStyle::XApiKey) => {
                if let Some(name) = profile.auth.header_name() {
                    rb = rb.header(name, cred.expose());
                }
            }
            (None, _) if profile.credential_required => {
                return Err(ProviderError::MissingCredential {
                    provider: route.kind,
                    env: profile.credential_env,
                });
            }
            _ => {}
        }
        for (name, value) in profile.default_headers {
            rb = rb.header(*name, *value);
        }
        Ok(rb)
    }

    /// `GET url`, buffered, decoded as JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        route: &Route,
        url: &str,
    ) -> Result<T, ProviderError> {
        let rb = self.build(route, reqwest::Method::GET, url)?;
        let body = self.buffered(route, rb).await?;
        decode(route, &body)
    }

    /// `POST url` with a JSON body, buffered, decoded as JSON.
    pub(crate) async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        route: &Route,
        url: &str,
        body: &B,
    ) -> Result<T, ProviderError> {
        let body = self.post_raw(route, url, body).await?;
        decode(route, &body)
    }

    /// `POST url` with a JSON body, buffered; for answers decoded borrowing ([`decode`]).
    pub(crate) async fn post_raw<B: Serialize + ?Sized>(
        &self,
        route: &Route,
        url: &str,
        body: &B,
    ) -> Result<Bytes, ProviderError> {
        let rb = self.build(route, reqwest::Method::POST, url)?.json(body);
        self.buffered(route, rb).await
    }

    /// `POST url` with a JSON body; returns the body as a stream once the head says 2xx.
    pub(crate) async fn post_stream<B: Serialize + ?Sized>(
        &self,
        route: &Route,
        url: &str,
        body: &B,
    ) -> Result<ByteStream, ProviderError> {
        let rb = self.build(route, reqwest::Method::POST, url)?.json(body);
        let kind = route.kind;
        let resp = tokio::time::timeout(route.timeout, rb.send())
            .await
            .map_err(|_| ProviderError::Timeout(kind))?
            .map_err(|e| map_send_error(route, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let retry = retry_after(resp.headers());
            let body =
                tokio::time::timeout(route.timeout, read_capped(route, resp, ERROR_BODY_CAP))
                    .await
                    .unwrap_or_else(|_| Ok(Bytes::new()))
                    .unwrap_or_default();
            return Err(with_retry_after(
                status_error(route, status.as_u16(), &body),
                retry,
            ));
        }
        let bytes = resp
            .bytes_stream()
            .map(move |r| r.map_err(|e| ProviderError::protocol(kind, body_error(&e))));
        Ok(with_idle_timeout(Box::pin(bytes), route.idle_timeout, kind))
    }

    async fn buffered(
        &self,
        route: &Route,
        rb: reqwest::RequestBuilder,
    ) -> Result<Bytes, ProviderError> {
        let cap = self.limits.max_response_body;
        let call = async {
            let resp = rb.send().await.map_err(|e| map_send_error(route, &e))?;
            let status = resp.status();
            if !status.is_success() {
                let retry = retry_after(resp.headers());
                let body = read_capped(route, resp, ERROR_BODY_CAP)
                    .await
                    .unwrap_or_default();
                return Err(with_retry_after(
                    status_error(route, status.as_u16(), &body),
                    retry,
                ));
            }
            read_capped(route, resp, cap).await
        };
        tokio::time::timeout(route.timeout, call)
            .await
            .map_err(|_| ProviderError::Timeout(route.kind))?
    }
}

/// Decodes an upstream JSON body; a body that does not fit is a protocol error.
pub(crate) fn decode<'de, T: Deserialize<'de>>(
    route: &Route,
    body: &'de [u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::protocol(route.kind, format!("unexpected response body: {e}")))
}

fn body_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "upstream body timed out".to_string()
    } else {
        "upstream connection broke off mid-response".to_string()
    }
}

async fn read_capped(
    route: &Route,
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Bytes, ProviderError> {
    if resp
        .content_length()
        .is_some_and(|len| len > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(ProviderError::ResponseTooLarge { limit: cap });
    }
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > cap {
                    return Err(ProviderError::ResponseTooLarge { limit: cap });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Bytes::from(buf)),
            Err(e) => return Err(ProviderError::protocol(route.kind, body_error(&e))),
        }
    }
}

fn map_send_error(route: &Route, e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout(route.kind)
    } else if e.is_connect() {
        ProviderError::Unreachable {
            provider: route.kind,
            detail: "connection refused or failed".to_string(),
        }
    } else if e.is_builder() {
        ProviderError::InvalidRoute(format!("cannot build request for the {} route", route.kind))
    } else {
        ProviderError::Unreachable {
            provider: route.kind,
            detail: "request failed before a response arrived".to_string(),
        }
    }
}

/// Classifies an upstream error status and extracts its message from any of the providers'
/// error shapes: `{"error":{"message"}}` (OpenAI, Gemini, Anthropic) or `{"error":"…"}`
/// (Ollama).
pub(crate) fn status_error(route: &Route, status: u16, body: &[u8]) -> ProviderError {
    let message = extract_message(body);
    let lower = message.to_ascii_lowercase();
    let raw = String::from_utf8_lossy(body);
    let auth = matches!(status, 401 | 403)
        || raw.contains("API_KEY_INVALID")
        || raw.contains("authentication_error")
        || lower.contains("api key not valid")
        || lower.contains("invalid api key")
        || lower.contains("incorrect api key");
    ProviderError::UpstreamStatus {
        provider: route.kind,
        status,
        message,
        auth,
        retry_after: None,
    }
}

/// `Retry-After` as delta-seconds (the HTTP-date form is not passed on).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn with_retry_after(mut err: ProviderError, secs: Option<u64>) -> ProviderError {
    if let ProviderError::UpstreamStatus { retry_after, .. } = &mut err {
        *retry_after = secs;
    }
    err
}

/// The human message of an upstream error body, truncated.
pub(crate) fn extract_message(body: &[u8]) -> String {
    let msg = match serde_json::from_slice::<Value>(body) {
        Ok(v) => match v.get("error") {
            Some(Value::String(s)) => s.clone(),
            Some(obj) => obj
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| obj.to_string()),
            None => v
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        },
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let mut msg: String = msg.chars().take(ERROR_MESSAGE_CAP).collect();
    if msg.is_empty() {
        msg = "no error message".to_string();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::ProviderKind;

    #[test]
    fn messages_from_every_shape() {
        assert_eq!(extract_message(br#"{"error":{"message":"m1"}}"#), "m1");
        assert_eq!(extract_message(br#"{"error":"m2"}"#), "m2");
        assert_eq!(
            extract_message(br#"{"type":"error","error":{"type":"x","message":"m3"}}"#),
            "m3"
        );
        assert_eq!(extract_message(b"plain"), "plain");
    }

    #[test]
    fn gemini_bad_key_is_auth() {
        let route = Route::new(ProviderKind::GeminiApi, "g");
        let err = status_error(
            &route,
            400,
            br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#,
        );
        assert!(matches!(
            err,
            ProviderError::UpstreamStatus { auth: true, .. }
        ));
        assert_eq!(err.status(), http::StatusCode::BAD_GATEWAY);
    }
}

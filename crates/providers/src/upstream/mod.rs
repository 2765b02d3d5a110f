//! The HTTP side shared by all network adapters: sending requests (their fields, the route's
//! credential among them, are [`request`]'s), buffered calls with a total timeout and a body
//! cap, streaming calls with an idle timeout, and upstream error classification.
//!
//! Upstreams are called over [`h1`]'s in-task HTTP/1.1 connections; only with
//! [`Limits::use_system_proxy`] does reqwest carry the calls (it speaks the proxies).

mod h1;
mod io;
mod request;

use std::borrow::Cow;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, header};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ProviderError;
use crate::kind::ProviderKind;
use crate::route::{Limits, Route};
use crate::stream::{ByteStream, with_idle_timeout};
pub(crate) use request::Url;

/// How much of an upstream error body is read to extract its message.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// How much of an upstream error message is passed on.
const ERROR_MESSAGE_CAP: usize = 500;

/// A shared HTTP client plus limits.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    transport: Transport,
    limits: Limits,
}

#[derive(Debug, Clone)]
enum Transport {
    Direct(h1::Connector),
    Proxied(reqwest::Client),
}

/// An upstream's answer: its status and head, and its body as a stream.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: ByteStream,
}

impl Upstream {
    pub(crate) fn new(limits: Limits) -> Result<Self, ProviderError> {
        let transport = if limits.use_system_proxy {
            let client = reqwest::Client::builder()
                .connect_timeout(limits.connect_timeout)
                .build()
                .map_err(|e| ProviderError::Internal(format!("http client: {e}")))?;
            Transport::Proxied(client)
        } else {
            Transport::Direct(h1::Connector::new(limits.connect_timeout))
        };
        Ok(Self { transport, limits })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `path` under the route's endpoint, once the endpoint is checked to be an http(s) URL.
    pub(crate) fn url(
        route: &Route,
        path: impl Into<Cow<'static, str>>,
    ) -> Result<Url, ProviderError> {
        Url::new(route, path.into())
    }

    /// Sends a request; the answer's head has arrived when this returns.
    async fn send(
        &self,
        route: &Route,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
    ) -> Result<Answer, ProviderError> {
        let fields = request::fields(route, body.is_some())?;
        let kind = route.kind;
        match &self.transport {
            Transport::Direct(conn) => {
                let endpoint = conn
                    .endpoint(route.base())
                    .ok_or_else(|| request::invalid(route))?;
                let body = body.unwrap_or_default();
                let sent = conn.send(endpoint, &method, &url.path, fields, &body).await;
                direct_answer(route, sent)
            }
            Transport::Proxied(client) => {
                let req = request::build(route, method, url, fields, body)?;
                let req = reqwest::Request::try_from(req).map_err(|e| map_send_error(kind, &e))?;
                let resp = client
                    .execute(req)
                    .await
                    .map_err(|e| map_send_error(kind, &e))?;
                let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
                let body = resp
                    .bytes_stream()
                    .map(move |r| r.map_err(|e| ProviderError::protocol(kind, body_error(&e))));
                Ok(Answer {
                    status,
                    headers,
                    body: Box::pin(body),
                })
            }
        }
    }

    /// `GET url`, buffered, decoded as JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        route: &Route,
        url: &Url,
    ) -> Result<T, ProviderError> {
        let body = self.buffered(route, Method::GET, url, None).await?;
        decode(route, &body)
    }

    /// `POST url` with a JSON body, buffered, decoded as JSON.
    pub(crate) async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        route: &Route,
        url: &Url,
        body: &B,
    ) -> Result<T, ProviderError> {
        let body = self.post_raw(route, url, body).await?;
        decode(route, &body)
    }

    /// `POST url` with a JSON body, buffered; for answers decoded borrowing ([`decode`]).
    pub(crate) async fn post_raw<B: Serialize + ?Sized>(
        &self,
        route: &Route,
        url: &Url,
        body: &B,
    ) -> Result<Bytes, ProviderError> {
        let body = json_body(body)?;
        self.buffered(route, Method::POST, url, Some(body)).await
    }

    /// `POST url` with a JSON body; returns the body as a stream once the head says 2xx.
    pub(crate) async fn post_stream<B: Serialize + ?Sized>(
        &self,
        route: &Route,
        url: &Url,
        body: &B,
    ) -> Result<ByteStream, ProviderError> {
        let body = json_body(body)?;
        let kind = route.kind;
        let answer = tokio::time::timeout(
            route.timeout,
            self.send(route, Method::POST, url, Some(body)),
        )
        .await
        .map_err(|_| ProviderError::Timeout(kind))??;
        if !(200..300).contains(&answer.status) {
            return Err(status_of(route, answer).await);
        }
        Ok(with_idle_timeout(answer.body, route.idle_timeout, kind))
    }

    async fn buffered(
        &self,
        route: &Route,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
    ) -> Result<Bytes, ProviderError> {
        let cap = self.limits.max_response_body;
        let call = async {
            let answer = self.send(route, method, url, body).await?;
            if !(200..300).contains(&answer.status) {
                return Err(status_of(route, answer).await);
            }
            read_capped(answer, cap).await
        };
        tokio::time::timeout(route.timeout, call)
            .await
            .map_err(|_| ProviderError::Timeout(route.kind))?
    }
}

fn json_body<B: Serialize + ?Sized>(body: &B) -> Result<Bytes, ProviderError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| ProviderError::Internal(format!("request body: {e}")))
}

/// The answer (or the typed error) of a request sent directly.
fn direct_answer(
    route: &Route,
    sent: Result<(http::StatusCode, HeaderMap, h1::Answer), h1::SendError>,
) -> Result<Answer, ProviderError> {
    let kind = route.kind;
    let (status, headers, body) = sent.map_err(|e| {
        let refused = matches!(e, h1::SendError::Wire(h1::WireError::Request(_)));
        tracing::debug!(provider = %kind, error = %e, refused, "upstream request not answered");
        match e {
            h1::SendError::ConnectTimeout => ProviderError::Timeout(kind),
            h1::SendError::Connect(_) => ProviderError::Unreachable {
                provider: kind,
                detail: "connection refused or failed".to_string(),
            },
            h1::SendError::Io(_) | h1::SendError::Closed => ProviderError::Unreachable {
                provider: kind,
                detail: "request failed before a response arrived".to_string(),
            },
            h1::SendError::Wire(h1::WireError::Request(_)) => request::invalid(route),
            h1::SendError::Wire(e) => ProviderError::protocol(kind, e.to_string()),
        }
    })?;
    let body = body.map(move |r| {
        r.map_err(|e| match e {
            h1::BodyError::Wire(e @ h1::WireError::Chunk(_)) => {
                ProviderError::protocol(kind, e.to_string())
            }
            _ => ProviderError::protocol(kind, "upstream connection broke off mid-response"),
        })
    });
    Ok(Answer {
        status: status.as_u16(),
        headers,
        body: Box::pin(body),
    })
}

/// The typed error of a non-2xx answer, its message read from (the start of) its body
/// within the route's timeout (without one when the body does not come).
async fn status_of(route: &Route, answer: Answer) -> ProviderError {
    let retry = retry_after(&answer.headers);
    let status = answer.status;
    let body = tokio::time::timeout(route.timeout, read_capped(answer, ERROR_BODY_CAP))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    with_retry_after(status_error(route, status, &body), retry)
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

async fn read_capped(answer: Answer, cap: usize) -> Result<Bytes, ProviderError> {
    let declared = answer
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::try_from(cap).unwrap_or(u64::MAX)) {
        return Err(ProviderError::ResponseTooLarge { limit: cap });
    }
    let mut body = answer.body;
    let Some(first) = body.next().await.transpose()? else {
        return Ok(Bytes::new());
    };
    // The usual answer arrives in one piece and is kept as it is.
    let mut buf: Option<Vec<u8>> = None;
    while let Some(piece) = body.next().await.transpose()? {
        let buf = buf.get_or_insert_with(|| first.to_vec());
        if buf.len() + piece.len() > cap {
            return Err(ProviderError::ResponseTooLarge { limit: cap });
        }
        buf.extend_from_slice(&piece);
    }
    match buf {
        Some(b) => Ok(Bytes::from(b)),
        None if first.len() > cap => Err(ProviderError::ResponseTooLarge { limit: cap }),
        None => Ok(first),
    }
}

fn map_send_error(kind: ProviderKind, e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout(kind)
    } else if e.is_connect() {
        ProviderError::Unreachable {
            provider: kind,
            detail: "connection refused or failed".to_string(),
        }
    } else if e.is_builder() {
        ProviderError::InvalidRoute(format!("cannot build request for the {kind} route"))
    } else {
        ProviderError::Unreachable {
            provider: kind,
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
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)?
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

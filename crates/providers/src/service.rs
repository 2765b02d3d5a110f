//! The OpenAI-compatible HTTP surface a gateway mounts per sandbox.
//!
//! The gateway authenticates the sandbox, looks up its [`Route`] and calls
//! [`InferenceService::handle`]; everything else (paths, body cap, JSON parsing, streaming
//! framing, error JSON) happens here. Nothing is sent upstream for a request that fails
//! validation.
//!
//! | Method and path | Answer |
//! |---|---|
//! | `POST /v1/chat/completions` | JSON, or SSE `data: {chunk}` … `data: [DONE]` when `stream` is true |
//! | `GET /v1/models` | the upstream's model list |
//! | `GET /v1/models/{id}` | the route's model, if `id` names it |
//! | `POST /v1/embeddings` | embeddings, or 404 `embeddings_unavailable` |
//! | anything else | 404 `unknown_path` / 405 `method_not_allowed` |

use std::convert::Infallible;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ProviderError;
use crate::route::Route;
use crate::router::InferenceClient;
use crate::stream::ChatStream;
use crate::types::{ChatRequest, EmbeddingsRequest, ModelObject};

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

/// The per-sandbox inference HTTP handler. Cheap to clone; share one for all sandboxes.
#[derive(Debug, Clone)]
pub struct InferenceService {
    client: InferenceClient,
}

impl InferenceService {
    /// A service over `client`; the request body cap is the client's
    /// [`crate::Limits::max_request_body`].
    pub fn new(client: InferenceClient) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &InferenceClient {
        &self.client
    }

    /// An axum router serving the inference API on every path; `resolve` picks the route
    /// from the request head (e.g. by the sandbox token the gateway already checked), and a
    /// request it resolves to `None` gets 503 `no_route`. Authentication stays with the
    /// gateway: mount this behind it.
    pub fn into_router<F>(self, resolve: F) -> axum::Router
    where
        F: Fn(&http::request::Parts) -> Option<Route> + Clone + Send + Sync + 'static,
    {
        axum::Router::new().fallback(move |req: Request<Body>| {
            let service = self.clone();
            let resolve = resolve.clone();
            async move {
                let (parts, body) = req.into_parts();
                match resolve(&parts) {
                    Some(route) => {
                        service
                            .handle(&route, Request::from_parts(parts, body))
                            .await
                    }
                    None => error_response(&ProviderError::NoRoute),
                }
            }
        })
    }

    /// Serves one request of a sandbox whose route is `route`. Never fails: every error
    /// becomes an OpenAI-style error response (or, once a stream has begun, an SSE error
    /// event followed by `data: [DONE]`).
    pub async fn handle(&self, route: &Route, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().trim_end_matches('/').to_string();
        let method = parts.method.clone();
        let result = match path.as_str() {
            "/v1/chat/completions" => match method {
                Method::POST => self.chat(route, &parts.headers, body).await,
                _ => Err(not_allowed(&method, &path)),
            },
            "/v1/models" => match method {
                Method::GET => self
                    .client
                    .models(route)
                    .await
                    .map(|m| json(StatusCode::OK, &m)),
                _ => Err(not_allowed(&method, &path)),
            },
            "/v1/embeddings" => match method {
                Method::POST => self.embeddings(route, &parts.headers, body).await,
                _ => Err(not_allowed(&method, &path)),
            },
            p if p.starts_with("/v1/models/") => match method {
                Method::GET => retrieve_model(route, &p["/v1/models/".len()..]),
                _ => Err(not_allowed(&method, &path)),
            },
            _ => Err(ProviderError::NotFound(path.clone())),
        };
        match result {
            Ok(resp) => resp,
            Err(err) => {
                tracing::warn!(provider = %route.kind, %path, error = %err, "inference request failed");
                error_response(&err)
            }
        }
    }

    async fn chat(
        &self,
        route: &Route,
        headers: &http::HeaderMap,
        body: Body,
    ) -> Result<Response<Body>, ProviderError> {
        let req: ChatRequest = self.read_json(headers, body).await?;
        tracing::debug!(provider = %route.kind, model = %route.model, stream = req.is_stream(), "chat completion");
        if req.is_stream() {
            let stream = self.client.chat_stream(route, req).await?;
            Ok(sse_response(stream))
        } else {
            let resp = self.client.chat(route, req).await?;
            Ok(json(StatusCode::OK, &resp))
        }
    }

    async fn embeddings(
        &self,
        route: &Route,
        headers: &http::HeaderMap,
        body: Body,
    ) -> Result<Response<Body>, ProviderError> {
        if !route.profile().has_embeddings {
            return Err(ProviderError::NoEmbeddings(route.kind));
        }
        let req: EmbeddingsRequest = self.read_json(headers, body).await?;
        let resp = self.client.embeddings(route, req).await?;
        Ok(json(StatusCode::OK, &resp))
    }

    async fn read_json<T: DeserializeOwned>(
        &self,
        headers: &http::HeaderMap,
        body: Body,
    ) -> Result<T, ProviderError> {
        let limit = self.client.limits().max_request_body;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(ProviderError::RequestTooLarge { limit });
        }
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(ProviderError::RequestTooLarge { limit });
            }
            Err(_) => {
                return Err(ProviderError::InvalidRequest(
                    "could not read the request body".into(),
                ));
            }
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| ProviderError::InvalidRequest(format!("malformed JSON body: {e}")))
    }
}

fn not_allowed(method: &Method, path: &str) -> ProviderError {
    ProviderError::MethodNotAllowed {
        method: method.to_string(),
        path: path.to_string(),
    }
}

fn retrieve_model(route: &Route, id: &str) -> Result<Response<Body>, ProviderError> {
    if id == route.model {
        Ok(json(
            StatusCode::OK,
            &ModelObject::new(route.model.clone(), route.kind.as_str()),
        ))
    } else {
        Err(ProviderError::UpstreamStatus {
            provider: route.kind,
            status: 404,
            message: format!("model `{id}` is not served by this route"),
            auth: false,
            retry_after: None,
        })
    }
}

/// Renders an error as its status plus OpenAI error JSON.
pub fn error_response(err: &ProviderError) -> Response<Body> {
    let mut resp = json(err.status(), &err.to_body());
    // An upstream's back-off reaches the caller (429/503 `Retry-After`, delta-seconds).
    if let Some(secs) = err.retry_after() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// One `data: <json>\n\n` frame. JSON never contains a raw newline, so an upstream cannot
/// forge events through the content.
fn sse_frame<T: Serialize>(value: &T) -> Bytes {
    let mut buf = BytesMut::from(&b"data: "[..]);
    buf.extend_from_slice(&serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()));
    buf.extend_from_slice(b"\n\n");
    buf.freeze()
}

fn sse_response(stream: ChatStream) -> Response<Body> {
    let frames = futures::stream::unfold((stream, false), |(mut stream, finished)| async move {
        if finished {
            return None;
        }
        match stream.next().await {
            Some(Ok(chunk)) => Some((sse_frame(&chunk), (stream, false))),
            Some(Err(err)) => {
                tracing::warn!(error = %err, "inference stream failed after it began");
                let mut buf = BytesMut::from(&sse_frame(&err.to_body())[..]);
                buf.extend_from_slice(DONE_FRAME);
                Some((buf.freeze(), (stream, true)))
            }
            None => Some((Bytes::from_static(DONE_FRAME), (stream, true))),
        }
    })
    .map(Ok::<Bytes, Infallible>);
    let mut resp = Response::new(Body::from_stream(frames));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

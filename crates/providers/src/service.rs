//! The OpenAI-compatible HTTP surface a gateway mounts per sandbox.
//!
//! [`InferenceService::router`] is the one place the path is matched: an axum router with
//! real routes. The sandbox's [`Route`] travels in the request's extensions; the gateway's
//! layer in front (its sandbox token check) puts it there. Every refusal is a
//! [`ProviderError`] rendered by [`crate::ErrorBody::render`]. Nothing is sent upstream for
//! a request that fails validation.
//!
//! | Method and path | Answer |
//! |---|---|
//! | `POST /v1/chat/completions` | JSON, or SSE `data: {chunk}` … `data: [DONE]` when `stream` is true |
//! | `GET /v1/models` | the upstream's model list (Anthropic's shape with `anthropic-version`) |
//! | `GET /v1/models/{id}` | the route's model, if `id` names it |
//! | `POST /v1/embeddings` | embeddings, or 404 `embeddings_unavailable` |
//! | `POST /v1/responses` | the OpenAI Responses API (JSON, or its typed SSE events) |
//! | `POST /v1/messages` | Anthropic Messages (JSON, or its SSE events); Anthropic-shaped errors |
//! | anything else | 404 `unknown_path` / 405 `method_not_allowed` |

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::client::InferenceClient;
use crate::error::{ErrorShape, ProviderError};
use crate::observe::Observer;
use crate::route::Route;
use crate::types::{ChatRequest, EmbeddingsRequest, ModelObject};

/// The per-sandbox inference HTTP handler. Cheap to clone; share one for all sandboxes.
#[derive(Debug, Clone)]
pub struct InferenceService {
    client: InferenceClient,
    router: Router,
}

impl InferenceService {
    /// A service over `client`; the request body cap is the client's
    /// [`crate::Limits::max_request_body`].
    pub fn new(client: InferenceClient) -> Self {
        let router = Router::new()
            .route(
                "/v1/chat/completions",
                post(chat).fallback(method_not_allowed),
            )
            .route("/v1/models", get(models).fallback(method_not_allowed))
            .route(
                "/v1/models/{*id}",
                get(retrieve_model).fallback(method_not_allowed),
            )
            .route(
                "/v1/embeddings",
                post(embeddings).fallback(method_not_allowed),
            )
            .route(
                "/v1/responses",
                post(responses).fallback(method_not_allowed),
            )
            .route(
                "/v1/messages",
                post(messages).fallback(anthropic_method_not_allowed),
            )
            .fallback(unknown_path)
            .with_state(client.clone());
        Self { client, router }
    }

    /// The underlying client.
    pub fn client(&self) -> &InferenceClient {
        &self.client
    }

    /// The inference API as an axum router. Each request must carry its sandbox's [`Route`]
    /// in its extensions (put there by the layer in front); one without gets 503 `no_route`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// [`Self::router`] behind a layer that resolves the route from the request head (e.g.
    /// by a sandbox token); `None` means 503 `no_route`. Authentication stays with the
    /// caller of this function.
    pub fn into_router<F>(self, resolve: F) -> Router
    where
        F: Fn(&Parts) -> Option<Route> + Clone + Send + Sync + 'static,
    {
        self.router.layer(axum::middleware::from_fn(
            move |req: Request<Body>, next: axum::middleware::Next| {
                let resolve = resolve.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    match resolve(&parts) {
                        Some(route) => {
                            parts.extensions.insert(route);
                            next.run(Request::from_parts(parts, body)).await
                        }
                        None => ProviderError::NoRoute.into_response(),
                    }
                }
            },
        ))
    }

    /// Serves one request of a sandbox whose route is `route`. Never fails: every error
    /// becomes an OpenAI-style error response (or, once a stream has begun, an SSE error
    /// event followed by `data: [DONE]`).
    pub async fn handle(&self, route: &Route, mut req: Request<Body>) -> Response {
        req.extensions_mut().insert(route.clone());
        match self.router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}

/// The sandbox's route, from the request's extensions.
struct Bound(Route);

impl<S: Send + Sync> FromRequestParts<S> for Bound {
    type Rejection = ProviderError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .remove::<Route>()
            .map(Bound)
            .ok_or(ProviderError::NoRoute)
    }
}

/// The request's [`Observer`], if the caller put one in its extensions.
struct Observed(Option<Observer>);

impl<S: Send + Sync> FromRequestParts<S> for Observed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Observed(parts.extensions.remove::<Observer>()))
    }
}

/// Logs a failed request and renders its error.
fn failed(route: &Route, path: &str, err: ProviderError) -> Response {
    failed_as(route, path, err, ErrorShape::OpenAi)
}

/// Logs a failed request and renders its error in the caller's shape.
fn failed_as(route: &Route, path: &str, err: ProviderError, shape: ErrorShape) -> Response {
    tracing::warn!(provider = %route.kind, %path, error = %err, "inference request failed");
    err.render_as(shape)
}

async fn responses(
    State(client): State<InferenceClient>,
    Bound(route): Bound,
    headers: HeaderMap,
    body: Body,
) -> Response {
    crate::responses::handle(&client, &route, &headers, body)
        .await
        .unwrap_or_else(|e| failed(&route, "/v1/responses", e))
}

async fn messages(
    State(client): State<InferenceClient>,
    route: Result<Bound, ProviderError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Bound(route)) = route else {
        return ProviderError::NoRoute.render_as(ErrorShape::Anthropic);
    };
    crate::messages::handle(&client, &route, &headers, body)
        .await
        .unwrap_or_else(|e| failed_as(&route, "/v1/messages", e, ErrorShape::Anthropic))
}

async fn chat(
    State(client): State<InferenceClient>,
    Bound(route): Bound,
    Observed(obs): Observed,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let req: ChatRequest = read_json(&client, &headers, body).await?;
        if req.is_stream() {
            let frames = client.frames(&route, req).await?;
            Ok(crate::sse::response(crate::observe::frames(frames, obs)))
        } else {
            let answer = client.chat_body(&route, req).await?;
            if let (Some(Observer(o)), Some(u)) = (&obs, &answer.usage) {
                o.usage(u);
            }
            let json = HeaderValue::from_static("application/json");
            Ok(([(header::CONTENT_TYPE, json)], answer.json).into_response())
        }
    };
    result
        .await
        .unwrap_or_else(|e| failed(&route, "/v1/chat/completions", e))
}

async fn models(
    State(client): State<InferenceClient>,
    Bound(route): Bound,
    headers: HeaderMap,
) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    match client.models(&route).await {
        Ok(list) if anthropic => crate::messages::model_page(list),
        Ok(list) => Json(list).into_response(),
        Err(e) if anthropic => failed_as(&route, "/v1/models", e, ErrorShape::Anthropic),
        Err(e) => failed(&route, "/v1/models", e),
    }
}

async fn retrieve_model(Bound(route): Bound, Path(id): Path<String>) -> Response {
    if id == route.model {
        return Json(ModelObject::new(route.model.clone(), route.kind.as_str())).into_response();
    }
    let err = ProviderError::UpstreamStatus {
        provider: route.kind,
        status: 404,
        message: format!("model `{id}` is not served by this route"),
        auth: false,
        retry_after: None,
    };
    failed(&route, "/v1/models/{id}", err)
}

async fn embeddings(
    State(client): State<InferenceClient>,
    Bound(route): Bound,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let req: EmbeddingsRequest = read_json(&client, &headers, body).await?;
        client.embeddings(&route, req).await
    };
    match result.await {
        Ok(resp) => Json(resp).into_response(),
        Err(e) => failed(&route, "/v1/embeddings", e),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ProviderError {
    ProviderError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

async fn anthropic_method_not_allowed(method: Method, uri: Uri) -> Response {
    method_not_allowed(method, uri)
        .await
        .render_as(ErrorShape::Anthropic)
}

async fn unknown_path(uri: Uri) -> ProviderError {
    ProviderError::NotFound(uri.path().to_string())
}

pub(crate) async fn read_json<T: DeserializeOwned>(
    client: &InferenceClient,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ProviderError> {
    let limit = client.limits().max_request_body;
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
    parse_json(&bytes)
}

/// A whole request body as JSON of type `T`; malformed bodies are `invalid_request`.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ProviderError::InvalidRequest(format!("malformed JSON body: {e}")))
}

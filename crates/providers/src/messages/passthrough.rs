//! Anthropic Messages on an Anthropic route: the parsed request (unknown fields kept) goes
//! upstream with the model forced and the route's credential; the answer comes back byte
//! for byte, buffered or streamed. Nothing of the caller's headers is forwarded. A failure
//! after the stream began is appended as one Anthropic `error` event.

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderValue, header};

use super::wire::MessagesRequest;
use crate::client::InferenceClient;
use crate::error::{AnthropicErrorBody, ProviderError};
use crate::route::Route;
use crate::upstream::Upstream;

/// Sends `req` to the route's `/v1/messages` and relays the answer.
pub(super) async fn send(
    client: &InferenceClient,
    route: &Route,
    mut req: MessagesRequest,
) -> Result<Response, ProviderError> {
    let wants_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    if wants_tools && !route.profile().caps.tools {
        return Err(ProviderError::unsupported(route.kind, "tools"));
    }
    crate::client::force_model(route, &mut req.model);
    let up = client.upstream();
    let url = Upstream::url(route, "/v1/messages")?;
    if req.stream.unwrap_or(false) {
        let bytes = up.post_stream(route, &url, &req).await?;
        let body = bytes.map(|item| {
            Ok::<Bytes, std::convert::Infallible>(match item {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "anthropic pass-through stream failed after it began");
                    error_event(&e)
                }
            })
        });
        Ok(with_type(
            Response::new(Body::from_stream(body)),
            "text/event-stream",
        ))
    } else {
        let bytes = up.post_raw(route, &url, &req).await?;
        Ok(with_type(
            Response::new(Body::from(bytes)),
            "application/json",
        ))
    }
}

fn with_type(mut resp: Response, content_type: &'static str) -> Response {
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `\n\nevent: error\ndata: {…}\n\n` (the leading blank line ends a cut event).
fn error_event(err: &ProviderError) -> Bytes {
    let body = AnthropicErrorBody::new(err.status(), err.client_message());
    let buf = BytesMut::from(&b"\n\nevent: error\ndata: "[..]);
    let mut w = buf.writer();
    if serde_json::to_writer(&mut w, &body).is_err() {
        w.get_mut().extend_from_slice(b"{}");
    }
    let mut buf = w.into_inner();
    buf.extend_from_slice(b"\n\n");
    buf.freeze()
}

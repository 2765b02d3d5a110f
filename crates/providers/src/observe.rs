//! A per-request hook for what only the answer knows: when a stream's first content arrived
//! and the token usage the upstream reported. The caller (the gateway's metrics layer) puts
//! an [`Observer`] in the request's extensions; [`crate::InferenceService`] calls it.

use std::sync::Arc;

use futures::StreamExt;

use crate::stream::{Frame, FrameStream};
use crate::types::Usage;

/// Told about one inference exchange as it happens. Calls are cheap and never fail.
pub trait InferenceObserver: Send + Sync + std::fmt::Debug {
    /// The first content of a streamed answer arrived.
    fn first_token(&self);
    /// The upstream reported usage (buffered answers, and streams that carry it).
    fn usage(&self, usage: &Usage);
}

/// The request extension carrying an observer.
#[derive(Debug, Clone)]
pub struct Observer(pub Arc<dyn InferenceObserver>);

/// `frames` with `obs` told about the first frame and any usage, untouched otherwise.
pub(crate) fn frames(inner: FrameStream, obs: Option<Observer>) -> FrameStream {
    let Some(Observer(obs)) = obs else {
        return inner;
    };
    let mut first = true;
    Box::pin(inner.inspect(move |item| {
        let Ok(frame) = item else { return };
        if std::mem::take(&mut first) {
            obs.first_token();
        }
        let usage = match frame {
            Frame::Chunk(c) => c.usage.clone(),
            Frame::Sse(bytes) => crate::passthrough::usage_in(bytes),
        };
        if let Some(u) = usage {
            obs.usage(&u);
        }
    }))
}

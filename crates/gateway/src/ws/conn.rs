//! The sending half of a session, who is calling, and the shape of a method call: the leaf
//! every other `ws` module uses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use sandgate_core::codes::{CloseCode, close_reasons};
use sandgate_core::frame::{ErrorShape, EventFrame, Frame, ResponseFrame};
use sandgate_core::hello::DEFAULT_TICK_INTERVAL_MS;
use sandgate_core::{Role, ScopeSet};
use tokio::sync::mpsc;

use crate::sandbox::SandboxCtx;

/// Outgoing buffer per connection, in frames, before a slow consumer is cut off.
pub const SEND_QUEUE_FRAMES: usize = 1024;
/// Tick interval announced in `hello-ok.policy.tickIntervalMs`.
pub const TICK_INTERVAL: Duration = Duration::from_millis(DEFAULT_TICK_INTERVAL_MS);

/// WebSocket read buffer, both ends. tungstenite zero-fills up to this much before every read,
/// so its 128 KiB default costs more per handshake than the frames read; larger frames still
/// arrive whole (the buffer grows to the frame's length).
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// One queued message for the socket writer.
#[derive(Debug)]
pub enum Out {
    /// A serialised frame.
    Text(String),
    /// Close with this code and reason, then stop.
    Close(CloseCode, String),
}

/// Ordered, bounded sending with a gap-free per-socket event `seq`.
#[derive(Clone)]
pub struct Outbound {
    tx: mpsc::Sender<Out>,
    seq: Arc<Mutex<u64>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl Outbound {
    /// A sender and the receiver its writer drains.
    pub fn channel() -> (Outbound, mpsc::Receiver<Out>) {
        let (tx, rx) = mpsc::channel(SEND_QUEUE_FRAMES);
        let out = Outbound {
            tx,
            seq: Arc::new(Mutex::new(0)),
        };
        (out, rx)
    }

    /// Sends a frame, waiting for queue space (backpressure on the request).
    pub async fn send(&self, frame: &Frame) {
        let _ = self.tx.send(Out::Text(frame.to_json())).await;
    }

    /// Sends a response.
    pub async fn respond(&self, res: ResponseFrame) {
        self.send(&Frame::Res(res)).await;
    }

    /// Sends an error response.
    pub async fn error(&self, id: &str, err: ErrorShape) {
        self.respond(ResponseFrame::err(id, err)).await;
    }

    /// Queues an event. When the queue is full, a `drop_if_slow` event is skipped and any
    /// other event closes the socket with 1008 `slow consumer`.
    pub fn event(&self, name: &str, payload: serde_json::Value, drop_if_slow: bool) {
        let Ok(mut seq) = self.seq.lock() else { return };
        let frame = EventFrame::new(name, Some(payload)).with_seq(*seq + 1);
        match self.tx.try_send(Out::Text(Frame::Event(frame).to_json())) {
            Ok(()) => *seq += 1,
            Err(mpsc::error::TrySendError::Full(_)) if drop_if_slow => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let reason = close_reasons::SLOW_CONSUMER.to_owned();
                    let _ = tx
                        .send(Out::Close(CloseCode::PolicyViolation, reason))
                        .await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues a close; the writer stops after it.
    pub async fn close(&self, code: CloseCode, reason: &str) {
        let _ = self.tx.send(Out::Close(code, reason.to_owned())).await;
    }
}

/// What a method handler knows about the calling session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session's role.
    pub role: Role,
    /// The session's live scopes.
    pub scopes: ScopeSet,
    /// The session's device, if any.
    pub device_id: Option<String>,
    /// The connect's client id (e.g. `cli`).
    pub client_id: String,
}

/// One authorized request, as a handler receives it.
#[derive(Debug)]
pub struct Call {
    /// The request id.
    pub id: String,
    /// The request params (`null` when absent).
    pub params: Value,
    /// The sandbox.
    pub ctx: Arc<SandboxCtx>,
    /// The calling session.
    pub caller: Caller,
    /// The session's sending half.
    pub out: Outbound,
}

/// A handler's answer: the `res` payload or error.
pub type Reply = BoxFuture<'static, Result<Value, ErrorShape>>;

/// How a served method runs.
#[derive(Debug, Clone, Copy)]
pub enum Handler {
    /// Answered inline; the session sends the result.
    Reply(fn(Call) -> Reply),
    /// Runs in its own task and answers on [`Call::out`] itself (streams, long turns).
    Task(fn(Call) -> BoxFuture<'static, ()>),
}

//! Names and payloads of the events a gateway sends outside method answers.

use serde_json::{Value, json};

/// `connect.challenge`: the nonce before `connect`.
pub const CONNECT_CHALLENGE: &str = crate::connect::ConnectChallenge::EVENT;
/// `tick`: keep-alive every `policy.tickIntervalMs`.
pub const TICK: &str = "tick";
/// `agent`: a streamed agent run.
pub const AGENT: &str = "agent";
/// `chat`: chat deltas and finals of an agent run.
pub const CHAT: &str = "chat";
/// `shutdown`: the gateway is stopping.
pub const SHUTDOWN: &str = "shutdown";
/// `device.pair.requested`: a pending pairing request was created.
pub const DEVICE_PAIR_REQUESTED: &str = "device.pair.requested";
/// `device.pair.resolved`: a pending pairing request was approved or rejected.
pub const DEVICE_PAIR_RESOLVED: &str = "device.pair.resolved";

/// The `tick` payload.
pub fn tick(ts_ms: u64) -> Value {
    json!({ "ts": ts_ms })
}

/// The `shutdown` payload.
pub fn shutdown(reason: &str) -> Value {
    json!({ "reason": reason })
}
